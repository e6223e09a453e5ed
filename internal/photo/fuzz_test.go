package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzProcess feeds Process arbitrary bytes. Besides not panicking, it
// checks that every failure is an *InvalidError with nothing written, and
// that every stored copy decodes to the reported size and carries no
// metadata when processed again.
func FuzzProcess(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	require.NoError(f, err)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		// The two big photos would make every mutation slow and each
		// minimisation take its full minute; a thumbnail stands in for them.
		if filepath.Ext(p) == ".md" || len(b) > 64<<10 {
			continue
		}
		f.Add(b)
	}
	var retina bytes.Buffer
	require.NoError(f, EncodeJPEG(&retina, Thumbnail(decodeTestdata(f, "retina.jpg"), 96), 90))
	f.Add(retina.Bytes())
	small := quadrants(24, 16)
	f.Add(encodeJPEG(f, small, jpegSegment(0xE1, exifHeader, tiffEXIF(binary.BigEndian, 6, true)),
		jpegSegment(0xE2, iccSignature, []byte{1, 1}, fakeICC("RGB ")), jpegSegment(0xFE, []byte("comment"))))
	f.Add(encodePNG(f, small, [][]byte{pngChunk("eXIf", tiffEXIF(binary.LittleEndian, 5, true)),
		pngChunk("tEXt", []byte("k\x00v"))}, nil))
	f.Add(pngHeader(20000, 20000))
	f.Add(webpWithEXIF(f, readTestdata(f, "blue-purple-pink.lossy.webp"), tiffEXIF(binary.LittleEndian, 7, true)))

	// Keep each run cheap: the limits are part of what is fuzzed anyway.
	opts := Options{MaxPixels: 1 << 20, MaxSide: 2048}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		res, err := Process(&out, bytes.NewReader(in), opts)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("not an InvalidError: %v", err)
			}
			if out.Len() != 0 {
				t.Fatalf("%d bytes written for an invalid upload", out.Len())
			}
			return
		}
		var img image.Image
		switch res.Format {
		case FormatJPEG:
			img, err = jpeg.Decode(bytes.NewReader(out.Bytes()))
		case FormatPNG:
			img, err = png.Decode(bytes.NewReader(out.Bytes()))
		default:
			t.Fatalf("stored format %q", res.Format)
		}
		if err != nil {
			t.Fatalf("stored copy does not decode: %v", err)
		}
		if got := img.Bounds().Size(); got != image.Pt(res.Width, res.Height) {
			t.Fatalf("stored copy is %v, result says %dx%d", got, res.Width, res.Height)
		}
		again, err := Process(&bytes.Buffer{}, bytes.NewReader(out.Bytes()), opts)
		if err != nil {
			t.Fatalf("stored copy refused: %v", err)
		}
		if len(again.StrippedMetadata) != 0 || again.Orientation != 1 || again.HadGPS {
			t.Fatalf("stored copy still has metadata: %+v", again)
		}
	})
}
