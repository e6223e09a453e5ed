package dicomfile

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	colorpalette "image/color/palette"
	"image/draw"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// testPhoto is the attributes of the photos written by the tests.
func testPhoto() Photo {
	return Photo{
		StudyInstanceUID:  "2.25.1001",
		SeriesInstanceUID: "2.25.1002",
		SOPInstanceUID:    "2.25.1003",
		InstanceNumber:    3,
		PatientName:       "DOE^JANE",
		PatientID:         "P-0042",
		PatientBirthDate:  "19800131",
		PatientSex:        "F",
		StudyDate:         "20261206",
		StudyTime:         "101500",
		StudyDescription:  "Teledermatology referral",
		AccessionNumber:   "A123",
		ContentDate:       "20261206",
		ContentTime:       "101733",
		BodySite:          "left forearm",
		InstitutionName:   "Clinique du Lac",
	}
}

// photoCase is a photo and how it must be carried.
type photoCase struct {
	name string
	img  []byte
	want PhotoLayout
}

// photoTestdata returns a photo under testdata/photo.
func photoTestdata(t *testing.T, name string) []byte {
	t.Helper()
	return readTestdata(t, filepath.Join("photo", name))
}

// photoCases are the committed photos and PNGs of every colour type made
// from them.
func photoCases(t *testing.T) []photoCase {
	t.Helper()
	base, err := jpeg.Decode(bytes.NewReader(photoTestdata(t, "video-001.q50.422.jpeg")))
	require.NoError(t, err)
	b := base.Bounds()
	rgba := image.NewRGBA(b)
	draw.Draw(rgba, b, base, b.Min, draw.Src)
	pal := image.NewPaletted(b, colorpalette.Plan9)
	draw.FloydSteinberg.Draw(pal, b, base, b.Min)
	gray16 := image.NewGray16(image.Rect(0, 0, 37, 21))
	nrgba := image.NewNRGBA(image.Rect(0, 0, 33, 17))
	rgba64 := image.NewNRGBA64(image.Rect(0, 0, 19, 23))
	for y := range 21 {
		for x := range 37 {
			gray16.SetGray16(x, y, color.Gray16{Y: uint16(x*1777 + y*977)})
			nrgba.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 7), G: uint8(y * 13), B: 200, A: uint8(x*y*5 + 3)})
			rgba64.SetNRGBA64(x, y, color.NRGBA64{R: uint16(x * 3001), G: uint16(y * 2003), B: 0xFFFF, A: uint16(60000 - x*y*50)})
		}
	}
	jpegLayout := func(rows, cols, spp int, photometric string) PhotoLayout {
		return PhotoLayout{TransferSyntax: JPEGBaseline, Rows: rows, Columns: cols, SamplesPerPixel: spp, Photometric: photometric}
	}
	nativeLayout := func(rows, cols, spp int, photometric string) PhotoLayout {
		return PhotoLayout{TransferSyntax: ExplicitVRLittleEndian, Rows: rows, Columns: cols, SamplesPerPixel: spp, Photometric: photometric}
	}
	var goJPEG bytes.Buffer // Go's encoder: 4:2:0 baseline without JFIF
	require.NoError(t, jpeg.Encode(&goJPEG, base, &jpeg.Options{Quality: 90}))
	return []photoCase{
		{"baseline 4:2:2", photoTestdata(t, "video-001.q50.422.jpeg"), jpegLayout(103, 150, 3, "YBR_FULL_422")},
		{"baseline 4:2:0 with restarts", photoTestdata(t, "video-001.restart2.jpeg"), jpegLayout(103, 150, 3, "YBR_FULL_422")},
		{"baseline 4:2:0 from Go", goJPEG.Bytes(), jpegLayout(103, 150, 3, "YBR_FULL_422")},
		{"baseline 4:4:4", photoTestdata(t, "video-001.dcmtk-444.jpeg"), nativeLayout(103, 150, 3, "RGB")},
		{"baseline RGB", photoTestdata(t, "video-001.dcmtk-rgb.jpeg"), nativeLayout(103, 150, 3, "RGB")},
		{"baseline grey", photoTestdata(t, "video-005.gray.q50.jpeg"), jpegLayout(103, 150, 1, "MONOCHROME2")},
		{"progressive", photoTestdata(t, "video-001.q50.420.progressive.jpeg"), nativeLayout(103, 150, 3, "RGB")},
		{"CMYK", photoTestdata(t, "video-001.cmyk.jpeg"), nativeLayout(103, 150, 3, "RGB")},
		{"grey PNG", photoTestdata(t, "microaneurysms.png"), nativeLayout(102, 102, 1, "MONOCHROME2")},
		{"RGB PNG", encodePNG(t, rgba), nativeLayout(103, 150, 3, "RGB")},
		{"palette PNG", encodePNG(t, pal), nativeLayout(103, 150, 3, "RGB")},
		{"16-bit grey PNG", encodePNG(t, gray16), nativeLayout(21, 37, 1, "MONOCHROME2")},
		{"alpha PNG", encodePNG(t, nrgba), nativeLayout(17, 33, 3, "RGB")},
		{"16-bit alpha PNG", encodePNG(t, rgba64), nativeLayout(23, 19, 3, "RGB")},
	}
}

// writePhoto writes img with p, checking that a second write gives the
// same bytes.
func writePhoto(t *testing.T, img []byte, p Photo) ([]byte, PhotoLayout) {
	t.Helper()
	var a, b bytes.Buffer
	la, err := WritePhoto(&a, img, p)
	require.NoError(t, err)
	lb, err := WritePhoto(&b, img, p)
	require.NoError(t, err)
	require.Equal(t, la, lb)
	require.True(t, bytes.Equal(a.Bytes(), b.Bytes()), "writing twice gives different bytes")
	return a.Bytes(), la
}

// expectedNative is the native pixel data of img decoded by Go: samples
// as img.At(x, y) converted by Go's colour models (without the padding
// byte, which ReadFrame does not return).
func expectedNative(t *testing.T, img []byte, l PhotoLayout) []byte {
	t.Helper()
	decoded, _, err := image.Decode(bytes.NewReader(img))
	require.NoError(t, err)
	b := decoded.Bounds()
	var out []byte
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := decoded.At(x, y)
			if l.SamplesPerPixel == 1 {
				out = append(out, color.GrayModel.Convert(c).(color.Gray).Y)
				continue
			}
			rgba := color.RGBAModel.Convert(c).(color.RGBA)
			out = append(out, rgba.R, rgba.G, rgba.B)
		}
	}
	return out
}

// padded is b with a NUL appended when its length is odd.
func padded(b []byte) []byte {
	if len(b)%2 == 1 {
		return append(bytes.Clone(b), 0)
	}
	return b
}

// strValue is the value of a string element of es (values joined by a
// backslash).
func strValue(t *testing.T, es []*dicom.Element, tg tag.Tag) string {
	t.Helper()
	for _, e := range es {
		if e.Tag == tg {
			v, ok := e.Value.GetValue().([]string)
			require.True(t, ok, "%v is not a string element", tg)
			return strings.Join(v, `\`)
		}
	}
	t.Fatalf("no element %v", tg)
	return ""
}

// items returns the items of sequence tg in es.
func items(t *testing.T, es []*dicom.Element, tg tag.Tag) [][]*dicom.Element {
	t.Helper()
	for _, e := range es {
		if e.Tag == tg {
			seq, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
			require.True(t, ok, "%v is not a sequence", tg)
			var out [][]*dicom.Element
			for _, it := range seq {
				out = append(out, it.GetValue().([]*dicom.Element))
			}
			return out
		}
	}
	return nil
}

func TestWritePhoto(t *testing.T) {
	t.Parallel()
	for _, tc := range photoCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := InspectPhoto(bytes.NewReader(tc.img))
			require.NoError(t, err)
			require.Equal(t, tc.want, l)

			p := testPhoto()
			out, wl := writePhoto(t, tc.img, p)
			require.Equal(t, tc.want, wl)

			// This package's reader.
			h, err := ReadHeader(bytes.NewReader(out), int64(len(out)))
			require.NoError(t, err)
			require.Equal(t, VLPhotographicImageStorage, h.SOPClassUID)
			require.Equal(t, p.SOPInstanceUID, h.SOPInstanceUID)
			require.Equal(t, p.StudyInstanceUID, h.StudyInstanceUID)
			require.Equal(t, p.SeriesInstanceUID, h.SeriesInstanceUID)
			require.Equal(t, tc.want.TransferSyntax, h.TransferSyntaxUID)
			require.Equal(t, "ISO_IR 192", h.SpecificCharacterSet)
			require.Equal(t, "XC", h.Modality)
			require.Equal(t, p.PatientName, h.PatientName)
			require.Equal(t, p.PatientID, h.PatientID)
			require.Equal(t, p.PatientBirthDate, h.PatientBirthDate)
			require.Equal(t, p.StudyDate, h.StudyDate)
			require.Equal(t, p.AccessionNumber, h.AccessionNumber)
			require.NotNil(t, h.InstanceNumber)
			require.Equal(t, 3, *h.InstanceNumber)
			require.NotNil(t, h.SeriesNumber)
			require.Equal(t, 1, *h.SeriesNumber)
			require.Equal(t, tc.want.Rows, h.Rows)
			require.Equal(t, tc.want.Columns, h.Columns)
			require.Equal(t, tc.want.Photometric, h.PhotometricInterpretation)
			require.Equal(t, tc.want.SamplesPerPixel, h.SamplesPerPixel)
			require.Equal(t, 8, h.BitsAllocated)
			require.Equal(t, 8, h.BitsStored)
			require.Equal(t, 1, h.NumberOfFrames)

			frame, err := ReadFrame(bytes.NewReader(out), int64(len(out)), 0)
			require.NoError(t, err)
			var want []byte
			if tc.want.TransferSyntax == JPEGBaseline {
				want = padded(tc.img)
			} else {
				want = expectedNative(t, tc.img, tc.want)
			}
			require.True(t, bytes.Equal(want, frame), "pixel data differs from the photo")

			// suyashkumar/dicom's parser.
			ds, err := dicom.Parse(bytes.NewReader(out), int64(len(out)), nil)
			require.NoError(t, err)
			es := ds.Elements
			require.Equal(t, VLPhotographicImageStorage, strValue(t, es, tag.MediaStorageSOPClassUID))
			require.Equal(t, p.SOPInstanceUID, strValue(t, es, tag.MediaStorageSOPInstanceUID))
			require.Equal(t, tc.want.TransferSyntax, strValue(t, es, tag.TransferSyntaxUID))
			require.Equal(t, ImplementationClassUID, strValue(t, es, tag.ImplementationClassUID))
			require.Equal(t, VLPhotographicImageStorage, strValue(t, es, tag.SOPClassUID))
			require.Equal(t, tc.want.Photometric, strValue(t, es, tag.PhotometricInterpretation))
			require.Equal(t, `ORIGINAL\PRIMARY`, strValue(t, es, tag.ImageType))
			lossy := "01"
			if strings.Contains(tc.name, "PNG") {
				lossy = "00"
			}
			require.Equal(t, lossy, strValue(t, es, tag.LossyImageCompression))
			pd, err := ds.FindElementByTag(tag.PixelData)
			require.NoError(t, err)
			info := dicom.MustGetPixelDataInfo(pd.Value)
			require.Len(t, info.Frames, 1)
			if tc.want.TransferSyntax == JPEGBaseline {
				require.True(t, info.IsEncapsulated)
				require.Empty(t, info.Offsets, "Basic Offset Table")
				require.True(t, bytes.Equal(padded(tc.img), info.Frames[0].EncapsulatedData.Data), "fragment differs from the JPEG")
				return
			}
			require.False(t, info.IsEncapsulated)
			nf, err := info.Frames[0].GetNativeFrame()
			require.NoError(t, err)
			require.Equal(t, tc.want.Rows, nf.Rows())
			require.Equal(t, tc.want.Columns, nf.Cols())
			require.Equal(t, tc.want.SamplesPerPixel, nf.SamplesPerPixel())
			require.Equal(t, 8, nf.BitsPerSample())
			x, y := tc.want.Columns/2, tc.want.Rows/3
			px, err := nf.GetPixel(x, y)
			require.NoError(t, err)
			n := tc.want.SamplesPerPixel
			at := want[(y*tc.want.Columns+x)*n:][:n]
			require.Len(t, px, n)
			for i, v := range px {
				require.Equal(t, int(at[i]), v, "sample %d of pixel (%d,%d)", i, x, y)
			}
		})
	}
}

func TestWritePhotoOddLengthJPEG(t *testing.T) {
	t.Parallel()
	img := photoTestdata(t, "video-001.q50.422.jpeg")
	if len(img)%2 == 0 {
		img = append(bytes.Clone(img), 0) // trailing bytes after EOI are kept too
	}
	img = img[:len(img):len(img)]
	out, l := writePhoto(t, img, testPhoto())
	require.Equal(t, JPEGBaseline, l.TransferSyntax)
	frame, err := ReadFrame(bytes.NewReader(out), int64(len(out)), 0)
	require.NoError(t, err)
	require.Equal(t, len(img)+1, len(frame))
	require.True(t, bytes.Equal(img, frame[:len(img)]))
	require.Equal(t, byte(0), frame[len(img)])
}

func TestWritePhotoAnatomicRegion(t *testing.T) {
	t.Parallel()
	img := photoTestdata(t, "video-001.q50.422.jpeg")
	parse := func(t *testing.T, p Photo) []*dicom.Element {
		out, _ := writePhoto(t, img, p)
		ds, err := dicom.Parse(bytes.NewReader(out), int64(len(out)), nil, dicom.SkipPixelData())
		require.NoError(t, err)
		return ds.Elements
	}

	t.Run("LeftForearm", func(t *testing.T) {
		t.Parallel()
		es := parse(t, testPhoto())
		region := items(t, es, tag.AnatomicRegionSequence)
		require.Len(t, region, 1)
		require.Equal(t, "14975008", strValue(t, region[0], tag.CodeValue))
		require.Equal(t, "SCT", strValue(t, region[0], tag.CodingSchemeDesignator))
		require.Equal(t, "Forearm", strValue(t, region[0], tag.CodeMeaning))
		mod := items(t, region[0], tag.AnatomicRegionModifierSequence)
		require.Len(t, mod, 1)
		require.Equal(t, "7771000", strValue(t, mod[0], tag.CodeValue))
		require.Equal(t, "SCT", strValue(t, mod[0], tag.CodingSchemeDesignator))
		require.Equal(t, "Left", strValue(t, mod[0], tag.CodeMeaning))
		require.Equal(t, "left forearm", strValue(t, es, tag.ImageComments))
		require.Empty(t, items(t, es, tag.AcquisitionContextSequence))
	})

	t.Run("NoLaterality", func(t *testing.T) {
		t.Parallel()
		p := testPhoto()
		p.BodySite = "Scalp"
		es := parse(t, p)
		region := items(t, es, tag.AnatomicRegionSequence)
		require.Len(t, region, 1)
		require.Equal(t, "41695006", strValue(t, region[0], tag.CodeValue))
		require.Nil(t, items(t, region[0], tag.AnatomicRegionModifierSequence))
	})

	t.Run("UncodedSiteKeptAsText", func(t *testing.T) {
		t.Parallel()
		p := testPhoto()
		p.BodySite = " mole\x00 near the\tbelly\nbutton \\ \xff "
		es := parse(t, p)
		require.Nil(t, items(t, es, tag.AnatomicRegionSequence))
		require.Equal(t, "mole near the belly button \\ \uFFFD", strValue(t, es, tag.ImageComments))
	})

	t.Run("NoSite", func(t *testing.T) {
		t.Parallel()
		p := testPhoto()
		p.BodySite = ""
		es := parse(t, p)
		require.Nil(t, items(t, es, tag.AnatomicRegionSequence))
		for _, e := range es {
			require.NotEqual(t, tag.ImageComments, e.Tag)
		}
	})
}

func TestWritePhotoEmptyAttributes(t *testing.T) {
	t.Parallel()
	p := Photo{StudyInstanceUID: "2.25.1", SeriesInstanceUID: "2.25.2", SOPInstanceUID: "2.25.3", InstanceNumber: 1}
	out, _ := writePhoto(t, photoTestdata(t, "video-005.gray.q50.jpeg"), p)
	ds, err := dicom.Parse(bytes.NewReader(out), int64(len(out)), nil, dicom.SkipPixelData())
	require.NoError(t, err)
	for _, tg := range []tag.Tag{tag.PatientName, tag.PatientID, tag.PatientBirthDate, tag.PatientSex,
		tag.StudyDate, tag.StudyTime, tag.AccessionNumber, tag.ReferringPhysicianName, tag.StudyID,
		tag.PatientOrientation, tag.Laterality} {
		require.Equal(t, "", strValue(t, ds.Elements, tg), "%v", tg)
	}
	for _, e := range ds.Elements { // type 1C: absent rather than empty
		require.NotContains(t, []tag.Tag{tag.ContentDate, tag.ContentTime, tag.AnatomicRegionSequence}, e.Tag)
	}
}

func TestWritePhotoCleansText(t *testing.T) {
	t.Parallel()
	p := testPhoto()
	p.PatientName = "DOE^JANE\x1b$B\r\n"
	p.PatientID = `P\1` + strings.Repeat("é", 40) // 83 bytes: cut to 64 at a rune boundary
	p.ReferringPhysicianName = strings.Repeat("A", 70) + "=" + strings.Repeat("山", 30)
	p.StudyDescription = "Referral\tfrom\r\nclinic"
	out, _ := writePhoto(t, photoTestdata(t, "video-005.gray.q50.jpeg"), p)
	h, err := ReadHeader(bytes.NewReader(out), int64(len(out)))
	require.NoError(t, err)
	require.Equal(t, "DOE^JANE$B", h.PatientName)
	require.Equal(t, "P/1"+strings.Repeat("é", 30), h.PatientID)
	require.Equal(t, strings.Repeat("A", 64)+"="+strings.Repeat("山", 21), h.ReferringPhysicianName)
	require.Equal(t, "Referral from  clinic", h.StudyDescription)
}

func TestWritePhotoDermoscopic(t *testing.T) {
	t.Parallel()
	p := testPhoto()
	p.Dermoscopic = true
	out, _ := writePhoto(t, photoTestdata(t, "video-001.q50.422.jpeg"), p)
	h, err := ReadHeader(bytes.NewReader(out), int64(len(out)))
	require.NoError(t, err)
	require.Equal(t, DermoscopicPhotographyImageStorage, h.SOPClassUID)
	require.Equal(t, "DMS", h.Modality)
	require.NotNil(t, h.SeriesNumber)
	require.Equal(t, 2, *h.SeriesNumber)
	ds, err := dicom.Parse(bytes.NewReader(out), int64(len(out)), nil, dicom.SkipPixelData())
	require.NoError(t, err)
	require.Equal(t, DermoscopicPhotographyImageStorage, strValue(t, ds.Elements, tag.MediaStorageSOPClassUID))
	require.Equal(t, "YES", strValue(t, ds.Elements, tag.RecognizableVisualFeatures))
	for _, tg := range []tag.Tag{tag.LightSourcePolarization, tag.ContactMethod, tag.EmitterColorTemperature, tag.OpticalMagnificationFactor} {
		require.Equal(t, "", strValue(t, ds.Elements, tg), "%v", tg)
	}
	// The frame of reference is derived from the SOP Instance UID only.
	frameOfRef := strValue(t, ds.Elements, tag.FrameOfReferenceUID)
	require.True(t, validPhotoUID(frameOfRef), frameOfRef)
	require.Equal(t, derivedUID("frame of reference", p.SOPInstanceUID), frameOfRef)
	require.NotEqual(t, derivedUID("frame of reference", "2.25.1004"), frameOfRef)
}

func TestWritePhotoErrors(t *testing.T) {
	t.Parallel()
	img := photoTestdata(t, "video-001.q50.422.jpeg")
	for name, p := range map[string]Photo{
		"MissingStudyUID": {SeriesInstanceUID: "2.25.2", SOPInstanceUID: "2.25.3"},
		"BadSeriesUID":    {StudyInstanceUID: "2.25.1", SeriesInstanceUID: "2.25.02", SOPInstanceUID: "2.25.3"},
		"BadInstanceUID":  {StudyInstanceUID: "2.25.1", SeriesInstanceUID: "2.25.2", SOPInstanceUID: "x"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			_, err := WritePhoto(&buf, img, p)
			var inv *InvalidError
			require.ErrorAs(t, err, &inv)
			require.Zero(t, buf.Len())
		})
	}
	t.Run("TruncatedBaselineJPEG", func(t *testing.T) {
		t.Parallel()
		_, err := WritePhoto(&bytes.Buffer{}, img[:len(img)-2], testPhoto())
		var inv *InvalidError
		require.ErrorAs(t, err, &inv)
		require.ErrorContains(t, err, "cut short")
	})
	t.Run("TruncatedJPEG", func(t *testing.T) {
		t.Parallel()
		prog := photoTestdata(t, "video-001.q50.420.progressive.jpeg")
		_, err := WritePhoto(&bytes.Buffer{}, prog[:len(prog)/2], testPhoto())
		var inv *InvalidError
		require.ErrorAs(t, err, &inv)
	})
}

// jpegHeaderBytes is the start of a JPEG up to and with its SOS marker
// segment: a frame header sof with the given precision, size and
// components (id, sampling byte), an optional APP14 Adobe transform.
func jpegHeaderBytes(sof byte, precision, rows, cols int, comps [][2]byte, adobe int) []byte {
	b := []byte{0xFF, 0xD8}
	if adobe >= 0 {
		b = append(b, 0xFF, 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, byte(adobe))
	}
	seg := []byte{byte(precision), byte(rows >> 8), byte(rows), byte(cols >> 8), byte(cols), byte(len(comps))}
	for _, c := range comps {
		seg = append(seg, c[0], c[1], 0)
	}
	b = append(b, 0xFF, sof, byte((len(seg)+2)>>8), byte(len(seg)+2))
	b = append(b, seg...)
	return append(b, 0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0)
}

func TestInspectPhotoJPEGLayouts(t *testing.T) {
	t.Parallel()
	ycc := func(y byte) [][2]byte { return [][2]byte{{1, y}, {2, 0x11}, {3, 0x11}} }
	for _, tc := range []struct {
		name        string
		img         []byte
		ts, photo   string
		spp         int
		errContains string
	}{
		{"4:2:0", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x22), -1), JPEGBaseline, "YBR_FULL_422", 3, ""},
		{"4:2:2", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x21), -1), JPEGBaseline, "YBR_FULL_422", 3, ""},
		{"4:4:4", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x11), -1), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"4:4:4 as 2x2", jpegHeaderBytes(0xC0, 8, 10, 20, [][2]byte{{1, 0x22}, {2, 0x22}, {3, 0x22}}, -1), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"4:2:0 as 4x4 2x2", jpegHeaderBytes(0xC0, 8, 10, 20, [][2]byte{{1, 0x44}, {2, 0x22}, {3, 0x22}}, -1), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"4:4:0", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x12), -1), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"4:1:1", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x41), -1), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"Adobe RGB", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x11), 0), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"Adobe RGB subsampled", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x22), 0), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"Adobe YCbCr", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x22), 1), JPEGBaseline, "YBR_FULL_422", 3, ""},
		{"RGB component ids", jpegHeaderBytes(0xC0, 8, 10, 20, [][2]byte{{'R', 0x22}, {'G', 0x11}, {'B', 0x11}}, -1), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"grey", jpegHeaderBytes(0xC0, 8, 10, 20, [][2]byte{{1, 0x11}}, -1), JPEGBaseline, "MONOCHROME2", 1, ""},
		{"extended 8-bit", jpegHeaderBytes(0xC1, 8, 10, 20, ycc(0x22), -1), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"progressive grey", jpegHeaderBytes(0xC2, 8, 10, 20, [][2]byte{{1, 0x11}}, -1), ExplicitVRLittleEndian, "MONOCHROME2", 1, ""},
		{"CMYK", jpegHeaderBytes(0xC0, 8, 10, 20, [][2]byte{{1, 0x11}, {2, 0x11}, {3, 0x11}, {4, 0x11}}, 2), ExplicitVRLittleEndian, "RGB", 3, ""},
		{"12-bit", jpegHeaderBytes(0xC1, 12, 10, 20, [][2]byte{{1, 0x11}}, -1), "", "", 0, "12-bit"},
		{"lossless", jpegHeaderBytes(0xC3, 8, 10, 20, [][2]byte{{1, 0x11}}, -1), "", "", 0, "SOF3"},
		{"arithmetic", jpegHeaderBytes(0xC9, 8, 10, 20, ycc(0x22), -1), "", "", 0, "SOF9"},
		{"too large", jpegHeaderBytes(0xC0, 8, 20000, 20000, ycc(0x22), -1), "", "", 0, "more than"},
		{"largest", jpegHeaderBytes(0xC0, 8, 8192, 8192, ycc(0x22), -1), JPEGBaseline, "YBR_FULL_422", 3, ""},
		{"no rows", jpegHeaderBytes(0xC0, 8, 0, 20, ycc(0x22), -1), "", "", 0, "no pixels"},
		{"bad sampling", jpegHeaderBytes(0xC0, 8, 10, 20, ycc(0x05), -1), "", "", 0, "sampling"},
		{"no frame header", []byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}, "", "", 0, "before its frame header"},
		{"cut", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J'}, "", "", 0, "ends before"},
		{"not an image", []byte("GIF89a......"), "", "", 0, "not a JPEG or PNG"},
		{"empty", nil, "", "", 0, "not a JPEG or PNG"},
		{"PNG cut", []byte("\x89PNG\r\n\x1a\n\x00"), "", "", 0, "unreadable PNG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := InspectPhoto(bytes.NewReader(tc.img))
			if tc.errContains != "" {
				var inv *InvalidError
				require.ErrorAs(t, err, &inv)
				require.ErrorContains(t, err, tc.errContains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.ts, l.TransferSyntax)
			require.Equal(t, tc.photo, l.Photometric)
			require.Equal(t, tc.spp, l.SamplesPerPixel)
		})
	}
}

func TestInspectPhotoStopsAtScan(t *testing.T) {
	t.Parallel()
	head := jpegHeaderBytes(0xC0, 8, 4000, 6000, [][2]byte{{1, 0x22}, {2, 0x11}, {3, 0x11}}, -1)
	r := &countingReader{r: io.MultiReader(bytes.NewReader(head), io.LimitReader(generator{}, 64<<20))}
	l, err := InspectPhoto(r)
	require.NoError(t, err)
	require.Equal(t, 6000, l.Columns)
	require.Less(t, r.n, int64(64<<10), "read the entropy-coded data")
}

func TestWritePhotoTooManyPixels(t *testing.T) {
	t.Parallel()
	// A PNG header claiming 12000x7000 16-bit RGBA: its 8-bit RGB native
	// pixels are 240 MiB, allowed; 10000x10000 (286 MiB) is not.
	for _, tc := range []struct {
		w, h int
		ok   bool
	}{{12000, 7000, true}, {10000, 10000, false}} {
		var buf bytes.Buffer
		buf.WriteString("\x89PNG\r\n\x1a\n")
		ihdr := binary.BigEndian.AppendUint32(nil, uint32(tc.w))
		ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(tc.h))
		ihdr = append(ihdr, 16, 6, 0, 0, 0)
		buf.Write(binary.BigEndian.AppendUint32(nil, 13))
		buf.WriteString("IHDR")
		buf.Write(ihdr)
		buf.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...))))
		l, err := InspectPhoto(&buf)
		if tc.ok {
			require.NoError(t, err)
			require.Equal(t, PhotoLayout{TransferSyntax: ExplicitVRLittleEndian, Rows: tc.h, Columns: tc.w, SamplesPerPixel: 3, Photometric: "RGB"}, l)
			continue
		}
		var inv *InvalidError
		require.ErrorAs(t, err, &inv)
	}
}

func TestUIDFromUUID(t *testing.T) {
	t.Parallel()
	require.Equal(t, "2.25.0", UIDFromUUID([16]byte{}))
	var ff [16]byte
	for i := range ff {
		ff[i] = 0xFF
	}
	require.Equal(t, "2.25.340282366920938463463374607431768211455", UIDFromUUID(ff))
	impl := [16]byte{0x67, 0xac, 0x81, 0xc1, 0xd1, 0x4c, 0x4e, 0xdc, 0x93, 0x29, 0x75, 0x0a, 0x30, 0xf7, 0xe2, 0x08}
	require.Equal(t, ImplementationClassUID, UIDFromUUID(impl))
	require.True(t, validUID(ImplementationClassUID))
	require.LessOrEqual(t, len(ImplementationClassUID), 64)
}

// requireTool returns the path of a validator, skipping the test when it
// is not installed (failing under CI=true).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (dcmtk / dicom3tools); CI must have it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// validatorFiles writes every photo case, and a dermoscopic one, to a
// temporary directory and returns their paths by case name.
func validatorFiles(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	write := func(name string, img []byte, p Photo) {
		out, _ := writePhoto(t, img, p)
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".dcm")
		require.NoError(t, os.WriteFile(path, out, 0o644))
		files[name] = path
	}
	for _, tc := range photoCases(t) {
		write(tc.name, tc.img, testPhoto())
	}
	p := testPhoto()
	p.Dermoscopic = true
	write("dermoscopic", photoTestdata(t, "video-001.q50.422.jpeg"), p)
	p = Photo{StudyInstanceUID: "2.25.1", SeriesInstanceUID: "2.25.2", SOPInstanceUID: "2.25.3", InstanceNumber: 1}
	write("empty attributes", photoTestdata(t, "video-005.gray.q50.jpeg"), p)
	p.Dermoscopic = true
	write("empty attributes dermoscopic", photoTestdata(t, "video-005.gray.q50.jpeg"), p)
	sites := []string{"right thumb", "bilateral knees", "forearm (L)", "not a site"}
	for name := range bodySites {
		sites = append(sites, name) // every site, for the Laterality rules
	}
	for _, site := range sites {
		p := testPhoto()
		p.BodySite = site
		write("site "+site, photoTestdata(t, "video-001.q50.422.jpeg"), p)
	}
	return files
}

func TestWritePhotoDcmdump(t *testing.T) {
	t.Parallel()
	dcmdump := requireTool(t, "dcmdump")
	for name, path := range validatorFiles(t) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(dcmdump, "-E", path)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "%s: dcmdump -E: %s", name, stderr.String())
		for _, line := range strings.Split(stderr.String(), "\n") {
			require.False(t, strings.HasPrefix(line, "W:") || strings.HasPrefix(line, "E:"), "%s: dcmdump: %s", name, line)
		}
	}
}

func TestWritePhotoDciodvfy(t *testing.T) {
	t.Parallel()
	dciodvfy := requireTool(t, "dciodvfy")
	var errs []string
	for name, path := range validatorFiles(t) {
		out, _ := exec.Command(dciodvfy, path).CombinedOutput() // exits non-zero on warnings
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "Error") {
				errs = append(errs, name+": "+line)
			}
			if strings.HasPrefix(line, "Warning") {
				t.Logf("%s: dciodvfy: %s", name, line)
			}
		}
	}
	slices.Sort(errs)
	require.Empty(t, errs, "dciodvfy errors")
}
