package photo

import (
	"image"
	"io"
)

// Where the colour segments or chunks go in the encoders' output: right
// after SOI in a JPEG from image/jpeg, and right after the signature and
// IHDR (8 + 25 bytes) in a PNG from image/png.
const (
	jpegInsertAt = 2
	pngInsertAt  = 8 + 25
)

// encode writes the upright image img to dst in format f and puts back the
// source's colour profile when it still describes the encoded pixels. A
// profile that does not (a CMYK profile once the pixels are RGB) or that
// opts tells to drop is added to res.StrippedMetadata.
func encode(dst io.Writer, img image.Image, f Format, meta *metadata, opts *Options, res *Result) error {
	space := "RGB "
	switch img.(type) {
	case *image.Gray, *image.Gray16:
		space = "GRAY"
	}
	stripped := (*nameSet)(&res.StrippedMetadata)
	var extra []byte
	switch {
	case meta.jpeg != nil && meta.jpeg.iccBytes > 0 && !opts.DropICC:
		if meta.jpeg.icc != nil && iccSpace(meta.jpeg.iccProfile()) == space {
			extra = meta.jpeg.icc
		} else {
			stripped.add("icc")
		}
	case meta.png != nil:
		for _, c := range meta.png.colour {
			if string(c[4:8]) == "iCCP" && meta.png.iccSpace != space {
				stripped.add("icc")
				continue
			}
			extra = append(extra, c...)
		}
	case meta.webp != nil && meta.webp.icc != nil:
		if opts.DropICC || iccSpace(meta.webp.icc) != space {
			stripped.add("icc")
			break
		}
		chunk, err := iccpChunk(meta.webp.icc)
		if err != nil {
			return err
		}
		extra = chunk
	}

	if f == FormatJPEG {
		return EncodeJPEG(&insertWriter{w: dst, at: jpegInsertAt, extra: extra}, img, opts.JPEGQuality)
	}
	return EncodePNG(&insertWriter{w: dst, at: pngInsertAt, extra: extra}, img)
}

// insertWriter passes writes through to w and inserts extra once, after the
// first at bytes.
type insertWriter struct {
	w     io.Writer
	at    int
	extra []byte
	n     int
}

// Write writes p, inserting the extra bytes where they belong.
func (iw *insertWriter) Write(p []byte) (int, error) {
	if iw.extra == nil || iw.n+len(p) < iw.at {
		n, err := iw.w.Write(p)
		iw.n += n
		return n, err
	}
	k := iw.at - iw.n
	n, err := iw.w.Write(p[:k])
	iw.n += n
	if err != nil {
		return n, err
	}
	if _, err := iw.w.Write(iw.extra); err != nil {
		return n, err
	}
	iw.extra = nil
	m, err := iw.w.Write(p[k:])
	iw.n += m
	return n + m, err
}
