package photo

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// GPS values written by tiffEXIF; tests look for their bytes in outputs.
var (
	gpsLatitude  = [3][2]uint32{{51, 1}, {30, 1}, {4242, 100}} // 51°30'42.42"
	gpsLongitude = [3][2]uint32{{0, 1}, {7, 1}, {3939, 100}}
)

// readTestdata returns the bytes of a file in testdata/.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// decodeTestdata decodes an image in testdata/.
func decodeTestdata(t testing.TB, name string) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(readTestdata(t, name)))
	require.NoError(t, err)
	return img
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffEXIF builds a minimal EXIF TIFF block in byte order bo: IFD0 with an
// Orientation tag (if orientation > 0) and, if gps, a GPS IFD pointer to an
// IFD with GPSLatitudeRef/GPSLatitude/GPSLongitudeRef/GPSLongitude.
func tiffEXIF(bo byteOrder, orientation int, gps bool) []byte {
	type entry struct {
		tag, typ uint16
		count    uint32
		value    []byte // inline (<= 4 bytes) or stored after the IFD
	}
	u16 := func(v uint16) []byte { return bo.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return bo.AppendUint32(nil, v) }
	rationals := func(r [3][2]uint32) []byte {
		var b []byte
		for _, v := range r {
			b = bo.AppendUint32(b, v[0])
			b = bo.AppendUint32(b, v[1])
		}
		return b
	}
	// writeIFD appends an IFD at the end of b; values longer than 4 bytes
	// follow the IFD.
	writeIFD := func(b []byte, entries []entry) []byte {
		off := len(b)
		dataOff := off + 2 + 12*len(entries) + 4
		var data []byte
		b = bo.AppendUint16(b, uint16(len(entries)))
		for _, e := range entries {
			b = bo.AppendUint16(b, e.tag)
			b = bo.AppendUint16(b, e.typ)
			b = bo.AppendUint32(b, e.count)
			if len(e.value) <= 4 {
				v := make([]byte, 4)
				copy(v, e.value)
				b = append(b, v...)
				continue
			}
			b = bo.AppendUint32(b, uint32(dataOff+len(data)))
			data = append(data, e.value...)
		}
		b = bo.AppendUint32(b, 0) // no next IFD
		return append(b, data...)
	}

	var b []byte
	if bo == byteOrder(binary.LittleEndian) {
		b = append(b, "II"...)
	} else {
		b = append(b, "MM"...)
	}
	b = bo.AppendUint16(b, 42)
	b = bo.AppendUint32(b, 8)
	var ifd0 []entry
	if orientation > 0 {
		ifd0 = append(ifd0, entry{tagOrientation, 3, 1, u16(uint16(orientation))})
	}
	// A make tag, to have something besides orientation and GPS.
	ifd0 = append(ifd0, entry{0x010F, 2, 8, []byte("PhoneCo\x00")})
	gpsAt := 8 + 2 + 12*(len(ifd0)+1) + 4 + 8 // after IFD0 and its make string
	if gps {
		ifd0 = append(ifd0, entry{tagGPSIFD, 4, 1, u32(uint32(gpsAt))})
	}
	b = writeIFD(b, ifd0)
	if gps {
		if len(b) != gpsAt {
			panic("GPS IFD offset")
		}
		b = writeIFD(b, []entry{
			{0x0000, 1, 4, []byte{2, 3, 0, 0}},
			{0x0001, 2, 2, []byte("N\x00")},
			{0x0002, 5, 3, rationals(gpsLatitude)},
			{0x0003, 2, 2, []byte("W\x00")},
			{0x0004, 5, 3, rationals(gpsLongitude)},
		})
	}
	return b
}

// gpsLatitudeBytes returns the GPSLatitude value as written by tiffEXIF.
func gpsLatitudeBytes(bo byteOrder) []byte {
	var b []byte
	for _, v := range gpsLatitude {
		b = bo.AppendUint32(b, v[0])
		b = bo.AppendUint32(b, v[1])
	}
	return b
}

// jpegSegment returns a JPEG marker segment.
func jpegSegment(marker byte, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	b := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(p)+2))
	return append(b, p...)
}

// encodeJPEG encodes img with image/jpeg and inserts segs after SOI.
func encodeJPEG(t testing.TB, img image.Image, segs ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}))
	b := buf.Bytes()
	return bytes.Join([][]byte{b[:2], bytes.Join(segs, nil), b[2:]}, nil)
}

// encodePNG encodes img with image/png and inserts the chunks early after
// IHDR and the chunks late before IEND.
func encodePNG(t testing.TB, img image.Image, early, late [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	b := buf.Bytes()
	iend := len(b) - 12
	return bytes.Join([][]byte{b[:33], bytes.Join(early, nil), b[33:iend], bytes.Join(late, nil), b[iend:]}, nil)
}

// quadrants returns a w x h image whose four quadrants are red (top left),
// green (top right), blue (bottom left) and white (bottom right).
func quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, quadrantColour(x >= w/2, y >= h/2))
		}
	}
	return img
}

func quadrantColour(right, bottom bool) color.RGBA {
	switch {
	case !right && !bottom:
		return color.RGBA{255, 0, 0, 255}
	case right && !bottom:
		return color.RGBA{0, 255, 0, 255}
	case !right && bottom:
		return color.RGBA{0, 0, 255, 255}
	}
	return color.RGBA{255, 255, 255, 255}
}

// requireColourNear checks that c is within tol of want in each channel.
func requireColourNear(t testing.TB, want color.RGBA, c color.Color, tol int, msg string) {
	t.Helper()
	got := color.RGBAModel.Convert(c).(color.RGBA)
	d := func(a, b uint8) int { return int(math.Abs(float64(a) - float64(b))) }
	require.LessOrEqual(t, max(d(got.R, want.R), d(got.G, want.G), d(got.B, want.B)), tol,
		"%s: got %v, want %v", msg, got, want)
}

// gaussianBlur returns img blurred with a Gaussian of the given sigma, as
// the real camera blur the quality check must catch.
func gaussianBlur(img image.Image, sigma float64) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)

	r := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*r+1)
	var sum float32
	for i := range k {
		x := float64(i - r)
		k[i] = float32(math.Exp(-x * x / (2 * sigma * sigma)))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	// blurLine convolves n samples of plane starting at start, step apart,
	// repeating the edge samples.
	padded := make([]float32, max(w, h)+2*r)
	blurLine := func(plane []float32, start, step, n int) {
		for i := range padded[:n+2*r] {
			j := min(max(i-r, 0), n-1)
			padded[i] = plane[start+j*step]
		}
		for i := range n {
			var a float32
			for t, kv := range k {
				a += kv * padded[i+t]
			}
			plane[start+i*step] = a
		}
	}
	plane := make([]float32, w*h)
	for c := range 3 {
		for i := range plane {
			plane[i] = float32(out.Pix[4*i+c])
		}
		for y := range h {
			blurLine(plane, y*w, 1, w)
		}
		for x := range w {
			blurLine(plane, x, w, h)
		}
		for i, v := range plane {
			out.Pix[4*i+c] = uint8(min(255, v+0.5))
		}
	}
	return out
}

// mapLevels returns img with f applied to each colour channel, to make
// dark and bright versions of a real photo.
func mapLevels(img image.Image, f func(v float64) float64) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	var table [256]uint8
	for v := range table {
		table[v] = uint8(math.Round(min(255, max(0, f(float64(v))))))
	}
	for i, v := range out.Pix {
		if i%4 != 3 {
			out.Pix[i] = table[v]
		}
	}
	return out
}

// process runs Process on b with default options and returns the result
// and the stored copy.
func process(t testing.TB, b []byte, opts Options) (*Result, []byte, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := Process(&out, bytes.NewReader(b), opts)
	return res, out.Bytes(), err
}

// requireInvalid checks that err is an *InvalidError whose reason contains
// want.
func requireInvalid(t testing.TB, err error, want string) {
	t.Helper()
	var inv *InvalidError
	require.ErrorAs(t, err, &inv)
	require.Contains(t, inv.Reason, want)
}

// toRGBA converts any colour to color.RGBA.
func toRGBA(c color.Color) color.RGBA { return color.RGBAModel.Convert(c).(color.RGBA) }

// pngChunkTypes lists the chunk types of a PNG file in order, with runs of
// the same type (IDAT) listed once.
func pngChunkTypes(t testing.TB, b []byte) []string {
	t.Helper()
	require.True(t, bytes.HasPrefix(b, pngMagic))
	var types []string
	for b = b[8:]; len(b) >= 12; {
		n := int(binary.BigEndian.Uint32(b))
		types = append(types, string(b[4:8]))
		require.LessOrEqual(t, 12+n, len(b))
		b = b[12+n:]
	}
	require.Empty(t, b, "bytes after the last chunk")
	return slices.Compact(types)
}

// fakeICC returns a minimal ICC profile header for the colour space space.
func fakeICC(space string) []byte {
	p := make([]byte, 132)
	binary.BigEndian.PutUint32(p, uint32(len(p)))
	copy(p[12:], "mntr")
	copy(p[16:], space)
	copy(p[20:], "XYZ ")
	copy(p[36:], "acsp")
	return p
}
