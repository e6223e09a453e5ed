package photo

import (
	"image"
	"image/color"
)

// orientMap describes, for one EXIF orientation, where output pixel (x, y)
// comes from in a source of size w x h: the source position of output pixel
// (0, y) and the source step for each x.
type orientMap struct {
	o    int
	w, h int
}

// swaps reports whether the orientation exchanges width and height.
func (m orientMap) swaps() bool { return m.o >= 5 }

// outSize returns the width and height of the upright image.
func (m orientMap) outSize() (int, int) {
	if m.swaps() {
		return m.h, m.w
	}
	return m.w, m.h
}

// row returns the source position of output pixel (0, y) and the step in
// source x and y for each output x. EXIF orientations: 2 mirror, 3 rotate
// 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
// counter-clockwise (the rotation that turns the stored pixels upright).
func (m orientMap) row(y int) (sx, sy, dx, dy int) {
	w, h := m.w, m.h
	switch m.o {
	case 2:
		return w - 1, y, -1, 0
	case 3:
		return w - 1, h - 1 - y, -1, 0
	case 4:
		return 0, h - 1 - y, 1, 0
	case 5:
		return y, 0, 0, 1
	case 6:
		return y, h - 1, 0, -1
	case 7:
		return w - 1 - y, h - 1, 0, -1
	case 8:
		return w - 1 - y, 0, 0, 1
	}
	return 0, y, 1, 0
}

// orient returns img turned upright for EXIF orientation o. It returns img
// itself for orientation 1 or an invalid value. The result has the same
// pixel type as img where possible; *image.YCbCr stays YCbCr when its chroma
// planes line up, otherwise it becomes *image.RGBA.
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	m := orientMap{o: o, w: b.Dx(), h: b.Dy()}
	ow, oh := m.outSize()
	r := image.Rect(0, 0, ow, oh)
	switch s := img.(type) {
	case *image.Gray:
		d := image.NewGray(r)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 1, m)
		return d
	case *image.Gray16:
		d := image.NewGray16(r)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 2, m)
		return d
	case *image.RGBA:
		d := image.NewRGBA(r)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 4, m)
		return d
	case *image.NRGBA:
		d := image.NewNRGBA(r)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 4, m)
		return d
	case *image.CMYK:
		d := image.NewCMYK(r)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 4, m)
		return d
	case *image.RGBA64:
		d := image.NewRGBA64(r)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 8, m)
		return d
	case *image.NRGBA64:
		d := image.NewNRGBA64(r)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 8, m)
		return d
	case *image.Paletted:
		d := image.NewPaletted(r, s.Palette)
		copyPix(d.Pix, d.Stride, s.Pix, s.Stride, 1, m)
		return d
	case *image.YCbCr:
		if d := orientYCbCr(s, m); d != nil {
			return d
		}
	}
	// Other types (and odd-sized subsampled YCbCr): convert pixel by pixel.
	d := image.NewNRGBA(r)
	for y := range oh {
		sx, sy, dx, dy := m.row(y)
		for x := range ow {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+sx, b.Min.Y+sy)).(color.NRGBA)
			i := d.PixOffset(x, y)
			d.Pix[i+0], d.Pix[i+1], d.Pix[i+2], d.Pix[i+3] = c.R, c.G, c.B, c.A
			sx, sy = sx+dx, sy+dy
		}
	}
	return d
}

// copyPix copies a source plane of m.w x m.h pixels of bpp bytes each into
// dst, turned for orientation m. Both planes start at their first pixel.
func copyPix(dst []byte, dstStride int, src []byte, srcStride, bpp int, m orientMap) {
	ow, oh := m.outSize()
	for y := range oh {
		sx, sy, dx, dy := m.row(y)
		si := sy*srcStride + sx*bpp
		step := dy*srcStride + dx*bpp
		di := y * dstStride
		for range ow {
			copy(dst[di:di+bpp], src[si:si+bpp])
			di += bpp
			si += step
		}
	}
}

// orientYCbCr turns a YCbCr image plane by plane, which keeps the original
// samples and uses less memory than RGBA. It returns nil when the chroma
// planes would not line up (odd sizes, 4:1:1 and 4:1:0 subsampling, or an
// image not starting at the origin).
func orientYCbCr(s *image.YCbCr, m orientMap) *image.YCbCr {
	if s.Rect.Min != (image.Point{}) {
		return nil
	}
	var cw, ch int // chroma block size
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		cw, ch = 1, 1
	case image.YCbCrSubsampleRatio422:
		cw, ch = 2, 1
	case image.YCbCrSubsampleRatio420:
		cw, ch = 2, 2
	case image.YCbCrSubsampleRatio440:
		cw, ch = 1, 2
	default:
		return nil
	}
	if m.w%cw != 0 || m.h%ch != 0 {
		return nil
	}
	ratio := s.SubsampleRatio
	if m.swaps() {
		switch ratio {
		case image.YCbCrSubsampleRatio422:
			ratio = image.YCbCrSubsampleRatio440
		case image.YCbCrSubsampleRatio440:
			ratio = image.YCbCrSubsampleRatio422
		}
	}
	ow, oh := m.outSize()
	d := image.NewYCbCr(image.Rect(0, 0, ow, oh), ratio)
	copyPix(d.Y, d.YStride, s.Y, s.YStride, 1, m)
	cm := orientMap{o: m.o, w: m.w / cw, h: m.h / ch}
	copyPix(d.Cb, d.CStride, s.Cb, s.CStride, 1, cm)
	copyPix(d.Cr, d.CStride, s.Cr, s.CStride, 1, cm)
	return d
}
