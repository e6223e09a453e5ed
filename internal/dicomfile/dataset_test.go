package dicomfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// datasetOf returns the JSON data set of a testdata file, decoded.
func datasetOf(t *testing.T, name string) map[string]struct {
	VR           string            `json:"vr"`
	Value        []json.RawMessage `json:"Value"`
	BulkDataURI  string
	InlineBinary string
} {
	t.Helper()
	data := readTestdata(t, name)
	b, err := DatasetJSON(bytes.NewReader(data), int64(len(data)), func(tag string) string { return "bulk/" + tag })
	require.NoError(t, err, name)
	var ds map[string]struct {
		VR           string            `json:"vr"`
		Value        []json.RawMessage `json:"Value"`
		BulkDataURI  string
		InlineBinary string
	}
	require.NoError(t, json.Unmarshal(b, &ds), name)
	return ds
}

func TestDatasetJSONCT(t *testing.T) {
	ds := datasetOf(t, "CT_small.dcm")
	require.Equal(t, "PN", ds["00100010"].VR)
	require.JSONEq(t, `{"Alphabetic":"CompressedSamples^CT1"}`, string(ds["00100010"].Value[0]))
	require.Equal(t, "US", ds["00280010"].VR)
	require.Equal(t, "128", string(ds["00280010"].Value[0]))
	require.Equal(t, "UI", ds["0020000D"].VR)
	require.Equal(t, `"1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"`, string(ds["0020000D"].Value[0]))
	require.Equal(t, "bulk/7FE00010", ds["7FE00010"].BulkDataURI)
	require.Equal(t, "OW", ds["7FE00010"].VR)
	require.Empty(t, ds["7FE00010"].Value)
	for k := range ds {
		require.False(t, strings.HasPrefix(k, "0002"), "file meta %s is not in the data set", k)
	}
	// DS is a number, IS a number.
	require.Equal(t, "DS", ds["00181130"].VR)
	require.Equal(t, "133.699997", string(ds["00181130"].Value[0]))
	require.Equal(t, "SQ", ds["00101002"].VR)
	require.Len(t, ds["00101002"].Value, 2)
	require.Equal(t, "SS", ds["00191057"].VR)
	require.Equal(t, "-95", string(ds["00191057"].Value[0]))
	require.Equal(t, "IS", ds["00200013"].VR)
	var n int
	require.NoError(t, json.Unmarshal(ds["00200013"].Value[0], &n))
}

func TestDatasetJSONCharset(t *testing.T) {
	ds := datasetOf(t, "chrRuss_iso_ir_144.dcm")
	require.Equal(t, `"ISO_IR 192"`, string(ds["00080005"].Value[0]))
	var pn PersonName
	require.NoError(t, json.Unmarshal(ds["00100010"].Value[0], &pn))
	require.Equal(t, "Люкceмбypг", pn.Alphabetic)

	ds = datasetOf(t, "chrJapMulti_iso2022.dcm")
	require.NoError(t, json.Unmarshal(ds["00100010"].Value[0], &pn))
	require.Equal(t, "やまだ^たろう", pn.Alphabetic, "ISO 2022 escapes are decoded")
	ds = datasetOf(t, "chrX1_utf8.dcm")
	require.NoError(t, json.Unmarshal(ds["00100010"].Value[0], &pn))
	require.Equal(t, PersonName{Alphabetic: "Wang^XiaoDong", Ideographic: "王^小東"}, pn)
}

// TestDatasetJSONAll reads every valid test file: the JSON is well formed,
// sequences are nested data sets.
func TestDatasetJSONAll(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, "bad_") || strings.HasSuffix(name, ".md") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			ds := datasetOf(t, name)
			require.NotEmpty(t, ds)
			for tag, a := range ds {
				require.NotEmpty(t, a.VR, tag)
				if a.VR == "SQ" {
					for _, it := range a.Value {
						var item map[string]json.RawMessage
						require.NoError(t, json.Unmarshal(it, &item), tag)
					}
				}
			}
		})
	}
	// Malformed files are errors, not panics.
	for _, name := range []string{"bad_MR_truncated.dcm", "bad_rtplan_truncated.dcm", "bad_derived_CT_small_cut_20000.dcm"} {
		data := readTestdata(t, name)
		_, err := DatasetJSON(bytes.NewReader(data), int64(len(data)), nil)
		var inv *InvalidError
		require.True(t, errors.As(err, &inv), "%s: %v", name, err)
	}
}

func TestDatasetJSONDoesNotReadPixelData(t *testing.T) {
	data := readTestdata(t, "CT_small.dcm")
	r := &countingReader{r: bytes.NewReader(data)}
	_, err := DatasetJSON(r, int64(len(data)), nil)
	require.NoError(t, err)
	require.Less(t, r.n, int64(len(data)-128*128*2+32<<10+1), "stops at the pixel data (one buffer ahead at most)")
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadFrameNative(t *testing.T) {
	data := readTestdata(t, "CT_small.dcm")
	loc, vr, err := LocateValue(bytes.NewReader(data), int64(len(data)), 0x7FE00010)
	require.NoError(t, err)
	pixels, err := io.ReadAll(vr)
	require.NoError(t, err)
	require.Equal(t, int64(128*128*2), loc.Length)
	require.Equal(t, pixels, data[loc.Offset:loc.Offset+loc.Length])

	fr, err := FrameLayout(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, Frames{TransferSyntax: tsExplicitLE, Count: 1, FrameSize: 128 * 128 * 2, Offset: loc.Offset, Length: loc.Length}, *fr)

	frame, err := ReadFrame(bytes.NewReader(data), int64(len(data)), 0)
	require.NoError(t, err)
	require.Equal(t, pixels, frame)
	_, err = ReadFrame(bytes.NewReader(data), int64(len(data)), 1)
	var re *RangeError
	require.ErrorAs(t, err, &re)

	_, _, err = LocateValue(bytes.NewReader(data), int64(len(data)), 0x00091099)
	require.ErrorIs(t, err, ErrNoElement)
}

func TestReadFrameEncapsulated(t *testing.T) {
	data := readTestdata(t, "SC_rgb_rle_2frame.dcm")
	fr, err := FrameLayout(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.True(t, fr.Encapsulated)
	require.Equal(t, 2, fr.Count)
	require.Equal(t, tsRLE, fr.TransferSyntax)
	var frames [][]byte
	for i := 0; i < 2; i++ {
		b, err := ReadFrame(bytes.NewReader(data), int64(len(data)), i)
		require.NoError(t, err)
		require.Equal(t, uint32(3), le32(b), "an RLE frame starts with its segment count")
		require.True(t, bytes.Contains(data, b), "the frame is one fragment of the file")
		frames = append(frames, b)
	}
	require.NotEqual(t, frames[0], frames[1])

	data = readTestdata(t, "JPEG2000.dcm")
	b, err := ReadFrame(bytes.NewReader(data), int64(len(data)), 0)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(b, []byte{0xFF, 0x4F}) || bytes.Contains(b[:12], []byte("jP")), "a JPEG 2000 code stream")
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestRenderFrameWithWindow(t *testing.T) {
	data := readTestdata(t, "CT_small.dcm")
	a, err := RenderFrameWindow(bytes.NewReader(data), 0, nil)
	require.NoError(t, err)
	b, err := RenderFrameWindow(bytes.NewReader(data), 0, &Window{Center: 0, Width: 10})
	require.NoError(t, err)
	require.Equal(t, a.Bounds(), b.Bounds())
	require.NotEqual(t, a.(*image.Gray).Pix, b.(*image.Gray).Pix, "the window given is used")
}
