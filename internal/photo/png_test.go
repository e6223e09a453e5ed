package photo

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStripPNGChunks(t *testing.T) {
	t.Parallel()

	img := quadrants(16, 16)
	iccp, err := iccpChunk(fakeICC("RGB "))
	require.NoError(t, err)
	srgb := pngChunk("sRGB", []byte{0})
	gama := pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F})

	tests := []struct {
		name     string
		early    [][]byte
		late     [][]byte
		keepICC  bool
		types    []string
		stripped []string
	}{
		{"ColourKept", [][]byte{iccp, srgb, gama}, nil, true, []string{"IHDR", "iCCP", "sRGB", "gAMA", "IDAT", "IEND"}, nil},
		{"ICCDropped", [][]byte{iccp, srgb}, nil, false, []string{"IHDR", "sRGB", "IDAT", "IEND"}, []string{"icc"}},
		{"APNG", [][]byte{pngChunk("acTL", make([]byte, 8)), pngChunk("fcTL", make([]byte, 26))}, nil, true,
			[]string{"IHDR", "IDAT", "IEND"}, []string{"animation"}},
		{"CompressedText", nil, [][]byte{pngChunk("zTXt", []byte("Author\x00\x00x\x9c"))}, true,
			[]string{"IHDR", "IDAT", "IEND"}, []string{"text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := encodePNG(t, img, tt.early, tt.late)
			var out bytes.Buffer
			info, err := stripPNG(&out, bytes.NewReader(in), tt.keepICC)
			require.NoError(t, err)
			require.Equal(t, tt.types, pngChunkTypes(t, out.Bytes()))
			require.Equal(t, nameSet(tt.stripped), info.stripped)
		})
	}

	t.Run("TrailingData", func(t *testing.T) {
		t.Parallel()
		in := append(encodePNG(t, img, nil, nil), "PK\x03\x04 a zip"...)
		res, out, err := process(t, in, Options{MinSide: -1})
		require.NoError(t, err)
		require.Equal(t, []string{"trailing-data"}, res.StrippedMetadata)
		require.Equal(t, []string{"IHDR", "IDAT", "IEND"}, pngChunkTypes(t, out))
	})
	t.Run("ICCSpace", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, "RGB ", pngICCSpace(iccp[8:len(iccp)-4]))
		require.Empty(t, pngICCSpace([]byte("name\x00\x00not zlib")))
		require.Empty(t, pngICCSpace([]byte("no separator")))
	})
}
