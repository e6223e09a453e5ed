package dicomfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
)

// parsed is what a scan of a file yields.
type parsed struct {
	start *fileStart
	enc   encoding
	attrs attrSet
	pixel pixelInfo
}

// pixelInfo describes the top-level Pixel Data element.
type pixelInfo struct {
	present      bool
	encapsulated bool
	vr           string
	length       uint32
}

// stopScan, returned by a pixelFunc, ends a scan early without error.
type stopScan struct{}

func (stopScan) Error() string { return "scan stopped" }

// pixelFunc handles the top-level Pixel Data element: it must consume the
// value or return stopScan{}. p.attrs holds the attributes read so far.
type pixelFunc func(s *scanner, e element, p *parsed) error

// scanFile reads a whole DICOM stream, keeping the top-level attributes this
// package uses (keepRule) and streaming past everything else. Only the kept
// attributes, at most a few hundred kilobytes, are ever held in memory.
func scanFile(r io.Reader, size int64, onPixel pixelFunc) (*parsed, error) {
	s, fs, err := openFile(r, size)
	if err != nil {
		return nil, err
	}
	p := &parsed{start: fs, enc: s.enc}
	var kept bytes.Buffer
	for {
		e, err := s.readElementHeader(s.enc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.tag.group() == 0xFFFE {
			return nil, invalidf("unexpected %s at the top level of the dataset", e.tag)
		}
		if e.tag == tagPixelData {
			p.pixel = pixelInfo{present: true, encapsulated: e.length == undefinedLength, vr: e.vr, length: e.length}
			if onPixel != nil {
				if p.attrs, err = decodeAttrs(s.enc, kept.Bytes()); err != nil {
					return nil, err
				}
				err := onPixel(s, e, p)
				if errors.Is(err, stopScan{}) {
					return p, nil
				}
				if err != nil {
					return nil, err
				}
				continue
			}
		}
		if limit, vrs := keepRule(e.tag); limit > 0 && e.length <= limit && (!s.enc.explicit || strings.Contains(vrs, e.vr)) {
			v, err := s.readValue(e, -1)
			if err != nil {
				return nil, err
			}
			kept.Write(e.header())
			kept.Write(v)
			continue
		}
		if err := s.consume(e, s.enc, -1, nil, 0); err != nil {
			return nil, err
		}
	}
	if p.attrs, err = decodeAttrs(s.enc, kept.Bytes()); err != nil {
		return nil, err
	}
	return p, nil
}

// Tags of the attributes this package reads.
const (
	tagCharset            dtag = 0x00080005
	tagSOPClassUID        dtag = 0x00080016
	tagStudyDate          dtag = 0x00080020
	tagStudyTime          dtag = 0x00080030
	tagAccession          dtag = 0x00080050
	tagModality           dtag = 0x00080060
	tagReferringPhysician dtag = 0x00080090
	tagStudyDescription   dtag = 0x00081030
	tagSeriesDescription  dtag = 0x0008103E
	tagPatientName        dtag = 0x00100010
	tagPatientID          dtag = 0x00100020
	tagPatientBirthDate   dtag = 0x00100030
	tagPatientSex         dtag = 0x00100040
	tagBodyPart           dtag = 0x00180015
	tagStudyID            dtag = 0x00200010
	tagSeriesNumber       dtag = 0x00200011
	tagInstanceNumber     dtag = 0x00200013
	tagSamplesPerPixel    dtag = 0x00280002
	tagPhotometric        dtag = 0x00280004
	tagPlanarConfig       dtag = 0x00280006
	tagNumberOfFrames     dtag = 0x00280008
	tagRows               dtag = 0x00280010
	tagColumns            dtag = 0x00280011
	tagBitsAllocated      dtag = 0x00280100
	tagBitsStored         dtag = 0x00280101
	tagHighBit            dtag = 0x00280102
	tagPixelRep           dtag = 0x00280103
	tagWindowCenter       dtag = 0x00281050
	tagWindowWidth        dtag = 0x00281051
	tagRescaleIntercept   dtag = 0x00281052
	tagRescaleSlope       dtag = 0x00281053
	tagRedDescriptor      dtag = 0x00281101
	tagRedData            dtag = 0x00281201
)

// keepRule returns the largest value length kept for a top-level t and the
// VRs accepted for it in explicit syntaxes; a zero length means not kept.
func keepRule(t dtag) (uint32, string) {
	switch t {
	case tagCharset:
		return 1024, "CS"
	case tagSOPClassUID, tagSOPInstanceUID, tagStudyUID, tagSeriesUID:
		return 256, "UI"
	case tagStudyDate, tagPatientBirthDate:
		return 256, "DA"
	case tagStudyTime:
		return 256, "TM"
	case tagAccession, tagStudyID:
		return 1024, "SH"
	case tagModality, tagPatientSex, tagBodyPart, tagPhotometric:
		return 1024, "CS"
	case tagPatientName, tagReferringPhysician:
		return 4096, "PN"
	case tagStudyDescription, tagSeriesDescription, tagPatientID:
		return 4096, "LO"
	case tagSeriesNumber, tagInstanceNumber, tagNumberOfFrames:
		return 256, "IS"
	case tagSamplesPerPixel, tagPlanarConfig, tagRows, tagColumns,
		tagBitsAllocated, tagBitsStored, tagHighBit, tagPixelRep:
		return 2, "US"
	case tagWindowCenter, tagWindowWidth, tagRescaleIntercept, tagRescaleSlope:
		return 1024, "DS"
	case tagRedDescriptor, tagRedDescriptor + 1, tagRedDescriptor + 2:
		return 6, "US SS"
	case tagRedData, tagRedData + 1, tagRedData + 2:
		return 256 << 10, "OW OB"
	}
	return 0, ""
}

// attrSet holds attribute values decoded by suyashkumar/dicom.
type attrSet map[dtag]*dicom.Element

// decodeAttrs decodes kept, the raw top-level elements kept by scanFile in
// encoding enc, with suyashkumar/dicom, which handles the VRs and the
// Specific Character Set. Panics in the library become InvalidErrors.
func decodeAttrs(enc encoding, kept []byte) (as attrSet, err error) {
	defer func() {
		if r := recover(); r != nil {
			as, err = nil, invalidf("could not decode attribute values")
		}
	}()
	ts := tsExplicitLE
	switch {
	case !enc.explicit:
		ts = tsImplicitLE
	case enc.bo == binary.BigEndian:
		ts = tsExplicitBE
	}
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	tsElem := encodeElement(explicitLE(), tagTransferSyn, "UI", padUID(ts))
	b.Write(encodeElement(explicitLE(), tagMetaGroupLen, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(tsElem)))))
	b.Write(tsElem)
	b.Write(kept)
	ds, err := dicom.Parse(bytes.NewReader(b.Bytes()), int64(b.Len()), nil, dicom.AllowUnknownSpecificCharacterSet())
	if err != nil {
		return nil, &InvalidError{Reason: "could not decode attribute values", cause: err}
	}
	as = attrSet{}
	for _, el := range ds.Elements {
		t := dtag(el.Tag.Uint32())
		if _, dup := as[t]; !dup && t.group() != 0x0002 {
			as[t] = el
		}
	}
	return as, nil
}

// strs returns the string values of t, trimmed and valid UTF-8.
func (a attrSet) strs(t dtag) []string {
	el, ok := a[t]
	if !ok || el.Value == nil || el.Value.ValueType() != dicom.Strings {
		return nil
	}
	vals, _ := el.Value.GetValue().([]string)
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		out = append(out, strings.ToValidUTF8(strings.Trim(v, " \x00"), "\uFFFD"))
	}
	return out
}

// str returns the first string value of t, or "".
func (a attrSet) str(t dtag) string {
	if v := a.strs(t); len(v) > 0 {
		return v[0]
	}
	return ""
}

// ints returns the integer values of t (US, SS, UL, SL).
func (a attrSet) ints(t dtag) []int {
	el, ok := a[t]
	if !ok || el.Value == nil || el.Value.ValueType() != dicom.Ints {
		return nil
	}
	v, _ := el.Value.GetValue().([]int)
	return v
}

// intVal returns the first integer value of t, or 0.
func (a attrSet) intVal(t dtag) int {
	if v := a.ints(t); len(v) > 0 {
		return v[0]
	}
	return 0
}

// bytes returns the value of an OB or OW t; the library stores OW words in
// little-endian order whatever the transfer syntax.
func (a attrSet) bytes(t dtag) []byte {
	el, ok := a[t]
	if !ok || el.Value == nil || el.Value.ValueType() != dicom.Bytes {
		return nil
	}
	v, _ := el.Value.GetValue().([]byte)
	return v
}

// intStr parses the first IS value of t; ok is false if absent or invalid,
// raw is the value as found.
func (a attrSet) intStr(t dtag) (int, bool, string) {
	s := a.str(t)
	if s == "" {
		return 0, false, s
	}
	n, err := strconv.Atoi(s)
	return n, err == nil, s
}

// float parses the first DS value of t.
func (a attrSet) float(t dtag) (float64, bool) {
	s := a.str(t)
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
