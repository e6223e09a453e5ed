package dicomfile

import (
	"encoding/binary"
	"image"
	"image/color"
	"math"
)

// samples gives access to the stored sample values of one frame.
type samples struct {
	data      []byte
	bo        binary.ByteOrder
	bitOffset int // for 1-bit data: the bit of data[0] where the frame starts
}

// raw returns stored sample i as an unsigned word of bitsAlloc bits.
func (s samples) raw(i, bitsAlloc int) uint32 {
	switch bitsAlloc {
	case 1:
		b := s.bitOffset + i
		return uint32(s.data[b>>3]>>(b&7)) & 1
	case 8:
		return uint32(s.data[i])
	case 16:
		return uint32(s.bo.Uint16(s.data[2*i:]))
	default:
		return s.bo.Uint32(s.data[4*i:])
	}
}

// value returns sample i masked to Bits Stored and sign-extended.
func (f *frameFormat) value(s samples, i int) int64 {
	v := s.raw(i, f.bitsAlloc) >> uint(f.highBit+1-f.bitsStored)
	if f.bitsStored < 32 {
		v &= 1<<uint(f.bitsStored) - 1
	}
	if f.signed && v&(1<<uint(f.bitsStored-1)) != 0 {
		return int64(v) - 1<<uint(f.bitsStored)
	}
	return int64(v)
}

// toImage converts one frame of stored samples to an 8-bit image.
func toImage(f *frameFormat, s samples, planar bool) (image.Image, error) {
	n := f.rows * f.cols
	rect := image.Rect(0, 0, f.cols, f.rows)
	switch f.photometric {
	case "MONOCHROME1", "MONOCHROME2":
		return monochrome(f, s, rect), nil
	case "PALETTE COLOR":
		out := image.NewRGBA(rect)
		for i := 0; i < n; i++ {
			r, g, b := f.palette.lookup(f.value(s, i))
			out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = r, g, b, 0xFF
		}
		return out, nil
	case "YBR_FULL_422":
		if planar {
			return nil, invalidf("YBR_FULL_422 must not be planar")
		}
		return ybr422(f, s, rect), nil
	}
	out := image.NewRGBA(rect)
	idx := func(i, c int) int { return 3*i + c }
	if planar {
		idx = func(i, c int) int { return c*n + i }
	}
	for i := 0; i < n; i++ {
		r := f.sample8(s, idx(i, 0))
		g := f.sample8(s, idx(i, 1))
		b := f.sample8(s, idx(i, 2))
		if f.photometric == "YBR_FULL" {
			r, g, b = color.YCbCrToRGB(r, g, b)
		}
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = r, g, b, 0xFF
	}
	return out, nil
}

// sample8 returns colour sample i scaled to 8 bits.
func (f *frameFormat) sample8(s samples, i int) uint8 {
	v := s.raw(i, f.bitsAlloc) >> uint(f.highBit+1-f.bitsStored)
	if f.bitsStored > 8 {
		v >>= uint(f.bitsStored - 8)
	}
	return uint8(v)
}

// ybr422 converts native YBR_FULL_422 (Y1 Y2 Cb Cr per pair of pixels).
func ybr422(f *frameFormat, s samples, rect image.Rectangle) image.Image {
	out := image.NewRGBA(rect)
	n := f.rows * f.cols
	for i := 0; i+1 < n; i += 2 {
		base := 2 * i
		y1, y2 := f.sample8(s, base), f.sample8(s, base+1)
		cb, cr := f.sample8(s, base+2), f.sample8(s, base+3)
		for k, y := range []uint8{y1, y2} {
			r, g, b := color.YCbCrToRGB(y, cb, cr)
			p := 4 * (i + k)
			out.Pix[p], out.Pix[p+1], out.Pix[p+2], out.Pix[p+3] = r, g, b, 0xFF
		}
	}
	return out
}

// monochrome applies the modality rescale and VOI window of f.
func monochrome(f *frameFormat, s samples, rect image.Rectangle) *image.Gray {
	n := f.rows * f.cols
	out := image.NewGray(rect)
	center, width := f.center, f.width
	if !f.window {
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			v := float64(f.value(s, i))*f.slope + f.intercept
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		// A window whose linear ramp spans exactly [lo, hi].
		center, width = (lo+hi)/2+0.5, hi-lo+1
	}
	for i := 0; i < n; i++ {
		v := float64(f.value(s, i))*f.slope + f.intercept
		g := voiLinear(v, center, width)
		if f.photometric == "MONOCHROME1" {
			g = 255 - g
		}
		out.Pix[i] = g
	}
	return out
}

// voiLinear is the LINEAR VOI LUT function of PS3.3 C.11.2.1.2.1.
func voiLinear(x, c, w float64) uint8 {
	if w <= 1 {
		if x <= c-0.5 {
			return 0
		}
		return 255
	}
	switch {
	case x <= c-0.5-(w-1)/2:
		return 0
	case x > c-0.5+(w-1)/2:
		return 255
	}
	y := ((x-(c-0.5))/(w-1) + 0.5) * 255
	return uint8(math.Max(0, math.Min(255, math.Round(y))))
}

// palette is the Palette Color Lookup Table of an image.
type palette struct {
	first   [3]int64
	entries [3][]uint8
}

// newPalette reads the red, green and blue LUT descriptors and data.
func newPalette(a attrSet, ts string) (*palette, error) {
	p := &palette{}
	for c := 0; c < 3; c++ {
		d := a.ints(tagRedDescriptor + dtag(c))
		data := a.bytes(tagRedData + dtag(c))
		if len(d) != 3 || len(data) == 0 {
			return nil, &UnsupportedError{TransferSyntax: ts, Name: "PALETTE COLOR without a simple lookup table"}
		}
		n := d[0]
		if n == 0 {
			n = 65536
		}
		first := int64(d[1])
		if first > 32767 {
			first -= 65536 // US descriptor holding a signed first value
		}
		p.first[c] = first
		lut := make([]uint8, n)
		switch {
		case len(data) >= 2*n:
			for i := range lut {
				w := binary.LittleEndian.Uint16(data[2*i:])
				if d[2] == 16 || w > 0xFF {
					w >>= 8
				}
				lut[i] = uint8(w)
			}
		case len(data) >= n && d[2] == 8:
			copy(lut, data)
		default:
			return nil, invalidf("palette lookup table holds %d bytes for %d entries", len(data), n)
		}
		p.entries[c] = lut
	}
	return p, nil
}

// lookup maps a stored value through the palette.
func (p *palette) lookup(v int64) (r, g, b uint8) {
	var out [3]uint8
	for c := 0; c < 3; c++ {
		i := v - p.first[c]
		if i < 0 {
			i = 0
		}
		if n := int64(len(p.entries[c])); i >= n {
			i = n - 1
		}
		out[c] = p.entries[c][i]
	}
	return out[0], out[1], out[2]
}
