package dicomfile

import (
	"bytes"
	"image"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		u := NewUID()
		require.True(t, validUID(u), u)
		require.True(t, strings.HasPrefix(u, "2.25."), u)
		require.LessOrEqual(t, len(u), 64)
		require.NotContains(t, strings.TrimPrefix(u, "2.25."), ".")
		require.False(t, strings.HasPrefix(u, "2.25.0"), "no leading zero: %s", u)
		require.False(t, seen[u])
		seen[u] = true
	}
}

func TestRewriteUIDs(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "SC_rgb_rle_2frame.dcm",
		"image_dfl.dcm", "nopreamble_rtstruct_implicit.dcm", "rtdose.dcm",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := readTestdata(t, name)
			study, series, instance := NewUID(), NewUID(), NewUID()
			var out bytes.Buffer
			require.NoError(t, RewriteUIDs(&out, bytes.NewReader(src), study, series, instance))

			before, err := ReadHeader(bytes.NewReader(src), int64(len(src)))
			require.NoError(t, err)
			after, err := ReadHeader(bytes.NewReader(out.Bytes()), int64(out.Len()))
			require.NoError(t, err)
			require.Equal(t, study, after.StudyInstanceUID)
			require.Equal(t, series, after.SeriesInstanceUID)
			require.Equal(t, instance, after.SOPInstanceUID)
			before.StudyInstanceUID, before.SeriesInstanceUID, before.SOPInstanceUID = study, series, instance
			require.Equal(t, before, after, "only the UIDs change")

			_, fs, err := openFile(bytes.NewReader(out.Bytes()), int64(out.Len()))
			require.NoError(t, err)
			for _, m := range fs.meta {
				if m.tag == tagMediaSOPInst {
					require.Equal(t, instance, trimValue(m.value))
				}
			}

			if before.HasPixelData {
				want, err := RenderFrame(bytes.NewReader(src), 0)
				require.NoError(t, err)
				got, err := RenderFrame(bytes.NewReader(out.Bytes()), 0)
				require.NoError(t, err)
				require.Equal(t, want, got)
			}
		})
	}
}

func TestRewriteUIDsKeepsEveryOtherByte(t *testing.T) {
	t.Parallel()
	src := readTestdata(t, "CT_small.dcm")
	h, err := ReadHeader(bytes.NewReader(src), int64(len(src)))
	require.NoError(t, err)
	var out bytes.Buffer
	// Rewriting with the same UIDs gives back the file byte for byte.
	require.NoError(t, RewriteUIDs(&out, bytes.NewReader(src), h.StudyInstanceUID, h.SeriesInstanceUID, h.SOPInstanceUID))
	require.Equal(t, src, out.Bytes())
}

func TestRewriteUIDsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     []byte
		uid     string
		wantErr string
	}{
		{"InvalidUID", readTestdata(t, "CT_small.dcm"), "1.2.abc", `invalid UID "1.2.abc"`},
		{"MissingSeries", newPart10(tsExplicitLE, explicitLE()).str(tagSOPInstanceUID, "UI", "1.2").str(tagStudyUID, "UI", "1.3").bytes(), "1.2.3", "source has no (0020,000E)"},
		{"Truncated", readTestdata(t, "bad_derived_CT_small_cut_20000.dcm"), "1.2.3", "truncated"},
		{"NotDICOM", []byte("%PDF-1.4 not at all DICOM, but long enough to look at"), "1.2.3", "not a DICOM file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := RewriteUIDs(&bytes.Buffer{}, bytes.NewReader(tc.src), tc.uid, tc.uid, tc.uid)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// BenchmarkRewriteUIDs measures making one distinct instance from CT_small.
func BenchmarkRewriteUIDs(b *testing.B) {
	src, err := readFileForBench("CT_small.dcm")
	require.NoError(b, err)
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		if err := RewriteUIDs(&out, bytes.NewReader(src), NewUID(), NewUID(), NewUID()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderFrame measures rendering CT_small.
func BenchmarkRenderFrame(b *testing.B) {
	src, err := readFileForBench("CT_small.dcm")
	require.NoError(b, err)
	var img image.Image
	for b.Loop() {
		if img, err = RenderFrame(bytes.NewReader(src), 0); err != nil {
			b.Fatal(err)
		}
	}
	_ = img
}
