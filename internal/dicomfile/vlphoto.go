package dicomfile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// VL Photographic Image Storage and the transfer syntaxes of generated objects.
const (
	// VLPhotographicImageStorage is the SOP class of a clinical photo
	// (PS3.3 A.32.4).
	VLPhotographicImageStorage = "1.2.840.10008.5.1.4.1.1.77.1.4"
	// DermoscopicPhotographyImageStorage is the SOP class of a dermoscopic
	// photo (PS3.3 A.32.11, added by Supplement 221 "Dermoscopy").
	DermoscopicPhotographyImageStorage = "1.2.840.10008.5.1.4.1.1.77.1.7"
	// JPEGBaseline is JPEG Baseline (Process 1), lossy 8-bit JPEG.
	JPEGBaseline = tsJPEGBaseline
	// ExplicitVRLittleEndian is the native, uncompressed transfer syntax.
	ExplicitVRLittleEndian = tsExplicitLE
)

// ImplementationClassUID identifies this package as the writer of the
// objects it generates (PS3.7 D.3.3.2): UIDFromUUID of the fixed UUID
// 67ac81c1-d14c-4edc-9329-750a30f7e208.
const ImplementationClassUID = "2.25.137806190412163179408126544040336810504"

// implementationVersion is the Implementation Version Name (SH, 16 chars).
const implementationVersion = "TELEREAD"

// PhotoWriterVersion is the version of WritePhoto's output: raise it when
// the bytes it writes for the same input change. Callers that keep
// generated objects key them by it.
const PhotoWriterVersion = 2

// photoSoftwareVersion is the Software Versions (0018,1020) of generated
// objects.
var photoSoftwareVersion = "dicomfile.WritePhoto " + strconv.Itoa(PhotoWriterVersion)

// Limits of the photos WritePhoto converts.
const (
	maxPhotoSide        = 0xFFFF // Rows and Columns are US
	maxPhotoNativeBytes = 256 << 20
)

// Photo is everything a VL Photographic Image is made of apart from the pixels.
type Photo struct {
	StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID string
	InstanceNumber                                      int

	PatientName      string // DICOM PN, e.g. "DOE^JANE"
	PatientID        string
	PatientBirthDate string // YYYYMMDD or ""
	PatientSex       string // F, M, O or ""

	StudyDate, StudyTime                                      string // DA / TM
	StudyDescription, AccessionNumber, ReferringPhysicianName string

	ContentDate, ContentTime string // when the photo was accepted
	BodySite                 string // free text as the site typed it, e.g. "left forearm"
	// Dermoscopic makes the object a Dermoscopic Photography Image
	// (Modality DMS) instead of a VL Photographic Image (Modality XC).
	Dermoscopic     bool
	InstitutionName string
}

// PhotoLayout is how the generated object carries the pixels.
type PhotoLayout struct {
	TransferSyntax  string // JPEGBaseline or ExplicitVRLittleEndian
	Rows, Columns   int
	SamplesPerPixel int
	Photometric     string // YBR_FULL_422 or MONOCHROME2 (JPEG Baseline); RGB or MONOCHROME2 (native)
}

// photoBits is the Bits Allocated and Stored of every generated object:
// the VL Image module (PS3.3 C.8.12.1) allows 8 only, so 16-bit PNGs are
// reduced to their high bytes.
const photoBits = 8

// photoKind tells how the pixels are decoded for a native object.
type photoKind int

const (
	photoJPEG photoKind = iota + 1
	photoPNG
)

// inspectPhoto is InspectPhoto, also returning the format.
func inspectPhoto(r io.Reader) (PhotoLayout, photoKind, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(8)
	switch {
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xD8:
		l, err := inspectJPEG(br)
		return l, photoJPEG, err
	case bytes.Equal(head, []byte("\x89PNG\r\n\x1a\n")):
		l, err := inspectPNG(br)
		return l, photoPNG, err
	case err != nil && !errors.Is(err, io.EOF):
		return PhotoLayout{}, 0, fmt.Errorf("inspect photo: %w", err)
	}
	return PhotoLayout{}, 0, fmt.Errorf("inspect photo: %w", invalidf("not a JPEG or PNG image"))
}

// InspectPhoto reads the photo's headers (for JPEG the markers up to SOS,
// never the whole entropy-coded data into memory; for PNG image.DecodeConfig)
// and says how WritePhoto will carry it. A photo that is not a JPEG or PNG,
// is damaged, uses a JPEG process Go cannot decode (12-bit, lossless,
// hierarchical, arithmetic) or is larger than 8192x8192 or 256 MiB of
// native pixels gives an *InvalidError.
func InspectPhoto(r io.Reader) (PhotoLayout, error) {
	l, _, err := inspectPhoto(r)
	return l, err
}

// checkSize refuses a photo too large to convert.
func (l PhotoLayout) checkSize() error {
	if l.Rows <= 0 || l.Columns <= 0 {
		return invalidf("image has no pixels")
	}
	if l.Rows > maxPhotoSide || l.Columns > maxPhotoSide {
		return invalidf("image of %dx%d pixels is larger than %dx%d", l.Columns, l.Rows, maxPhotoSide, maxPhotoSide)
	}
	if n := int64(l.Rows) * int64(l.Columns) * int64(l.SamplesPerPixel); n > maxPhotoNativeBytes {
		return invalidf("image of %dx%d pixels needs %d bytes, more than %d", l.Columns, l.Rows, n, maxPhotoNativeBytes)
	}
	return nil
}

// inspectPNG says how a PNG is carried: always decoded to native 8-bit
// pixels, grey as MONOCHROME2, anything else as RGB.
func inspectPNG(r io.Reader) (PhotoLayout, error) {
	cfg, err := png.DecodeConfig(r)
	if err != nil {
		return PhotoLayout{}, fmt.Errorf("inspect photo: %w", &InvalidError{Reason: "unreadable PNG", cause: err})
	}
	l := PhotoLayout{TransferSyntax: ExplicitVRLittleEndian, Rows: cfg.Height, Columns: cfg.Width,
		SamplesPerPixel: 3, Photometric: "RGB"}
	if cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model {
		l.SamplesPerPixel, l.Photometric = 1, "MONOCHROME2"
	}
	if err := l.checkSize(); err != nil {
		return PhotoLayout{}, fmt.Errorf("inspect photo: %w", err)
	}
	return l, nil
}

// jpegComponent is one component of a JPEG frame header.
type jpegComponent struct{ id, h, v byte }

// jpegHeader is what the markers before the first scan say.
type jpegHeader struct {
	sof            byte // the SOFn marker
	precision      int
	rows, columns  int
	components     []jpegComponent
	jfif, adobe    bool
	adobeTransform byte
}

// readJPEGHeader reads the markers of a JPEG up to its first SOS.
func readJPEGHeader(br *bufio.Reader) (*jpegHeader, error) {
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return nil, invalidf("not a JPEG image")
	}
	h := &jpegHeader{}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, invalidf("JPEG ends before its first scan")
		}
		if b != 0xFF {
			return nil, invalidf("JPEG marker expected, found 0x%02X", b)
		}
		m := b
		for m == 0xFF { // fill bytes
			if m, err = br.ReadByte(); err != nil {
				return nil, invalidf("JPEG ends before its first scan")
			}
		}
		switch {
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			continue // no length
		case m == 0xD8 || m == 0xD9 || m == 0x00:
			return nil, invalidf("unexpected JPEG marker 0xFF%02X before the first scan", m)
		}
		var lb [2]byte
		if _, err := io.ReadFull(br, lb[:]); err != nil {
			return nil, invalidf("JPEG ends before its first scan")
		}
		n := int(binary.BigEndian.Uint16(lb[:])) - 2
		if n < 0 {
			return nil, invalidf("JPEG marker 0xFF%02X has an invalid length", m)
		}
		if m == 0xDA {
			if h.sof == 0 {
				return nil, invalidf("JPEG scan before its frame header")
			}
			return h, nil
		}
		isSOF := m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
		if !isSOF && m != 0xE0 && m != 0xEE {
			if _, err := br.Discard(n); err != nil {
				return nil, invalidf("JPEG ends before its first scan")
			}
			continue
		}
		seg := make([]byte, n)
		if _, err := io.ReadFull(br, seg); err != nil {
			return nil, invalidf("JPEG ends before its first scan")
		}
		switch {
		case isSOF:
			if h.sof != 0 {
				return nil, invalidf("JPEG with more than one frame header")
			}
			if err := h.parseSOF(m, seg); err != nil {
				return nil, err
			}
		case m == 0xE0 && bytes.HasPrefix(seg, []byte("JFIF\x00")):
			h.jfif = true
		case m == 0xEE && len(seg) >= 12 && bytes.HasPrefix(seg, []byte("Adobe")):
			h.adobe, h.adobeTransform = true, seg[11]
		}
	}
}

// parseSOF reads a frame header segment.
func (h *jpegHeader) parseSOF(m byte, seg []byte) error {
	if len(seg) < 6 {
		return invalidf("JPEG frame header too short")
	}
	h.sof, h.precision = m, int(seg[0])
	h.rows, h.columns = int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:]))
	nf := int(seg[5])
	if nf == 0 || len(seg) < 6+3*nf {
		return invalidf("JPEG frame header with %d components is too short", nf)
	}
	for i := range nf {
		c := seg[6+3*i:]
		hv := jpegComponent{id: c[0], h: c[1] >> 4, v: c[1] & 0x0F}
		if hv.h < 1 || hv.h > 4 || hv.v < 1 || hv.v > 4 {
			return invalidf("JPEG component with sampling factors %dx%d", hv.h, hv.v)
		}
		h.components = append(h.components, hv)
	}
	return nil
}

// keptPhotometric is the Photometric Interpretation of the JPEG when it is
// kept as JPEG Baseline, or "" when it must be decoded. PS3.5 8.2.1 would
// also keep a 4:4:4 YCbCr JPEG as YBR_FULL and one without colour
// transform as RGB, but the VL Image module (PS3.3 C.8.12.1) allows
// neither with a lossy transfer syntax (YBR_FULL_422 "for other lossy
// compressed transfer syntaxes"; dciodvfy refuses both), so only grey and
// chroma-subsampled (4:2:2, 4:2:0) YCbCr JPEGs are kept.
func (h *jpegHeader) keptPhotometric() string {
	if h.sof != 0xC0 || h.precision != 8 {
		return ""
	}
	c := h.components
	switch len(c) {
	case 1:
		return "MONOCHROME2"
	case 3:
	default:
		return "" // CMYK, YCCK
	}
	rgb := (h.adobe && h.adobeTransform == 0) ||
		(!h.adobe && !h.jfif && c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B')
	if rgb || c[1].h != 1 || c[1].v != 1 || c[2].h != 1 || c[2].v != 1 {
		return ""
	}
	if c[0].h == 2 && (c[0].v == 1 || c[0].v == 2) {
		return "YBR_FULL_422"
	}
	return ""
}

// inspectJPEG says how a JPEG is carried.
func inspectJPEG(br *bufio.Reader) (PhotoLayout, error) {
	h, err := readJPEGHeader(br)
	if err != nil {
		return PhotoLayout{}, fmt.Errorf("inspect photo: %w", err)
	}
	switch {
	case h.sof > 0xC2:
		return PhotoLayout{}, fmt.Errorf("inspect photo: %w", invalidf("JPEG process SOF%d is not supported", h.sof-0xC0))
	case h.precision != 8:
		return PhotoLayout{}, fmt.Errorf("inspect photo: %w", invalidf("%d-bit JPEG is not supported", h.precision))
	}
	l := PhotoLayout{TransferSyntax: JPEGBaseline, Rows: h.rows, Columns: h.columns, SamplesPerPixel: 3}
	if l.Photometric = h.keptPhotometric(); l.Photometric == "" {
		l.TransferSyntax, l.Photometric = ExplicitVRLittleEndian, "RGB"
		if len(h.components) == 1 {
			l.Photometric = "MONOCHROME2"
		}
	}
	if l.Photometric == "MONOCHROME2" {
		l.SamplesPerPixel = 1
	}
	if err := l.checkSize(); err != nil {
		return PhotoLayout{}, fmt.Errorf("inspect photo: %w", err)
	}
	return l, nil
}

// UIDFromUUID is the 2.25 UID of u (PS3.5 B.2): "2.25." followed by u as an unsigned decimal.
func UIDFromUUID(u [16]byte) string {
	return "2.25." + new(big.Int).SetBytes(u[:]).String()
}

// WritePhoto writes the VL Photographic Image of photo img to dst. The bytes
// depend only on img and p: writing twice gives identical bytes. A baseline
// 8-bit grey, 4:2:2 or 4:2:0 YCbCr JPEG is kept, byte for byte,
// as the single fragment of JPEG Baseline pixel data (with a NUL appended
// when its length is odd, PS3.5 A.4); any other photo is decoded and written
// native in Explicit VR Little Endian. A dermoscopic photo
// (p.Dermoscopic) is written as a Dermoscopic Photography Image instead
// (Supplement 221, PS3.3 A.32.11). Text values are cleaned to valid UTF-8
// without control characters. Bad UIDs and photos InspectPhoto refuses give
// an *InvalidError; other errors come from dst.
func WritePhoto(dst io.Writer, img []byte, p Photo) (PhotoLayout, error) {
	l, kind, err := inspectPhoto(bytes.NewReader(img))
	if err != nil {
		return PhotoLayout{}, fmt.Errorf("write photo: %w", err)
	}
	for _, u := range []struct{ name, v string }{
		{"Study Instance UID", p.StudyInstanceUID},
		{"Series Instance UID", p.SeriesInstanceUID},
		{"SOP Instance UID", p.SOPInstanceUID},
	} {
		if !validPhotoUID(u.v) {
			return PhotoLayout{}, fmt.Errorf("write photo: %w", invalidf("invalid %s %q", u.name, u.v))
		}
	}
	pixels, err := photoPixels(img, kind, l)
	if err != nil {
		return PhotoLayout{}, fmt.Errorf("write photo: %w", err)
	}
	ds := dicom.Dataset{Elements: photoElements(p, l, kind, pixels)}
	bw := bufio.NewWriter(dst)
	if err := dicom.Write(bw, ds); err != nil {
		return PhotoLayout{}, fmt.Errorf("write photo: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return PhotoLayout{}, fmt.Errorf("write photo: %w", err)
	}
	return l, nil
}

// validPhotoUID reports whether u is a valid UID (PS3.5 9.1): at most 64
// characters, digits and dots, no empty component and no component with a
// leading zero.
func validPhotoUID(u string) bool {
	if !validUID(u) {
		return false
	}
	for _, c := range strings.Split(u, ".") {
		if c == "" || (len(c) > 1 && c[0] == '0') {
			return false
		}
	}
	return true
}

// photoPixels is the Pixel Data element of the photo.
func photoPixels(img []byte, kind photoKind, l PhotoLayout) (*dicom.Element, error) {
	if l.TransferSyntax == JPEGBaseline {
		// The photo is not decoded, but a JPEG cut short (no end-of-image
		// marker after the first scan header; entropy-coded data cannot
		// hold one) is refused rather than carried.
		r := bytes.NewReader(img)
		br := bufio.NewReader(r)
		if _, err := readJPEGHeader(br); err != nil {
			return nil, err
		}
		if scan := len(img) - r.Len() - br.Buffered(); !bytes.Contains(img[scan:], []byte{0xFF, 0xD9}) {
			return nil, invalidf("JPEG is cut short: no end-of-image marker")
		}
		data := img
		if len(data)%2 == 1 {
			data = append(slices.Clip(data), 0)
		}
		info := dicom.PixelDataInfo{IsEncapsulated: true, Frames: []*frame.Frame{{
			Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: data}}}}
		return &dicom.Element{Tag: tag.PixelData, RawValueRepresentation: "OB",
			ValueLength: tag.VLUndefinedLength, Value: mustValue(info)}, nil
	}
	var decoded image.Image
	var err error
	if kind == photoJPEG {
		decoded, err = jpeg.Decode(bytes.NewReader(img))
	} else {
		decoded, err = png.Decode(bytes.NewReader(img))
	}
	if err != nil {
		return nil, &InvalidError{Reason: "undecodable image", cause: err}
	}
	b := decoded.Bounds()
	if b.Dx() != l.Columns || b.Dy() != l.Rows {
		return nil, invalidf("image decodes to %dx%d pixels, its header says %dx%d", b.Dx(), b.Dy(), l.Columns, l.Rows)
	}
	raw := nativePixels(decoded, l)
	if len(raw)%2 == 1 {
		raw = append(raw, 0)
	}
	// The library's NativeFrame path writes every sample with its own
	// binary.Write call (70 million for a 24-megapixel photo); the
	// unprocessed path writes the same bytes in one go.
	info := dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: raw}
	return &dicom.Element{Tag: tag.PixelData, RawValueRepresentation: "OB",
		ValueLength: uint32(len(raw)), Value: mustValue(info)}, nil
}

// nativePixels is img as interleaved 8-bit RGB, or grey samples, as l says:
// each sample is what Go's colour models make of img.At(x, y) in 8 bits
// (colour with alpha is thus composed over black, 16-bit samples keep
// their high byte).
func nativePixels(img image.Image, l PhotoLayout) []byte {
	b := img.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*l.SamplesPerPixel+1)
	if l.Photometric == "MONOCHROME2" {
		if g, ok := img.(*image.Gray); ok {
			for y := b.Min.Y; y < b.Max.Y; y++ {
				i := g.PixOffset(b.Min.X, y)
				out = append(out, g.Pix[i:i+b.Dx()]...)
			}
			return out
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				out = append(out, color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y)
			}
		}
		return out
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var r, g, bl uint32
			switch m := img.(type) { // the decoders' types, without At's allocation
			case *image.YCbCr:
				r, g, bl, _ = m.YCbCrAt(x, y).RGBA()
			case *image.RGBA:
				r, g, bl, _ = m.RGBAAt(x, y).RGBA()
			case *image.NRGBA:
				r, g, bl, _ = m.NRGBAAt(x, y).RGBA()
			case *image.CMYK:
				r, g, bl, _ = m.CMYKAt(x, y).RGBA()
			default:
				r, g, bl, _ = img.At(x, y).RGBA()
			}
			out = append(out, byte(r>>8), byte(g>>8), byte(bl>>8))
		}
	}
	return out
}

// mustValue is dicom.NewValue for the value types this file builds.
func mustValue(v any) dicom.Value {
	val, err := dicom.NewValue(v)
	if err != nil {
		panic(err) // only the types below are passed
	}
	return val
}

// el is an element with tag t, VR vr and value v ([]string, []int, []byte,
// dicom.PixelDataInfo or [][]*dicom.Element).
func el(t tag.Tag, vr string, v any) *dicom.Element {
	return &dicom.Element{Tag: t, RawValueRepresentation: vr, ValueRepresentation: tag.GetVRKind(t, vr), Value: mustValue(v)}
}

// maxChars is the maximum length in bytes of a value of each text VR
// written here (PS3.5 6.2; PN per component group).
var maxChars = map[string]int{"SH": 16, "LO": 64, "PN": 64, "CS": 16, "LT": 10240, "DA": 8, "TM": 14}

// text is a one-valued text element: s cleaned to valid UTF-8 without
// control characters (tabs and line breaks become spaces), a backslash
// (the value delimiter) replaced by "/" except in LT, cut at a character
// boundary to the VR's maximum length (each "="-separated component group
// of a PN). An empty s gives an empty (type 2) element.
func text(t tag.Tag, vr, s string) *dicom.Element {
	s = cleanValue(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s))
	if vr != "LT" {
		s = strings.ReplaceAll(s, `\`, "/")
	}
	if vr == "PN" {
		groups := strings.Split(s, "=")
		for i, g := range groups {
			groups[i] = cut(g, maxChars[vr])
		}
		s = strings.Join(groups, "=")
	} else {
		s = cut(s, maxChars[vr])
	}
	if s == "" {
		return el(t, vr, []string{})
	}
	return el(t, vr, []string{s})
}

// cut is s cut to at most n bytes at a character boundary, trimmed.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

// codeItem is a Code Sequence Macro item (PS3.3 8.8).
func codeItem(value, scheme, meaning string) []*dicom.Element {
	return []*dicom.Element{
		el(tag.CodeValue, "SH", []string{value}),
		el(tag.CodingSchemeDesignator, "SH", []string{scheme}),
		el(tag.CodeMeaning, "LO", []string{meaning}),
	}
}

// photoElements are the elements of the object, file meta included, in
// tag order.
func photoElements(p Photo, l PhotoLayout, kind photoKind, pixels *dicom.Element) []*dicom.Element {
	// A series holds one modality, so dermoscopic photos are a series of
	// their own: numbered 2, after the clinical photos' series 1.
	sopClass, modality, series := VLPhotographicImageStorage, "XC", "1"
	if p.Dermoscopic {
		sopClass, modality, series = DermoscopicPhotographyImageStorage, "DMS", "2"
	}
	lossy := "00"
	if kind == photoJPEG {
		lossy = "01" // once lossy, always lossy (PS3.3 C.7.6.1.1.5)
	}
	es := []*dicom.Element{
		el(tag.FileMetaInformationVersion, "OB", []byte{0, 1}),
		el(tag.MediaStorageSOPClassUID, "UI", []string{sopClass}),
		el(tag.MediaStorageSOPInstanceUID, "UI", []string{p.SOPInstanceUID}),
		el(tag.TransferSyntaxUID, "UI", []string{l.TransferSyntax}),
		el(tag.ImplementationClassUID, "UI", []string{ImplementationClassUID}),
		el(tag.ImplementationVersionName, "SH", []string{implementationVersion}),

		el(tag.SpecificCharacterSet, "CS", []string{"ISO_IR 192"}),
		el(tag.ImageType, "CS", []string{"ORIGINAL", "PRIMARY"}),
		el(tag.SOPClassUID, "UI", []string{sopClass}),
		el(tag.SOPInstanceUID, "UI", []string{p.SOPInstanceUID}),
		text(tag.StudyDate, "DA", p.StudyDate),
		text(tag.StudyTime, "TM", p.StudyTime),
		text(tag.AccessionNumber, "SH", p.AccessionNumber),
		el(tag.Modality, "CS", []string{modality}),
		el(tag.Manufacturer, "LO", []string{"Teleread"}),
		// The equipment that made the object is this software: the
		// Enhanced General Equipment module of a Dermoscopic Photography
		// Image wants these three (type 1), a VL Photographic Image may
		// have them. Its serial number is the UID that identifies it.
		el(tag.ManufacturerModelName, "LO", []string{"Teleread photo to DICOM"}),
		el(tag.DeviceSerialNumber, "LO", []string{ImplementationClassUID}),
		el(tag.SoftwareVersions, "LO", []string{photoSoftwareVersion}),
		text(tag.ReferringPhysicianName, "PN", p.ReferringPhysicianName),
		text(tag.PatientName, "PN", p.PatientName),
		text(tag.PatientID, "LO", p.PatientID),
		text(tag.PatientBirthDate, "DA", p.PatientBirthDate),
		text(tag.PatientSex, "CS", p.PatientSex),
		el(tag.StudyInstanceUID, "UI", []string{p.StudyInstanceUID}),
		el(tag.SeriesInstanceUID, "UI", []string{p.SeriesInstanceUID}),
		el(tag.StudyID, "SH", []string{}),
		el(tag.SeriesNumber, "IS", []string{series}),
		el(tag.InstanceNumber, "IS", []string{strconv.Itoa(p.InstanceNumber)}),
		el(tag.PatientOrientation, "CS", []string{}),
		el(tag.SamplesPerPixel, "US", []int{l.SamplesPerPixel}),
		el(tag.PhotometricInterpretation, "CS", []string{l.Photometric}),
		el(tag.Rows, "US", []int{l.Rows}),
		el(tag.Columns, "US", []int{l.Columns}),
		el(tag.BitsAllocated, "US", []int{photoBits}),
		el(tag.BitsStored, "US", []int{photoBits}),
		el(tag.HighBit, "US", []int{photoBits - 1}),
		el(tag.PixelRepresentation, "US", []int{0}),
		el(tag.LossyImageCompression, "CS", []string{lossy}),
		el(tag.AcquisitionContextSequence, "SQ", [][]*dicom.Element{}),
		pixels,
	}
	if l.SamplesPerPixel > 1 {
		es = append(es, el(tag.PlanarConfiguration, "US", []int{0}))
	}
	if lossy == "01" {
		es = append(es, el(tag.LossyImageCompressionMethod, "CS", []string{"ISO_10918_1"}))
	}
	// Content Date and Time are type 1C in the VL Image module: present
	// with a value, or absent.
	if s := text(tag.ContentDate, "DA", p.ContentDate); !emptyText(s) {
		es = append(es, s)
	}
	if s := text(tag.ContentTime, "TM", p.ContentTime); !emptyText(s) {
		es = append(es, s)
	}
	if s := text(tag.InstitutionName, "LO", p.InstitutionName); !emptyText(s) {
		es = append(es, s)
	}
	if s := text(tag.StudyDescription, "LO", p.StudyDescription); !emptyText(s) {
		es = append(es, s)
	}
	if s := text(tag.ImageComments, "LT", p.BodySite); !emptyText(s) {
		es = append(es, s)
	}
	if p.Dermoscopic {
		es = append(es, dermoscopicElements(p)...)
	}
	site, entry, coded := lookupBodySite(p.BodySite)
	if !unpairedSites[entry] {
		// Laterality is type 2C in the General Series module: required
		// for a paired body part when there is no Image Laterality (the
		// VL Photographic Image IOD has none), and absent for an unpaired
		// one. It is a series attribute and a case's photos of the left
		// and the right arm share a series, so it is sent empty: the side
		// of each photo is the modifier of its Anatomic Region below.
		es = append(es, el(tag.Laterality, "CS", []string{}))
	}
	if coded {
		item := codeItem(site.Code, "SCT", site.Meaning)
		if site.LateralityCode != "" {
			// Laterality is factored out of the site and carried as a
			// modifier of it (PS3.16 CID 4029 note 8; CID 244).
			mod := codeItem(site.LateralityCode, "SCT", site.LateralityMeaning)
			item = append(item, el(tag.AnatomicRegionModifierSequence, "SQ", [][]*dicom.Element{mod}))
		}
		es = append(es, el(tag.AnatomicRegionSequence, "SQ", [][]*dicom.Element{item}))
	}
	sortElements(es)
	return es
}

// dermoscopicElements are the attributes a Dermoscopic Photography Image
// (PS3.3 A.32.11, Supplement 221) has beyond those of a VL Photographic
// Image: the Frame of Reference and Dermoscopic Image (C.8.12.13) modules
// (Modality DMS, of CID 29, and the SOP class are set by photoElements).
// What the dermoscope did (polarisation, contact, magnification) is not
// known here, so those type 2 attributes are empty.
func dermoscopicElements(p Photo) []*dicom.Element {
	return []*dicom.Element{
		// Each photo is its own frame of reference: nothing relates the
		// positions of two photos of a series. Derived from the SOP
		// Instance UID so that the output depends only on p.
		el(tag.FrameOfReferenceUID, "UI", []string{derivedUID("frame of reference", p.SOPInstanceUID)}),
		el(tag.PositionReferenceIndicator, "LO", []string{}),
		el(tag.LightSourcePolarization, "CS", []string{}),
		el(tag.EmitterColorTemperature, "DS", []string{}),
		el(tag.ContactMethod, "CS", []string{}),
		el(tag.OpticalMagnificationFactor, "DS", []string{}),
		// Type 1, and unknown: YES is the cautious answer (the photo
		// may show a fingerprint), so de-identification treats it as
		// identifying.
		el(tag.RecognizableVisualFeatures, "CS", []string{"YES"}),
	}
}

// derivedUID is a 2.25 UID made from the SHA-256 of purpose and uid, as
// a version 8 (name-based, custom hash) UUID.
func derivedUID(purpose, uid string) string {
	sum := sha256.Sum256([]byte("teleread " + purpose + "\x00" + uid))
	var u [16]byte
	copy(u[:], sum[:])
	u[6] = u[6]&0x0F | 0x80
	u[8] = u[8]&0x3F | 0x80
	return UIDFromUUID(u)
}

// nonEmpty is a string value, [] for "".
func nonEmpty(s string) []string {
	if s == "" {
		return []string{}
	}
	return []string{s}
}

// emptyText reports an element built by text from an empty string.
func emptyText(e *dicom.Element) bool {
	v, _ := e.Value.GetValue().([]string)
	return len(v) == 0
}

// sortElements puts es in ascending tag order, nested items included.
func sortElements(es []*dicom.Element) {
	slices.SortStableFunc(es, func(a, b *dicom.Element) int {
		return int(uint32(a.Tag.Group)<<16|uint32(a.Tag.Element)) - int(uint32(b.Tag.Group)<<16|uint32(b.Tag.Element))
	})
	for _, e := range es {
		if items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue); ok {
			for _, it := range items {
				if nested, ok := it.GetValue().([]*dicom.Element); ok {
					sortElements(nested)
				}
			}
		}
	}
}
