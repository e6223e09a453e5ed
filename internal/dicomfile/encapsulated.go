package dicomfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
)

// renderEncapsulated extracts frame from encapsulated pixel data e and
// decodes it.
func renderEncapsulated(s *scanner, e element, f *frameFormat, frame int) (image.Image, error) {
	data, err := readEncapsulatedFrame(s, e, f, frame)
	if err != nil {
		return nil, err
	}
	if f.ts == tsRLE {
		raw, err := decodeRLE(data, f)
		if err != nil {
			return nil, err
		}
		// decodeRLE yields planar little-endian samples.
		return toImage(f, samples{data: raw, bo: binary.LittleEndian}, true)
	}
	return decodeJPEG(data, f, frame)
}

// readEncapsulatedFrame collects the fragments of frame (PS3.5 A.4), using
// the Basic Offset Table when it has one entry per frame, else one frame per
// fragment for RLE and a new frame at each JPEG start-of-image marker.
func readEncapsulatedFrame(s *scanner, e element, f *frameFormat, frame int) ([]byte, error) {
	var (
		bot       []uint32
		firstItem int64 = -1
		current         = -1
		out       []byte
		taken     bool
	)
	err := s.fragments(e, s.enc, -1, nil, func(i int, n uint32) error {
		if i == 0 {
			if n%4 != 0 || int64(n) > 4*int64(maxFrames) {
				return invalidf("basic offset table of %d bytes is malformed", n)
			}
			v, err := s.readValue(element{tag: tagItem, length: n}, -1)
			if err != nil {
				return err
			}
			for j := 0; j+4 <= len(v); j += 4 {
				bot = append(bot, binary.LittleEndian.Uint32(v[j:]))
			}
			if len(bot) != f.frames || len(bot) > 0 && bot[0] != 0 {
				bot = nil
			}
			return nil
		}
		if firstItem < 0 {
			firstItem = s.pos - 8
		}
		take := false
		switch {
		case f.frames == 1:
			take = true
		case bot != nil:
			rel := s.pos - 8 - firstItem
			if frame+1 < len(bot) && rel >= int64(bot[frame+1]) {
				return stopScan{}
			}
			take = rel >= int64(bot[frame])
		default:
			head, _ := s.br.Peek(2)
			if f.ts == tsRLE || len(head) == 2 && head[0] == 0xFF && head[1] == 0xD8 {
				current++
			}
			if current > frame {
				return stopScan{}
			}
			take = current == frame
		}
		if !take {
			if m, err := s.copyN(nil, int64(n)); err != nil {
				return readErr(element{tag: tagItem, length: n}, m, err)
			}
			return nil
		}
		if len(out)+int(n) > maxCompressedFrame {
			return invalidf("compressed frame %d is larger than %d bytes", frame, maxCompressedFrame)
		}
		v, err := s.readValue(element{tag: tagItem, length: n}, -1)
		if err != nil {
			return err
		}
		out = append(out, v...)
		taken = true
		return nil
	})
	if err != nil && !errors.Is(err, stopScan{}) {
		return nil, err
	}
	if !taken {
		return nil, invalidf("frame %d not found in the encapsulated pixel data", frame)
	}
	return out, nil
}

// decodeRLE decodes one RLE Lossless frame (PS3.5 Annex G) into planar
// little-endian samples.
func decodeRLE(data []byte, f *frameFormat) ([]byte, error) {
	if len(data) < 64 {
		return nil, invalidf("RLE frame shorter than its 64-byte header")
	}
	bps := f.bitsAlloc / 8
	if f.bitsAlloc%8 != 0 || bps == 0 {
		return nil, invalidf("RLE with %d bits allocated", f.bitsAlloc)
	}
	nseg := int(binary.LittleEndian.Uint32(data))
	if nseg != f.spp*bps || nseg > 15 {
		return nil, invalidf("RLE frame has %d segments, expected %d", nseg, f.spp*bps)
	}
	npix := f.rows * f.cols
	// PackBits expands at most 64 times (2 bytes into 128): refuse to
	// allocate for a frame its data cannot fill.
	if int64(len(data))*64 < int64(npix)*int64(nseg) {
		return nil, invalidf("RLE frame of %d bytes cannot hold %d×%d pixels", len(data), f.cols, f.rows)
	}
	out := make([]byte, npix*nseg)
	seg := make([]byte, npix)
	for k := 0; k < nseg; k++ {
		start := int(binary.LittleEndian.Uint32(data[4+4*k:]))
		end := len(data)
		if k+1 < nseg {
			end = int(binary.LittleEndian.Uint32(data[8+4*k:]))
		}
		if start < 64 || start > end || end > len(data) {
			return nil, invalidf("RLE segment %d has invalid offsets", k)
		}
		if got := unpackBits(data[start:end], seg); got < npix {
			return nil, invalidf("RLE segment %d decodes to %d bytes, expected %d", k, got, npix)
		}
		// Segment k holds byte k%bps (most significant first) of sample k/bps.
		c, b := k/bps, bps-1-k%bps
		for i := 0; i < npix; i++ {
			out[(c*npix+i)*bps+b] = seg[i]
		}
	}
	return out, nil
}

// unpackBits decodes a PackBits byte segment into dst and returns how many
// bytes it produced.
func unpackBits(src, dst []byte) int {
	n, i := 0, 0
	for i < len(src) && n < len(dst) {
		h := int8(src[i])
		i++
		switch {
		case h >= 0:
			cnt := int(h) + 1
			if i+cnt > len(src) {
				cnt = len(src) - i
			}
			n += copy(dst[n:], src[i:i+cnt])
			i += cnt
		case h != -128:
			if i >= len(src) {
				return n
			}
			for cnt := 1 - int(h); cnt > 0 && n < len(dst); cnt-- {
				dst[n] = src[i]
				n++
			}
			i++
		}
	}
	return n
}

// decodeJPEG decodes an 8-bit JPEG frame with image/jpeg.
func decodeJPEG(data []byte, f *frameFormat, frame int) (image.Image, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, jpegErr(err, f, frame)
	}
	if cfg.Width != f.cols || cfg.Height != f.rows {
		return nil, invalidf("JPEG frame %d is %d×%d pixels but the header says %d×%d", frame, cfg.Width, cfg.Height, f.cols, f.rows)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, jpegErr(err, f, frame)
	}
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		if f.photometric != "MONOCHROME1" && f.photometric != "MONOCHROME2" {
			break
		}
		g := *f
		g.rows, g.cols, g.bitsAlloc, g.bitsStored, g.highBit, g.signed = b.Dy(), b.Dx(), 8, 8, 7, false
		pix := m.Pix
		if m.Stride != b.Dx() {
			pix = make([]byte, 0, b.Dx()*b.Dy())
			for y := 0; y < b.Dy(); y++ {
				pix = append(pix, m.Pix[y*m.Stride:y*m.Stride+b.Dx()]...)
			}
		}
		return monochrome(&g, samples{data: pix}, image.Rect(0, 0, b.Dx(), b.Dy())), nil
	case *image.YCbCr:
		// A JPEG labelled RGB without a JFIF or Adobe marker was encoded
		// without colour transform: its components are R, G and B.
		if f.photometric == "RGB" && m.SubsampleRatio == image.YCbCrSubsampleRatio444 && !hasColorMarker(data) {
			out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx(); x++ {
					yi, ci := m.YOffset(x+b.Min.X, y+b.Min.Y), m.COffset(x+b.Min.X, y+b.Min.Y)
					p := out.PixOffset(x, y)
					out.Pix[p], out.Pix[p+1], out.Pix[p+2], out.Pix[p+3] = m.Y[yi], m.Cb[ci], m.Cr[ci], 0xFF
				}
			}
			return out, nil
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out, nil
}

func jpegErr(err error, f *frameFormat, frame int) error {
	var unsupported jpeg.UnsupportedError
	if errors.As(err, &unsupported) {
		return &UnsupportedError{TransferSyntax: f.ts, Name: "JPEG with " + string(unsupported)}
	}
	return &InvalidError{Reason: fmt.Sprintf("JPEG data of frame %d cannot be decoded", frame), cause: err}
}

// hasColorMarker reports whether a JPEG stream has a JFIF (APP0) or Adobe
// (APP14) segment before its first scan, i.e. states its colour space.
func hasColorMarker(data []byte) bool {
	i := 2
	for i+4 <= len(data) && data[i] == 0xFF {
		marker := data[i+1]
		if marker == 0xDA { // start of scan
			return false
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 {
			return false
		}
		seg := data[i+4 : min(len(data), i+2+n)]
		if marker == 0xE0 && bytes.HasPrefix(seg, []byte("JFIF")) || marker == 0xEE && bytes.HasPrefix(seg, []byte("Adobe")) {
			return true
		}
		i += 2 + n
	}
	return false
}
