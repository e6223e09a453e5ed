package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// FuzzProcessBounds feeds Process arbitrary bytes under small limits, seeded
// from the photos intake's tests upload and from headers that declare huge
// images. An accepted photo is within the limits (the decompression-bomb
// guard held), and its stored bytes carry no metadata segment or chunk at
// all: no EXIF, XMP, IPTC, comment, PNG text or time, nothing after the
// image's end. A refusal is an *InvalidError with a reason.
func FuzzProcessBounds(f *testing.F) {
	for _, p := range []string{filepath.Join("..", "intake", "testdata", "retina.jpg"), filepath.Join("testdata", "ihc.png")} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			f.Fatal(err)
		}
		var small bytes.Buffer
		if err := EncodeJPEG(&small, Thumbnail(img, 64), 80); err != nil {
			f.Fatal(err)
		}
		f.Add(small.Bytes())
		small.Reset()
		if err := EncodePNG(&small, Thumbnail(img, 48)); err != nil {
			f.Fatal(err)
		}
		f.Add(small.Bytes())
	}
	q := quadrants(24, 16)
	f.Add(encodeJPEG(f, q, jpegSegment(0xE1, exifHeader, tiffEXIF(binary.BigEndian, 6, true)), jpegSegment(0xFE, []byte("c"))))
	f.Add(encodePNG(f, q, [][]byte{pngChunk("eXIf", tiffEXIF(binary.LittleEndian, 5, true))},
		[][]byte{pngChunk("tEXt", []byte("k\x00v")), pngChunk("tIME", make([]byte, 7))}))
	f.Add(pngHeader(60000, 60000))
	f.Add(pngHeader(1, 1<<30))
	f.Add(jpegSOF(60000, 60000))

	opts := Options{MaxPixels: 1 << 16, MaxSide: 1024}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		res, err := Process(&out, bytes.NewReader(in), opts)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) || inv.Error() == "" {
				t.Fatalf("not an InvalidError with a reason: %v", err)
			}
			return
		}
		if res.Width < 1 || res.Height < 1 || res.Width > opts.MaxSide || res.Height > opts.MaxSide ||
			int64(res.Width)*int64(res.Height) > opts.MaxPixels {
			t.Fatalf("accepted %dx%d beyond the limits %+v", res.Width, res.Height, opts)
		}
		switch res.Format {
		case FormatJPEG:
			requireCleanJPEG(t, out.Bytes())
		case FormatPNG:
			requireCleanPNG(t, out.Bytes())
		}
	})
}

// jpegSOF is the start of a baseline JPEG declaring a w×h image.
func jpegSOF(w, h int) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0}
	return append(b, 0xFF, 0xD9)
}

// requireCleanJPEG fails t if a stored JPEG has a metadata segment before
// its scan or bytes after its end.
func requireCleanJPEG(t *testing.T, b []byte) {
	t.Helper()
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			t.Fatalf("stored JPEG: no marker at %d", i)
		}
		m := b[i+1]
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		seg := b[i+4 : min(len(b), i+2+n)]
		switch {
		case m == 0xE1, m == 0xED, m == 0xFE, m >= 0xE3 && m <= 0xEF && m != 0xEE:
			t.Fatalf("stored JPEG keeps segment %X (%q)", m, seg[:min(len(seg), 16)])
		case m == 0xDA: // the scan: the rest is entropy-coded data
			if end := bytes.LastIndex(b, []byte{0xFF, 0xD9}); end != len(b)-2 {
				t.Fatalf("stored JPEG has %d bytes after its end", len(b)-2-end)
			}
			return
		}
		i += 2 + n
	}
}

// requireCleanPNG fails t if a stored PNG has a text, time or EXIF chunk
// or anything after IEND.
func requireCleanPNG(t *testing.T, b []byte) {
	t.Helper()
	for b = b[8:]; len(b) >= 12; {
		n := int(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		switch typ {
		case "tEXt", "zTXt", "iTXt", "eXIf", "tIME":
			t.Fatalf("stored PNG keeps a %s chunk", typ)
		}
		if 12+n > len(b) {
			t.Fatalf("stored PNG: chunk %s overruns", typ)
		}
		b = b[12+n:]
		if typ == "IEND" && len(b) > 0 {
			t.Fatalf("stored PNG has %d bytes after IEND", len(b))
		}
	}
}
