package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/webp"
)

func TestProcessJPEGMetadataStripped(t *testing.T) {
	t.Parallel()

	orig := readTestdata(t, "retina.jpg")
	xmp := []byte(`http://ns.adobe.com/xap/1.0/` + "\x00" +
		`<x:xmpmeta><rdf:Description exif:GPSLatitude="51,30.707N" photoshop:Credit="Dr Who"/></x:xmpmeta>`)
	segs := [][]byte{
		jpegSegment(0xE1, exifHeader, tiffEXIF(binary.BigEndian, 1, true)),
		jpegSegment(0xE1, xmp),
		jpegSegment(0xED, []byte("Photoshop 3.0\x00"), []byte("8BIM\x04\x04 patient name Jane Roe")),
		jpegSegment(0xE2, []byte("MPF\x00II*\x00")),
		jpegSegment(0xFE, []byte("Jane Roe, DOB 1970-01-01")),
	}
	// Insert after SOI and JFIF APP0 (2 + 18 bytes), and append a trailer
	// such as the video of a "motion photo".
	in := bytes.Join([][]byte{orig[:20], bytes.Join(segs, nil), orig[20:], []byte("ftypmp42 video...")}, nil)

	res, out, err := process(t, in, Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"exif", "gps", "xmp", "iptc", "mpf", "comment", "trailing-data"}, res.StrippedMetadata)
	require.True(t, res.HadGPS)
	require.False(t, res.Reencoded)
	require.Equal(t, 1, res.Orientation)
	require.Equal(t, FormatJPEG, res.Format)
	require.Equal(t, "image/jpeg", res.ContentType)
	require.Equal(t, [2]int{1411, 1411}, [2]int{res.Width, res.Height})

	for _, s := range []string{"Exif\x00\x00", "GPS", "xmpmeta", "Photoshop", "8BIM", "Jane Roe", "MPF", "PhoneCo", "ftyp"} {
		require.NotContains(t, string(out), s)
	}
	require.False(t, bytes.Contains(out, gpsLatitudeBytes(binary.BigEndian)), "GPS latitude still in output")
	require.True(t, bytes.HasPrefix(out, orig[:20]), "SOI and JFIF APP0 kept")
	require.Equal(t, []byte{0xFF, 0xD9}, out[len(out)-2:], "ends at EOI")

	// Lossless: the stored copy is the original file, byte for byte.
	require.Equal(t, orig, out)
}

func TestProcessJPEGLosslessOnGoTestdata(t *testing.T) {
	t.Parallel()

	for _, name := range []string{
		"video-001.q50.420.progressive.jpeg", "video-001.q50.444.progressive.jpeg",
		"video-001.restart2.jpeg", "video-001.cmyk.jpeg", "video-005.gray.q50.jpeg", "video-001.q50.422.jpeg",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			orig := readTestdata(t, name)
			in := bytes.Join([][]byte{orig[:2], jpegSegment(0xE1, exifHeader, tiffEXIF(binary.LittleEndian, 1, true)), orig[2:]}, nil)
			res, out, err := process(t, in, Options{MinSide: -1})
			require.NoError(t, err)
			require.Contains(t, res.StrippedMetadata, "gps")
			require.Equal(t, orig, out, "the stored copy is the original without the EXIF segment")
		})
	}
}

// exifSide says, for each EXIF orientation, which visual side of the
// upright picture the stored image's row 0 and column 0 are (EXIF 2.3,
// Orientation tag); the tests derive the expected pixel mapping from it
// independently of orient.go.
var exifSide = map[int][2]string{
	1: {"top", "left"}, 2: {"top", "right"}, 3: {"bottom", "right"}, 4: {"bottom", "left"},
	5: {"left", "top"}, 6: {"right", "top"}, 7: {"right", "bottom"}, 8: {"left", "bottom"},
}

// storedPos returns the position in the stored image of upright pixel
// (x, y), for an upright image of size ow x oh.
func storedPos(o, x, y, ow, oh int) (sx, sy int) {
	dist := func(side string) int {
		switch side {
		case "top":
			return y
		case "bottom":
			return oh - 1 - y
		case "left":
			return x
		}
		return ow - 1 - x
	}
	s := exifSide[o]
	return dist(s[1]), dist(s[0])
}

func TestProcessJPEGOrientation(t *testing.T) {
	t.Parallel()

	const w, h = 640, 480
	stored := quadrants(w, h)
	for o := 1; o <= 8; o++ {
		t.Run(string(rune('0'+o)), func(t *testing.T) {
			t.Parallel()
			in := encodeJPEG(t, stored, jpegSegment(0xE1, exifHeader, tiffEXIF(binary.LittleEndian, o, true)))
			res, out, err := process(t, in, Options{})
			require.NoError(t, err)
			require.Equal(t, o, res.Orientation)
			require.Equal(t, o != 1, res.Reencoded)
			require.True(t, res.HadGPS)
			require.NotContains(t, string(out), "Exif\x00\x00")
			require.False(t, bytes.Contains(out, gpsLatitudeBytes(binary.LittleEndian)))

			ow, oh := w, h
			if o >= 5 {
				ow, oh = h, w
			}
			require.Equal(t, [2]int{ow, oh}, [2]int{res.Width, res.Height})
			img, err := jpeg.Decode(bytes.NewReader(out))
			require.NoError(t, err)
			require.Equal(t, image.Rect(0, 0, ow, oh), img.Bounds())
			// Check the centre of each quadrant of the upright image.
			for _, p := range []image.Point{{ow / 4, oh / 4}, {3 * ow / 4, oh / 4}, {ow / 4, 3 * oh / 4}, {3 * ow / 4, 3 * oh / 4}} {
				sx, sy := storedPos(o, p.X, p.Y, ow, oh)
				want := quadrantColour(sx >= w/2, sy >= h/2)
				requireColourNear(t, want, img.At(p.X, p.Y), 8, p.String())
			}
		})
	}
}

func TestProcessRealPhotoOrientation6(t *testing.T) {
	t.Parallel()

	// A landscape crop of the retina, stored sideways as a phone held
	// upright would: orientation 6 means "rotate 90° clockwise to view".
	retina := decodeTestdata(t, "retina.jpg").(*image.YCbCr)
	crop := retina.SubImage(image.Rect(0, 200, 1411, 1200))
	in := encodeJPEG(t, crop, jpegSegment(0xE1, exifHeader, tiffEXIF(binary.BigEndian, 6, true)))
	res, out, err := process(t, in, Options{})
	require.NoError(t, err)
	require.Equal(t, [2]int{1000, 1411}, [2]int{res.Width, res.Height})
	require.Empty(t, res.Warnings)

	up, err := jpeg.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	src, err := jpeg.Decode(bytes.NewReader(in))
	require.NoError(t, err)
	// Upright (x, y) comes from stored (y, H-1-x); allow for one more JPEG
	// generation.
	for _, p := range []image.Point{{500, 700}, {100, 300}, {900, 1300}, {250, 50}} {
		want := src.At(p.Y, 1000-1-p.X)
		requireColourNear(t, toRGBA(want), up.At(p.X, p.Y), 12, p.String())
	}
}

func TestProcessPNGMetadataStripped(t *testing.T) {
	t.Parallel()

	orig := decodeTestdata(t, "ihc.png")
	early := [][]byte{
		pngChunk("tEXt", []byte("Comment\x00Patient Jane Roe")),
		pngChunk("eXIf", tiffEXIF(binary.BigEndian, 1, true)),
		pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta/>")),
		pngChunk("tIME", []byte{0x07, 0xE8, 1, 2, 3, 4, 5}),
		pngChunk("pHYs", []byte{0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1}),
	}
	late := [][]byte{
		pngChunk("tEXt", []byte("exif:GPSLatitude\x0051/1, 30/1, 4242/100")),
		pngChunk("zTXt", []byte("Raw profile type exif\x00\x00x\x9c\x03\x00\x00\x00\x00\x01")),
		pngChunk("prVW", []byte("private preview")),
	}
	in := encodePNG(t, orig, early, late)

	res, out, err := process(t, in, Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"text", "exif", "gps", "xmp", "time", "chunk:prVW"}, res.StrippedMetadata)
	require.True(t, res.HadGPS)
	require.False(t, res.Reencoded)
	require.Equal(t, FormatPNG, res.Format)

	require.Equal(t, []string{"IHDR", "pHYs", "IDAT", "IEND"}, pngChunkTypes(t, out))
	for _, s := range []string{"Jane Roe", "GPS", "xmpmeta", "eXIf", "tEXt", "private"} {
		require.NotContains(t, string(out), s)
	}
	got, err := png.Decode(bytes.NewReader(out))
	require.NoError(t, err)
	require.Equal(t, orig, got, "pixels unchanged")
}

func TestProcessPNGOrientation(t *testing.T) {
	t.Parallel()

	stored := quadrants(40, 20)

	t.Run("BeforeIDAT", func(t *testing.T) {
		t.Parallel()
		in := encodePNG(t, stored, [][]byte{pngChunk("eXIf", tiffEXIF(binary.LittleEndian, 8, false))}, nil)
		res, out, err := process(t, in, Options{MinSide: -1})
		require.NoError(t, err)
		require.Equal(t, 8, res.Orientation)
		require.False(t, res.HadGPS)
		require.Equal(t, [2]int{20, 40}, [2]int{res.Width, res.Height})
		got, err := png.Decode(bytes.NewReader(out))
		require.NoError(t, err)
		for y := range 40 {
			for x := range 20 {
				sx, sy := storedPos(8, x, y, 20, 40)
				require.Equal(t, stored.At(sx, sy), got.At(x, y))
			}
		}
		require.NotContains(t, string(out), "eXIf")
	})
	t.Run("AfterIDATIgnored", func(t *testing.T) {
		t.Parallel()
		// Browsers ignore a late eXIf; so does Process, but it still strips it.
		in := encodePNG(t, stored, nil, [][]byte{pngChunk("eXIf", tiffEXIF(binary.LittleEndian, 8, false))})
		res, out, err := process(t, in, Options{MinSide: -1})
		require.NoError(t, err)
		require.Equal(t, 1, res.Orientation)
		require.Equal(t, []string{"exif"}, res.StrippedMetadata)
		require.NotContains(t, string(out), "eXIf")
	})
}

func TestProcessICC(t *testing.T) {
	t.Parallel()

	profile := fakeICC("RGB ")
	iccSeg := jpegSegment(0xE2, iccSignature, []byte{1, 1}, profile)
	small := quadrants(64, 48)

	t.Run("KeptByDefault", func(t *testing.T) {
		t.Parallel()
		res, out, err := process(t, encodeJPEG(t, small, iccSeg), Options{MinSide: -1})
		require.NoError(t, err)
		require.Empty(t, res.StrippedMetadata)
		require.True(t, bytes.Contains(out, iccSeg))
	})
	t.Run("Dropped", func(t *testing.T) {
		t.Parallel()
		res, out, err := process(t, encodeJPEG(t, small, iccSeg), Options{MinSide: -1, DropICC: true})
		require.NoError(t, err)
		require.Equal(t, []string{"icc"}, res.StrippedMetadata)
		require.NotContains(t, string(out), "ICC_PROFILE")
	})
	t.Run("KeptWhenRotated", func(t *testing.T) {
		t.Parallel()
		in := encodeJPEG(t, small, jpegSegment(0xE1, exifHeader, tiffEXIF(binary.LittleEndian, 6, false)), iccSeg)
		res, out, err := process(t, in, Options{MinSide: -1})
		require.NoError(t, err)
		require.True(t, res.Reencoded)
		require.Equal(t, []string{"exif"}, res.StrippedMetadata)
		require.True(t, bytes.Contains(out, iccSeg))
		_, err = jpeg.Decode(bytes.NewReader(out))
		require.NoError(t, err)
	})
	t.Run("CMYKProfileDroppedWhenRotated", func(t *testing.T) {
		t.Parallel()
		orig := readTestdata(t, "video-001.cmyk.jpeg")
		in := bytes.Join([][]byte{orig[:2], jpegSegment(0xE1, exifHeader, tiffEXIF(binary.LittleEndian, 3, false)),
			jpegSegment(0xE2, iccSignature, []byte{1, 1}, fakeICC("CMYK")), orig[2:]}, nil)
		res, out, err := process(t, in, Options{MinSide: -1})
		require.NoError(t, err)
		require.True(t, res.Reencoded)
		require.Equal(t, []string{"exif", "icc"}, res.StrippedMetadata)
		require.NotContains(t, string(out), "ICC_PROFILE")
	})
	t.Run("PNGRotated", func(t *testing.T) {
		t.Parallel()
		iccp, err := iccpChunk(profile)
		require.NoError(t, err)
		in := encodePNG(t, small, [][]byte{iccp, pngChunk("eXIf", tiffEXIF(binary.LittleEndian, 6, false))}, nil)
		res, out, err := process(t, in, Options{MinSide: -1})
		require.NoError(t, err)
		require.True(t, res.Reencoded)
		require.Equal(t, []string{"IHDR", "iCCP", "IDAT", "IEND"}, pngChunkTypes(t, out))
	})
}

func TestProcessWebP(t *testing.T) {
	t.Parallel()

	orig := readTestdata(t, "blue-purple-pink.lossy.webp")
	t.Run("StoredAsPNG", func(t *testing.T) {
		t.Parallel()
		res, out, err := process(t, orig, Options{MinSide: -1})
		require.NoError(t, err)
		require.Equal(t, FormatWebP, res.SourceFormat)
		require.Equal(t, FormatPNG, res.Format)
		require.Equal(t, "image/png", res.ContentType)
		require.True(t, res.Reencoded)
		require.Equal(t, pngMagic, out[:8])
		got, err := png.Decode(bytes.NewReader(out))
		require.NoError(t, err)
		require.Equal(t, image.Rect(0, 0, res.Width, res.Height), got.Bounds())
	})
	t.Run("EXIFOrientationAndGPS", func(t *testing.T) {
		t.Parallel()
		in := webpWithEXIF(t, orig, tiffEXIF(binary.LittleEndian, 6, true))
		res, out, err := process(t, in, Options{MinSide: -1})
		require.NoError(t, err)
		require.Equal(t, 6, res.Orientation)
		require.True(t, res.HadGPS)
		require.Equal(t, []string{"exif", "gps"}, res.StrippedMetadata)
		plain, _, err := process(t, orig, Options{MinSide: -1})
		require.NoError(t, err)
		require.Equal(t, [2]int{plain.Height, plain.Width}, [2]int{res.Width, res.Height})
		require.False(t, bytes.Contains(out, gpsLatitudeBytes(binary.LittleEndian)))
	})
}

// webpWithEXIF wraps a simple lossy WebP file in the extended format with an
// EXIF chunk after the image data.
func webpWithEXIF(t testing.TB, simple, exif []byte) []byte {
	t.Helper()
	require.Equal(t, "VP8 ", string(simple[12:16]))
	cfg, err := webp.DecodeConfig(bytes.NewReader(simple))
	require.NoError(t, err)
	vp8x := make([]byte, 10)
	vp8x[0] = 1 << 3 // EXIF
	w, h := cfg.Width-1, cfg.Height-1
	vp8x[4], vp8x[5], vp8x[6] = byte(w), byte(w>>8), byte(w>>16)
	vp8x[7], vp8x[8], vp8x[9] = byte(h), byte(h>>8), byte(h>>16)
	chunk := func(typ string, data []byte) []byte {
		b := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
		b = append(b, data...)
		if len(data)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	body := bytes.Join([][]byte{[]byte("WEBP"), chunk("VP8X", vp8x), simple[12:], chunk("EXIF", exif)}, nil)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func TestProcessReadAndWriteErrors(t *testing.T) {
	t.Parallel()

	in := readTestdata(t, "retina.jpg")
	boom := errors.New("disk on fire")

	t.Run("Read", func(t *testing.T) {
		t.Parallel()
		src := &failingReader{ReadSeeker: bytes.NewReader(in), after: 1000, err: boom}
		_, err := Process(io.Discard, src, Options{})
		require.ErrorIs(t, err, boom)
		var inv *InvalidError
		require.False(t, errors.As(err, &inv), "a read error is not the sender's fault")
	})
	t.Run("Write", func(t *testing.T) {
		t.Parallel()
		_, err := Process(failingWriter{boom}, bytes.NewReader(in), Options{})
		require.ErrorIs(t, err, boom)
	})
	t.Run("StartsAtCurrentOffset", func(t *testing.T) {
		t.Parallel()
		src := bytes.NewReader(append([]byte("junk"), in...))
		_, err := src.Seek(4, io.SeekStart)
		require.NoError(t, err)
		var out bytes.Buffer
		_, err = Process(&out, src, Options{})
		require.NoError(t, err)
		require.Equal(t, in, out.Bytes())
	})
}

// failingReader fails every read once more than after bytes were read in
// total.
type failingReader struct {
	io.ReadSeeker
	after, n int
	err      error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n >= r.after {
		return 0, r.err
	}
	n, err := r.ReadSeeker.Read(p)
	r.n += n
	return n, err
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

var _ io.ReadSeeker = (*failingReader)(nil)

// BenchmarkProcess measures a 24 MP phone photo, stored as is and stored
// sideways (orientation 6, so decoded, turned and re-encoded).
func BenchmarkProcess(b *testing.B) {
	big := image.NewYCbCr(image.Rect(0, 0, 6000, 4000), image.YCbCrSubsampleRatio420)
	retina := decodeTestdata(b, "retina.jpg").(*image.YCbCr)
	for y := range 4000 {
		for x := range 6000 {
			big.Y[big.YOffset(x, y)] = retina.Y[retina.YOffset(x%1411, y%1411)]
		}
	}
	for i := range big.Cb {
		big.Cb[i], big.Cr[i] = 110, 160
	}
	for _, o := range []int{1, 6} {
		in := encodeJPEG(b, big, jpegSegment(0xE1, exifHeader, tiffEXIF(binary.LittleEndian, o, true)))
		b.Run(fmt.Sprintf("24MP/orientation%d", o), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				_, err := Process(io.Discard, bytes.NewReader(in), Options{})
				require.NoError(b, err)
			}
		})
	}
}
