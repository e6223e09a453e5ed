package dicomfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goodFiles are the testdata files ReadHeader must accept, with the facts
// listed for them in /work/shared/testdata/dicom/MANIFEST.md.
var goodFiles = []struct {
	name                 string
	modality             string
	rows, cols, frames   int
	transferSyntax       string
	hasPixelData         bool
	photometric          string
	bitsAlloc, bitsStore int
}{
	{"CT_small.dcm", "CT", 128, 128, 1, tsExplicitLE, true, "MONOCHROME2", 16, 16},
	{"MR_small.dcm", "MR", 64, 64, 1, tsExplicitLE, true, "MONOCHROME2", 16, 16},
	{"MR_small_implicit.dcm", "MR", 64, 64, 1, tsImplicitLE, true, "MONOCHROME2", 16, 16},
	{"MR_small_bigendian.dcm", "MR", 64, 64, 1, tsExplicitBE, true, "MONOCHROME2", 16, 16},
	{"MR_small_RLE.dcm", "MR", 64, 64, 1, tsRLE, true, "MONOCHROME2", 16, 16},
	{"MR_small_jp2klossless.dcm", "MR", 64, 64, 1, "1.2.840.10008.1.2.4.90", true, "MONOCHROME2", 16, 16},
	{"MR_small_jpeg_ls_lossless.dcm", "MR", 64, 64, 1, "1.2.840.10008.1.2.4.80", true, "MONOCHROME2", 16, 16},
	{"CR_mono1_6154.dcm", "CR", 16, 16, 1, tsExplicitLE, true, "MONOCHROME1", 16, 12},
	{"ExplVR_BigEnd_US_rgb.dcm", "US", 60, 80, 1, tsExplicitBE, true, "RGB", 8, 8},
	{"JPEG2000.dcm", "NM", 1024, 256, 1, "1.2.840.10008.1.2.4.91", true, "MONOCHROME2", 16, 16},
	{"JPGExtended.dcm", "NM", 1024, 256, 1, tsJPEGExtended, true, "MONOCHROME2", 16, 12},
	{"SC_rgb_jpeg_dcmtk.dcm", "OT", 100, 100, 1, tsJPEGBaseline, true, "YBR_FULL", 8, 8},
	{"SC_jpeg_no_color_transform.dcm", "", 256, 256, 1, tsJPEGBaseline, true, "RGB", 8, 8},
	{"SC_rgb_jpeg_gdcm_lossless.dcm", "OT", 100, 100, 1, "1.2.840.10008.1.2.4.70", true, "RGB", 8, 8},
	{"SC_rgb_rle_2frame.dcm", "OT", 100, 100, 2, tsRLE, true, "RGB", 8, 8},
	{"SC_rgb_small_odd.dcm", "OT", 3, 3, 1, tsExplicitLE, true, "RGB", 8, 8},
	{"image_dfl.dcm", "OT", 512, 512, 1, tsDeflatedLE, true, "MONOCHROME2", 8, 8},
	{"rtdose.dcm", "RTDOSE", 10, 10, 15, tsImplicitLE, true, "MONOCHROME2", 32, 32},
	{"liver_1frame_SEG.dcm", "SEG", 512, 512, 1, tsExplicitLE, true, "MONOCHROME2", 1, 1},
	{"test-SR.dcm", "SR", 0, 0, 0, tsExplicitLE, false, "", 0, 0},
	{"chrX1_utf8.dcm", "OT", 32, 32, 1, tsExplicitLE, true, "MONOCHROME2", 8, 8},
	{"chrJapMulti_iso2022.dcm", "CR", 32, 32, 0, tsExplicitLE, false, "MONOCHROME1", 16, 12},
	{"chrRuss_iso_ir_144.dcm", "OT", 32, 32, 1, tsExplicitLE, true, "MONOCHROME2", 8, 8},
	{"nopreamble_rtstruct_implicit.dcm", "RTSTRUCT", 0, 0, 0, tsImplicitLE, false, "", 0, 0},
	{"nopreamble_ExplVR_LitEndNoMeta.dcm", "RTPLAN", 0, 0, 0, tsExplicitLE, false, "", 0, 0},
	{"derived_retina_vl_photo.dcm", "XC", 1411, 1411, 1, tsJPEGBaseline, true, "YBR_FULL_422", 8, 8},
}

func TestReadHeaderGoodFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range goodFiles {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := readTestdata(t, tc.name)
			h, err := ReadHeader(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			require.Equal(t, tc.modality, h.Modality)
			require.Equal(t, tc.rows, h.Rows)
			require.Equal(t, tc.cols, h.Columns)
			require.Equal(t, tc.frames, h.NumberOfFrames)
			require.Equal(t, tc.transferSyntax, h.TransferSyntaxUID)
			require.Equal(t, tc.hasPixelData, h.HasPixelData)
			require.Equal(t, tc.photometric, h.PhotometricInterpretation)
			require.Equal(t, tc.bitsAlloc, h.BitsAllocated)
			require.Equal(t, tc.bitsStore, h.BitsStored)
			require.True(t, validUID(h.SOPInstanceUID))

			// The same result when the size is unknown.
			h2, err := ReadHeader(io.MultiReader(bytes.NewReader(data)), -1)
			require.NoError(t, err)
			require.Equal(t, h, h2)

			dicomJSON, err := h.JSON()
			require.NoError(t, err)
			golden, err := json.MarshalIndent(struct {
				Header    *Header
				DICOMJSON json.RawMessage
			}{h, dicomJSON}, "", "  ")
			require.NoError(t, err)
			compareGolden(t, tc.name+".json", append(golden, '\n'))
		})
	}
}

func TestReadHeaderCharacterSets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, name string
	}{
		{"chrX1_utf8.dcm", "Wang^XiaoDong=王^小東="},
		{"chrRuss_iso_ir_144.dcm", "Люкceмбypг"},
		{"chrJapMulti_iso2022.dcm", "やまだ^たろう"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readTestdata(t, tc.file)
			h, err := ReadHeader(bytes.NewReader(data), int64(len(data)))
			require.NoError(t, err)
			require.Equal(t, tc.name, h.PatientName)
		})
	}
}

func TestReadHeaderSameInstanceAcrossSyntaxes(t *testing.T) {
	t.Parallel()
	var first *Header
	for _, name := range []string{"MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm"} {
		data := readTestdata(t, name)
		h, err := ReadHeader(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		h.TransferSyntaxUID = ""
		if first == nil {
			first = h
			continue
		}
		require.Equal(t, first, h, name)
	}
}

// requireInvalid checks that err is an *InvalidError whose reason contains
// want.
func requireInvalid(t *testing.T, err error, want string) {
	t.Helper()
	var inv *InvalidError
	require.ErrorAs(t, err, &inv)
	require.Contains(t, inv.Reason, want)
}

func TestReadHeaderBadFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, reason string
	}{
		{"bad_MR_truncated.dcm", "truncated: element (7FE0,0010) declares 8192 bytes but only 8130 remain"},
		{"bad_rtplan_truncated.dcm", "truncated: element (300A,00B0) declares 976 bytes but only 711 remain"},
		{"bad_derived_CT_small_cut_20000.dcm", "truncated: element (7FE0,0010) declares 32768 bytes but only 13700 remain"},
		{"bad_derived_CT_small_preamble_only.dcm", "truncated: file ends right after the DICM prefix"},
		{"bad_no_meta_shifted.dcm", "not a DICOM file"},
		{"bad_meta_missing_tsyntax.dcm", "lacks Transfer Syntax UID"},
		{"bad_badVR.dcm", `Number of Frames "1A" is not an integer`},
		{"DICOMDIR", "missing SOP Instance UID"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readTestdata(t, tc.file)
			_, err := ReadHeader(bytes.NewReader(data), int64(len(data)))
			requireInvalid(t, err, tc.reason)
			// Unknown size: still rejected.
			_, err = ReadHeader(bytes.NewReader(data), -1)
			var inv *InvalidError
			require.ErrorAs(t, err, &inv)
		})
	}
}

// TestReadHeaderEveryBadFile guards against a bad_* file being added to
// testdata without a case above.
func TestReadHeaderEveryBadFile(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "bad_*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = ReadHeader(bytes.NewReader(data), int64(len(data)))
		var inv *InvalidError
		require.ErrorAs(t, err, &inv, f)
	}
}

func TestReadHeaderSynthesized(t *testing.T) {
	t.Parallel()
	pdf := append([]byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"), bytes.Repeat([]byte("x"), 300)...)
	nested := newPart10(tsExplicitLE, explicitLE()).withUIDs()
	for range 40 {
		nested.header(0x00081115, "SQ", undefinedLength).header(tagItem, "", undefinedLength)
	}
	tests := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"Empty", nil, "empty file"},
		{"PDF", pdf, "not a DICOM file (no DICM prefix and no parseable dataset)"},
		{"MissingSOPInstanceUID", newPart10(tsExplicitLE, explicitLE()).
			str(tagStudyUID, "UI", "1.2.3").str(tagSeriesUID, "UI", "1.2.3.4").bytes(), "missing SOP Instance UID"},
		{"MissingStudyInstanceUID", newPart10(tsExplicitLE, explicitLE()).
			str(tagSOPInstanceUID, "UI", "1.2.3").str(tagSeriesUID, "UI", "1.2.3.4").bytes(), "missing Study Instance UID"},
		{"MissingSeriesInstanceUID", newPart10(tsExplicitLE, explicitLE()).
			str(tagSOPInstanceUID, "UI", "1.2.3").str(tagStudyUID, "UI", "1.2.3.4").bytes(), "missing Series Instance UID"},
		{"InvalidUID", newPart10(tsExplicitLE, explicitLE()).
			str(tagSOPInstanceUID, "UI", "1.2.x").str(tagStudyUID, "UI", "1.2").str(tagSeriesUID, "UI", "1.3").bytes(), "invalid SOP Instance UID"},
		{"UndefinedLengthText", newPart10(tsExplicitLE, explicitLE()).withUIDs().
			header(0x00204000, "UT", undefinedLength).bytes(), "element (0020,4000) declares an impossible length 4294967295"},
		{"UndefinedLengthImplicitString", newDataset(implicitLE()).withUIDs().
			header(tagPatientName, "", undefinedLength).bytes(), "element (0010,0010) declares an impossible length 4294967295"},
		{"InvalidVR", newPart10(tsExplicitLE, explicitLE()).withUIDs().raw([]byte{0x10, 0, 0x10, 0, 'p', 'n', 0, 0}).bytes(), "invalid VR"},
		{"TruncatedHeader", newPart10(tsExplicitLE, explicitLE()).withUIDs().raw([]byte{0x10, 0, 0x10}).bytes(), "file ends inside an element header"},
		{"DeepNesting", nested.bytes(), "nested deeper than 32 levels"},
		{"ItemLongerThanSequence", newPart10(tsExplicitLE, explicitLE()).withUIDs().
			header(0x00081115, "SQ", 16).header(tagItem, "", 64).raw(make([]byte, 80)).bytes(), "declares 64 bytes but only 8 remain in its sequence item"},
		{"UnterminatedSequence", newPart10(tsExplicitLE, explicitLE()).withUIDs().
			header(0x00081115, "SQ", undefinedLength).header(tagItem, "", undefinedLength).bytes(), "file ends inside a sequence item"},
		{"ShortPixelData", newPart10(tsExplicitLE, explicitLE()).withUIDs().
			image("MONOCHROME2", 4, 4, 1, 16, make([]byte, 16)).bytes(), "pixel data holds 16 bytes but 4×4×1 frames need 32"},
		{"ItemAtTopLevel", newPart10(tsExplicitLE, explicitLE()).withUIDs().header(tagItem, "", 0).bytes(), "unexpected (FFFE,E000) at the top level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadHeader(bytes.NewReader(tc.data), int64(len(tc.data)))
			requireInvalid(t, err, tc.reason)
		})
	}
}

// hugeElement is a valid header followed by an element declaring
// 0xFFFFFFF0 bytes, of which only 20 follow.
func hugeElement(enc encoding) []byte {
	b := newPart10(tsExplicitLE, explicitLE())
	if !enc.explicit {
		b = newPart10(tsImplicitLE, implicitLE())
	}
	return b.withUIDs().header(tagPatientName, "OB", 0xFFFFFFF0).raw(make([]byte, 20)).bytes()
}

// TestReadHeaderHugeLength is not parallel: it measures allocations.
func TestReadHeaderHugeLength(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		size   func(int) int64
		reason string
	}{
		{"ImplicitKnownSize", hugeElement(implicitLE()), func(n int) int64 { return int64(n) }, "truncated: element (0010,0010) declares 4294967280 bytes but only 20 remain"},
		{"ImplicitUnknownSize", hugeElement(implicitLE()), func(int) int64 { return -1 }, "truncated: element (0010,0010) declares 4294967280 bytes but only 20 remain"},
		{"ExplicitKnownSize", hugeElement(explicitLE()), func(n int) int64 { return int64(n) }, "truncated: element (0010,0010) declares 4294967280 bytes but only 20 remain"},
		{"ExplicitUnknownSize", hugeElement(explicitLE()), func(int) int64 { return -1 }, "declares 4294967280 bytes but only 20 remain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadHeader(bytes.NewReader(tc.data), tc.size(len(tc.data)))
			runtime.ReadMemStats(&after)
			requireInvalid(t, err, tc.reason)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "allocated for a declared length")
		})
	}
}

// pixelStream is a ~200 MB DICOM file built on the fly: a small valid
// header, then native pixel data produced by a generator reader.
func pixelStream(t *testing.T) (io.Reader, int64) {
	t.Helper()
	const rows, cols = 10000, 10000 // 16-bit: 200,000,000 bytes
	head := newPart10(tsExplicitLE, explicitLE()).withUIDs().str(tagModality, "CS", "CT").
		us(tagSamplesPerPixel, 1).str(tagPhotometric, "CS", "MONOCHROME2").
		us(tagRows, rows).us(tagColumns, cols).us(tagBitsAllocated, 16).us(tagBitsStored, 16).
		header(tagPixelData, "OW", rows*cols*2).bytes()
	n := int64(rows * cols * 2)
	return io.MultiReader(bytes.NewReader(head), io.LimitReader(generator{}, n)), int64(len(head)) + n
}

// generator yields endless bytes without touching memory.
type generator struct{}

func (generator) Read(p []byte) (int, error) { return len(p), nil }

// TestReadHeaderLargeFileMemory is not parallel: it measures allocations.
func TestReadHeaderLargeFileMemory(t *testing.T) {
	for _, known := range []bool{true, false} {
		r, size := pixelStream(t)
		if !known {
			size = -1
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h, err := ReadHeader(r, size)
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.Equal(t, 10000, h.Rows)
		require.True(t, h.HasPixelData)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(2<<20), "ReadHeader must not hold pixel data")
		require.Less(t, after.HeapAlloc, before.HeapAlloc+8<<20)
	}
}

func TestReadHeaderStopsAtSize(t *testing.T) {
	t.Parallel()
	data := readTestdata(t, "CT_small.dcm")
	// Bytes beyond size are never read: the file is complete at size.
	r := io.MultiReader(bytes.NewReader(data), errReader{})
	h, err := ReadHeader(r, int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, "CT", h.Modality)
	// A size shorter than the file makes it truncated.
	_, err = ReadHeader(bytes.NewReader(data), 30000)
	requireInvalid(t, err, "truncated: element (7FE0,0010) declares 32768 bytes but only 23700 remain")
}

// errReader fails any read.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read past the declared size") }

func TestReadHeaderReaderErrorIsNotInvalid(t *testing.T) {
	t.Parallel()
	data := readTestdata(t, "CT_small.dcm")
	r := io.MultiReader(bytes.NewReader(data[:20000]), errReader{})
	_, err := ReadHeader(r, int64(len(data)))
	require.Error(t, err)
	var inv *InvalidError
	require.False(t, errors.As(err, &inv), "an I/O error is not the uploader's fault: %v", err)
	require.True(t, strings.Contains(err.Error(), "read past the declared size"))
}

func TestNumberOfFrames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]int{"rtdose.dcm": 15, "SC_rgb_rle_2frame.dcm": 2, "CT_small.dcm": 1, "test-SR.dcm": 0} {
		data := readTestdata(t, name)
		h, err := ReadHeader(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		require.Equal(t, want, h.NumberOfFrames, name)
	}
}
