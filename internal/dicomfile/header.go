// Package dicomfile reads, validates, renders and rewrites DICOM Part 10
// files. It is the only package of the project that imports
// github.com/suyashkumar/dicom; its API uses plain Go types.
package dicomfile

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Header holds the attributes of a DICOM instance that the exchange indexes
// and shows. Strings are UTF-8, decoded from the file's Specific Character
// Set, with DICOM padding removed; an empty string means absent or empty.
type Header struct {
	// TransferSyntaxUID is from the file meta information; for a file
	// without meta it is the syntax inferred from the first element.
	TransferSyntaxUID string
	// SpecificCharacterSet is the raw (0008,0005) value, values joined by
	// a backslash, e.g. `\ISO 2022 IR 87`.
	SpecificCharacterSet string

	SOPClassUID       string
	SOPInstanceUID    string
	StudyInstanceUID  string
	SeriesInstanceUID string

	// PatientName is the whole PN value, component groups separated by
	// "=" (alphabetic=ideographic=phonetic).
	PatientName      string
	PatientID        string
	PatientBirthDate string
	PatientSex       string

	// StudyDate is the raw DA value; StudyDateParsed is it as midnight UTC,
	// or the zero time when StudyDate is absent or not a valid date.
	StudyDate              string
	StudyDateParsed        time.Time
	StudyTime              string
	StudyDescription       string
	StudyID                string
	AccessionNumber        string
	ReferringPhysicianName string

	Modality          string
	BodyPartExamined  string
	SeriesDescription string
	// SeriesNumber and InstanceNumber are nil when absent or not integers.
	SeriesNumber   *int
	InstanceNumber *int

	// HasPixelData reports a top-level Pixel Data (7FE0,0010) element.
	HasPixelData bool
	Rows         int
	Columns      int
	// NumberOfFrames is 1 for single-frame images and 0 without pixel data.
	NumberOfFrames            int
	PhotometricInterpretation string
	BitsAllocated             int
	BitsStored                int
	SamplesPerPixel           int
	// WindowCenter and WindowWidth are the first VOI window, if any.
	WindowCenter *float64
	WindowWidth  *float64
}

// ReadHeader reads a DICOM Part 10 file (or a bare dataset without preamble
// and meta) from r without decoding or keeping its pixel data, so memory
// stays flat whatever the size. size is the total length of the file, or -1
// if unknown; reading stops at size. Every framing length is checked, so a
// truncated file or an impossible length is reported rather than allocated.
// Files that are not acceptable DICOM, including those without SOP Instance,
// Study Instance or Series Instance UID, give an *InvalidError; other errors
// come from r.
func ReadHeader(r io.Reader, size int64) (h *Header, err error) {
	defer func() {
		if p := recover(); p != nil {
			h, err = nil, fmt.Errorf("read DICOM header: %w", invalidf("unreadable DICOM structure"))
		}
	}()
	return readHeader(r, size)
}

// readHeader is ReadHeader without its panic guard, for the fuzz tests.
func readHeader(r io.Reader, size int64) (*Header, error) {
	p, err := scanFile(r, size, nil)
	if err != nil {
		return nil, fmt.Errorf("read DICOM header: %w", err)
	}
	h, err := newHeader(p)
	if err != nil {
		return nil, fmt.Errorf("read DICOM header: %w", err)
	}
	return h, nil
}

// newHeader builds and validates a Header from a scan.
func newHeader(p *parsed) (*Header, error) {
	a := p.attrs
	h := &Header{
		TransferSyntaxUID:         p.start.transferSyntax,
		SpecificCharacterSet:      strings.Join(a.strs(tagCharset), `\`),
		SOPClassUID:               a.str(tagSOPClassUID),
		SOPInstanceUID:            a.str(tagSOPInstanceUID),
		StudyInstanceUID:          a.str(tagStudyUID),
		SeriesInstanceUID:         a.str(tagSeriesUID),
		PatientName:               a.str(tagPatientName),
		PatientID:                 a.str(tagPatientID),
		PatientBirthDate:          a.str(tagPatientBirthDate),
		PatientSex:                a.str(tagPatientSex),
		StudyDate:                 a.str(tagStudyDate),
		StudyTime:                 a.str(tagStudyTime),
		StudyDescription:          a.str(tagStudyDescription),
		StudyID:                   a.str(tagStudyID),
		AccessionNumber:           a.str(tagAccession),
		ReferringPhysicianName:    a.str(tagReferringPhysician),
		Modality:                  a.str(tagModality),
		BodyPartExamined:          a.str(tagBodyPart),
		SeriesDescription:         a.str(tagSeriesDescription),
		HasPixelData:              p.pixel.present,
		Rows:                      a.intVal(tagRows),
		Columns:                   a.intVal(tagColumns),
		PhotometricInterpretation: a.str(tagPhotometric),
		BitsAllocated:             a.intVal(tagBitsAllocated),
		BitsStored:                a.intVal(tagBitsStored),
		SamplesPerPixel:           a.intVal(tagSamplesPerPixel),
	}
	h.cleanText()
	h.StudyDateParsed = parseDA(h.StudyDate)
	if n, ok, _ := a.intStr(tagSeriesNumber); ok {
		h.SeriesNumber = &n
	}
	if n, ok, _ := a.intStr(tagInstanceNumber); ok {
		h.InstanceNumber = &n
	}
	if f, ok := a.float(tagWindowCenter); ok {
		h.WindowCenter = &f
	}
	if f, ok := a.float(tagWindowWidth); ok {
		h.WindowWidth = &f
	}
	if err := checkSyntax(h.TransferSyntaxUID); err != nil {
		return nil, err
	}
	for _, u := range []struct{ name, v string }{
		{"SOP Instance UID", h.SOPInstanceUID},
		{"Study Instance UID", h.StudyInstanceUID},
		{"Series Instance UID", h.SeriesInstanceUID},
	} {
		if u.v == "" {
			return nil, invalidf("missing %s", u.name)
		}
		if !validUID(u.v) {
			return nil, invalidf("invalid %s %q", u.name, u.v)
		}
	}
	if h.HasPixelData {
		frames, err := numberOfFrames(a)
		if err != nil {
			return nil, err
		}
		h.NumberOfFrames = frames
		if h.Rows == 0 || h.Columns == 0 || h.BitsAllocated == 0 {
			return nil, invalidf("pixel data without Rows, Columns or Bits Allocated")
		}
		if h.SamplesPerPixel == 0 {
			h.SamplesPerPixel = 1
		}
		if !p.pixel.encapsulated {
			need := nativeFrameBits(h.Rows, h.Columns, h.SamplesPerPixel, h.BitsAllocated, h.PhotometricInterpretation) * int64(frames)
			if need = (need + 7) / 8; int64(p.pixel.length) < need {
				return nil, invalidf("pixel data holds %d bytes but %d×%d×%d frames need %d", p.pixel.length, h.Rows, h.Columns, frames, need)
			}
		}
	}
	return h, nil
}

// maxFrames bounds Number of Frames.
const maxFrames = 1 << 20

// numberOfFrames returns the Number of Frames (1 when absent).
func numberOfFrames(a attrSet) (int, error) {
	n, ok, raw := a.intStr(tagNumberOfFrames)
	switch {
	case raw == "":
		return 1, nil
	case !ok:
		return 0, invalidf("Number of Frames %q is not an integer", raw)
	case n < 1:
		return 0, invalidf("Number of Frames %d is not positive", n)
	case n > maxFrames:
		return 0, invalidf("Number of Frames %d is implausible", n)
	}
	return n, nil
}

// nativeFrameBits is the size in bits of one uncompressed frame; native
// YBR_FULL_422 stores two samples per pixel (PS3.3 C.7.6.3.1.2).
func nativeFrameBits(rows, cols, spp, bitsAllocated int, photometric string) int64 {
	if photometric == "YBR_FULL_422" {
		spp = 2
	}
	return int64(rows) * int64(cols) * int64(spp) * int64(bitsAllocated)
}

// parseDA parses a DA value (or the ACR-NEMA form YYYY.MM.DD) as midnight
// UTC; it returns the zero time if v is not a valid date.
func parseDA(v string) time.Time {
	v = strings.ReplaceAll(v, ".", "")
	if len(v) != 8 {
		return time.Time{}
	}
	t, err := time.Parse("20060102", v)
	if err != nil {
		return time.Time{}
	}
	return t
}
