package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSniff(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		head []byte
		want Format
		ok   bool
	}{
		{"JPEG", []byte{0xFF, 0xD8, 0xFF, 0xE0}, FormatJPEG, true},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), FormatPNG, true},
		{"WebP", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), FormatWebP, true},
		{"Empty", nil, "", false},
		{"ShortJPEG", []byte{0xFF, 0xD8}, "", false},
		{"PDF", []byte("%PDF-1.7\n"), "", false},
		{"RIFFWave", []byte("RIFF\x10\x00\x00\x00WAVEfmt "), "", false},
		{"PNGNameOnly", []byte("photo.png"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Sniff(tt.head)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

// pngHeader returns a PNG signature and IHDR for a w x h RGB image,
// followed by the start of an IDAT chunk: no pixel data.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	return bytes.Join([][]byte{pngMagic, pngChunk("IHDR", ihdr), {0, 0, 0x10, 0, 'I', 'D', 'A', 'T', 0x78, 0x9c}}, nil)
}

// withJPEGSize returns a copy of a JPEG with the size in its SOF0 changed.
func withJPEGSize(t testing.TB, b []byte, w, h uint16) []byte {
	t.Helper()
	b = bytes.Clone(b)
	i := bytes.Index(b, []byte{0xFF, 0xC0})
	require.Positive(t, i)
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

// TestProcessRefusesBombBeforeDecoding is not parallel: it measures the
// bytes allocated by the process, which other tests would disturb.
func TestProcessRefusesBombBeforeDecoding(t *testing.T) {
	small := encodeJPEG(t, quadrants(16, 16))
	tests := []struct {
		name string
		in   []byte
		opts Options
		want string
	}{
		{"PNG20000x20000", pngHeader(20000, 20000), Options{}, "image is 20000x20000 pixels (400 MP); the limit is 50 MP"},
		{"JPEG20000x20000", withJPEGSize(t, small, 20000, 20000), Options{}, "image is 20000x20000 pixels (400 MP); the limit is 50 MP"},
		{"PNGTooWide", pngHeader(30000, 10), Options{}, "image is 30000x10 pixels; the longest side allowed is 20000"},
		{"PNGHugeSide", pngHeader(1<<31-1, 1<<31-1), Options{}, "image is 2147483647x2147483647 pixels; the longest side allowed is 20000"},
		{"JPEGOverCustomLimit", withJPEGSize(t, small, 4000, 3000), Options{MaxPixels: 10_000_000}, "image is 4000x3000 pixels (12 MP); the limit is 10 MP"},
		{"PNGOverCustomSide", pngHeader(5000, 100), Options{MaxSide: 4096}, "image is 5000x100 pixels; the longest side allowed is 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, out, err := process(t, tt.in, tt.opts)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)

			requireInvalid(t, err, tt.want)
			require.Empty(t, out)
			require.Less(t, elapsed, 100*time.Millisecond)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "refused without allocating the image")
		})
	}
}

func TestProcessRefusesInvalid(t *testing.T) {
	t.Parallel()

	retina := readTestdata(t, "retina.jpg")
	ihc := readTestdata(t, "ihc.png")
	webpFile := readTestdata(t, "blue-purple-pink.lossy.webp")
	small := encodeJPEG(t, quadrants(16, 16))
	sos := bytes.Index(small, []byte{0xFF, markerSOS})
	sof := bytes.Index(small, []byte{0xFF, 0xC0})
	sofLen := int(binary.BigEndian.Uint16(small[sof+2:])) + 2
	badCRC := bytes.Clone(ihc)
	badCRC[100] ^= 0xFF // inside the first IDAT

	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"Empty", nil, "the file is empty"},
		{"PDF", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"), "a PDF document, not a JPEG, PNG or WebP image"},
		{"Text", []byte("hello, this is not a photo"), "not a JPEG, PNG or WebP image"},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00"), "GIF images are not supported"},
		{"HEIC", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), "HEIC/HEIF images are not supported"},
		{"JPEGMagicOnly", []byte{0xFF, 0xD8, 0xFF}, "truncated JPEG"},
		{"TruncatedJPEG", retina[:len(retina)/2], "truncated JPEG"},
		{"JPEGWithoutEOI", retina[:len(retina)-2], "truncated JPEG"},
		{"TruncatedPNG", ihc[:len(ihc)/2], "truncated PNG"},
		{"PNGSignatureOnly", pngMagic, "truncated PNG"},
		{"PNGZeroWidth", pngHeader(0, 100), "image has no pixels (0x100)"},
		{"PNGBadCRC", badCRC, "damaged PNG image (invalid checksum)"},
		{"TruncatedWebP", webpFile[:len(webpFile)/2], "truncated WebP"},
		{"AnimatedWebP", webpAnimated(t, webpFile), "animated WebP images are not supported"},
		{"JPEGZeroHeight", withJPEGSize(t, small, 16, 0), "image has no pixels (16x0)"},
		{"JPEGTwoFrames", bytes.Join([][]byte{small[:sof+sofLen], small[sof:]}, nil), "damaged JPEG image (multiple SOF markers)"},
		{"JPEGManyScans", bytes.Join([][]byte{small[:sos], bytes.Repeat(small[sos:len(small)-2], 101), {0xFF, 0xD9}}, nil),
			"JPEG has more than 100 progressive scans"},
		{"JPEGGarbageMarker", bytes.Join([][]byte{small[:sos], []byte("xx"), small[sos:]}, nil), "damaged JPEG image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, out, err := process(t, tt.in, Options{})
			require.Nil(t, res)
			require.Empty(t, out, "nothing written for an invalid upload")
			requireInvalid(t, err, tt.want)
			require.Equal(t, "invalid photo: "+err.(*InvalidError).Reason, err.Error())
		})
	}
}

// webpAnimated returns a WebP file with an ANIM chunk in front of its image.
func webpAnimated(t testing.TB, simple []byte) []byte {
	t.Helper()
	body := bytes.Join([][]byte{[]byte("WEBPANIM\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00"), simple[12:]}, nil)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func TestInvalidErrorWrapped(t *testing.T) {
	t.Parallel()

	_, _, err := process(t, []byte("%PDF-1.4"), Options{})
	wrapped := fmt.Errorf("upload photo for case %s: %w", "c-1", err)
	var inv *InvalidError
	require.True(t, errors.As(wrapped, &inv))
	require.Equal(t, "a PDF document, not a JPEG, PNG or WebP image", inv.Reason)
}
