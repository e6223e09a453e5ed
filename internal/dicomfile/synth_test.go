package dicomfile

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResample(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file       string
		rows, cols int
		// up: every source pixel survives, so the renders' windows agree
		// and pixels can be compared.
		up bool
	}{
		{"CT_small.dcm", 512, 512, true},
		{"CT_small.dcm", 64, 100, false},
		{"MR_small_implicit.dcm", 256, 256, true},
		{"MR_small_bigendian.dcm", 128, 128, true},
		{"SC_rgb_small_odd.dcm", 5, 3, true},
	} {
		t.Run(fmt.Sprintf("%s_%dx%d", tc.file, tc.rows, tc.cols), func(t *testing.T) {
			t.Parallel()
			src := readTestdata(t, tc.file)
			var out bytes.Buffer
			require.NoError(t, Resample(&out, bytes.NewReader(src), tc.rows, tc.cols))

			before, err := ReadHeader(bytes.NewReader(src), int64(len(src)))
			require.NoError(t, err)
			after, err := ReadHeader(bytes.NewReader(out.Bytes()), int64(out.Len()))
			require.NoError(t, err)
			require.Equal(t, tc.rows, after.Rows)
			require.Equal(t, tc.cols, after.Columns)
			before.Rows, before.Columns = tc.rows, tc.cols
			require.Equal(t, before, after, "only rows and columns change")

			want, err := RenderFrame(bytes.NewReader(src), 0)
			require.NoError(t, err)
			got, err := RenderFrame(bytes.NewReader(out.Bytes()), 0)
			require.NoError(t, err)
			wb, gb := want.Bounds(), got.Bounds()
			require.Equal(t, tc.cols, gb.Dx())
			require.Equal(t, tc.rows, gb.Dy())
			if !tc.up {
				return
			}
			for _, p := range [][2]int{{0, 0}, {tc.rows - 1, tc.cols - 1}, {tc.rows / 2, tc.cols / 3}} {
				r, c := p[0], p[1]
				require.Equal(t, want.At(wb.Min.X+c*wb.Dx()/tc.cols, wb.Min.Y+r*wb.Dy()/tc.rows), got.At(gb.Min.X+c, gb.Min.Y+r), "pixel %d,%d", r, c)
			}
		})
	}
}

func TestResampleSize(t *testing.T) {
	t.Parallel()
	src := readTestdata(t, "CT_small.dcm")
	var out bytes.Buffer
	require.NoError(t, Resample(&out, bytes.NewReader(src), 512, 512))
	// 16-bit pixels: the file grows by exactly the extra pixel bytes.
	require.Equal(t, len(src)+(512*512-128*128)*2, out.Len())

	// Resampling back to the original size gives the file back.
	var back bytes.Buffer
	require.NoError(t, Resample(&back, bytes.NewReader(out.Bytes()), 128, 128))
	require.Equal(t, src, back.Bytes())
}

func TestResampleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		file       string
		rows, cols int
		wantErr    string
	}{
		{"InvalidSize", "CT_small.dcm", 0, 10, "invalid size"},
		{"Encapsulated", "MR_small_RLE.dcm", 10, 10, "is not native"},
		{"Deflated", "image_dfl.dcm", 10, 10, "is not native"},
		{"MultiFrame", "rtdose.dcm", 10, 10, "only single-frame"},
		{"NoPixelData", "test-SR.dcm", 10, 10, "no top-level Pixel Data"},
		{"Truncated", "bad_derived_CT_small_cut_20000.dcm", 10, 10, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Resample(&bytes.Buffer{}, bytes.NewReader(readTestdata(t, tc.file)), tc.rows, tc.cols)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
