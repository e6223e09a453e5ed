package photo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Process checks the uploaded photo in src and writes its cleaned, upright,
// metadata-free copy to dst.
//
// It refuses, with an *InvalidError and before writing anything to dst, a
// file that is not JPEG, PNG or WebP (by magic bytes), an image larger than
// opts allows (read from the header only, before any pixel is allocated),
// and an empty, truncated or damaged image. Quality problems are not errors:
// they come back as Result.Warnings with the Result.Measures behind them.
//
// The stored copy keeps the source format and its compressed data unchanged
// (only metadata segments and chunks are dropped) unless the image must be
// re-encoded: when its EXIF orientation is not 1 the pixels are turned
// upright and encoded again (JPEG at opts.JPEGQuality, PNG lossless), and
// WebP is always stored as PNG. ICC profiles are kept unless opts.DropICC.
//
// src must be seekable because Process reads it in several passes (header,
// metadata walk, decode, copy) instead of holding the upload in memory; pass
// the temporary file the upload was spooled to, or a *bytes.Reader. Reading
// starts at src's current offset. Memory use is one decoded image (plus one
// more when it must be turned upright) and a small greyscale copy. Errors
// other than *InvalidError come from reading src or writing dst.
func Process(dst io.Writer, src io.ReadSeeker, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	start, err := src.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("seek upload: %w", err)
	}
	in := &upload{rs: src, start: start}

	head := make([]byte, 132)
	n, err := io.ReadFull(in, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	format, ok := Sniff(head[:n])
	if !ok {
		return nil, &InvalidError{Reason: describeUnsupported(head[:n])}
	}

	if format == FormatPNG && n >= 24 && string(head[12:16]) == "IHDR" {
		// Check the IHDR size first: image/png refuses sizes that overflow
		// an int with a less helpful message.
		w, h := binary.BigEndian.Uint32(head[16:20]), binary.BigEndian.Uint32(head[20:24])
		if err := opts.checkSize(int(min(w, 1<<31-1)), int(min(h, 1<<31-1))); err != nil {
			return nil, err
		}
	}
	cfg, err := in.decodeConfig(format)
	if err != nil {
		return nil, err
	}
	if err := opts.checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	meta, err := in.scan(format, !opts.DropICC)
	if err != nil {
		return nil, err
	}
	img, err := in.decode(format)
	if err != nil {
		return nil, err
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, invalidf("damaged %s image (size changed while decoding)", format.name())
	}

	res := &Result{
		SourceFormat:     format,
		Format:           format,
		Width:            cfg.Width,
		Height:           cfg.Height,
		Orientation:      max(1, meta.exif.orientation),
		StrippedMetadata: meta.stripped,
		HadGPS:           meta.hadGPS,
		// Blur and exposure do not depend on orientation: measure before
		// turning, while only one full-size image is in memory.
		Measures: Measure(img),
	}
	if res.Orientation >= 5 {
		res.Width, res.Height = res.Height, res.Width
	}
	res.Warnings = opts.warnings(res.Measures, res.Width, res.Height)
	if format == FormatWebP {
		res.Format = FormatPNG
	}
	res.ContentType = res.Format.ContentType()

	if res.Orientation == 1 && format != FormatWebP {
		if err := in.copyStripped(dst, format, !opts.DropICC); err != nil {
			return nil, err
		}
	} else {
		res.Reencoded = true
		if err := encode(dst, orient(img, res.Orientation), res.Format, meta, &opts, res); err != nil {
			return nil, fmt.Errorf("write stored copy: %w", err)
		}
	}
	if res.StrippedMetadata == nil {
		res.StrippedMetadata = []string{}
	}
	if res.Warnings == nil {
		res.Warnings = []Warning{}
	}
	return res, nil
}

// checkSize refuses, before decoding, an image with no pixels or more than
// the limits allow.
func (o Options) checkSize(w, h int) error {
	switch {
	case w <= 0 || h <= 0:
		return invalidf("image has no pixels (%dx%d)", w, h)
	case w > o.MaxSide || h > o.MaxSide:
		return invalidf("image is %dx%d pixels; the longest side allowed is %d", w, h, o.MaxSide)
	case int64(w)*int64(h) > o.MaxPixels:
		return invalidf("image is %dx%d pixels (%s MP); the limit is %s MP",
			w, h, megapixels(int64(w)*int64(h)), megapixels(o.MaxPixels))
	}
	return nil
}

// megapixels formats a pixel count in megapixels: "400", "12.2".
func megapixels(n int64) string {
	if n%1_000_000 == 0 || n >= 100_000_000 {
		return fmt.Sprintf("%d", (n+500_000)/1_000_000)
	}
	return fmt.Sprintf("%.1f", float64(n)/1e6)
}

// name returns the format's usual name for messages.
func (f Format) name() string {
	switch f {
	case FormatJPEG:
		return "JPEG"
	case FormatPNG:
		return "PNG"
	case FormatWebP:
		return "WebP"
	}
	return string(f)
}

// metadata is what the metadata walk found, whatever the format.
type metadata struct {
	exif     exifInfo
	stripped nameSet
	hadGPS   bool
	jpeg     *jpegInfo
	png      *pngInfo
	webp     *webpInfo
}

// upload reads the uploaded file from its start in several passes and
// remembers the first read error, so that a failing disk is not reported to
// the sender as a damaged image.
type upload struct {
	rs    io.ReadSeeker
	start int64
	err   error
}

// Read reads from the upload and records any error other than io.EOF.
func (u *upload) Read(p []byte) (int, error) {
	n, err := u.rs.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && u.err == nil {
		u.err = err
	}
	return n, err
}

// rewind goes back to the start of the upload.
func (u *upload) rewind() error {
	if _, err := u.rs.Seek(u.start, io.SeekStart); err != nil {
		return fmt.Errorf("rewind upload: %w", err)
	}
	return nil
}

// fail turns an error met while reading an image into the error Process
// returns: a read error as it is, anything else as an *InvalidError.
func (u *upload) fail(f Format, err error) error {
	if u.err != nil {
		return fmt.Errorf("read upload: %w", u.err)
	}
	var inv *InvalidError
	var jf jpeg.FormatError
	var ju jpeg.UnsupportedError
	var pf png.FormatError
	var pu png.UnsupportedError
	switch {
	case errors.As(err, &inv):
		return inv
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return invalidf("truncated %s", f.name())
	case errors.As(err, &ju):
		return invalidf("unsupported kind of JPEG (%s)", string(ju))
	case errors.As(err, &pu):
		return invalidf("unsupported kind of PNG (%s)", string(pu))
	case errors.As(err, &jf):
		return invalidf("damaged JPEG image (%s)", string(jf))
	case errors.As(err, &pf):
		return invalidf("damaged PNG image (%s)", string(pf))
	}
	// The WebP decoder's errors are plain strings such as "webp: invalid
	// format"; errors from the source were handled above.
	return invalidf("damaged %s image (%v)", f.name(), err)
}

// decodeConfig reads the image header.
func (u *upload) decodeConfig(f Format) (image.Config, error) {
	if err := u.rewind(); err != nil {
		return image.Config{}, err
	}
	var cfg image.Config
	var err error
	switch f {
	case FormatJPEG:
		cfg, err = jpeg.DecodeConfig(u)
	case FormatPNG:
		cfg, err = png.DecodeConfig(u)
	case FormatWebP:
		cfg, err = webp.DecodeConfig(u)
	}
	if err != nil {
		return image.Config{}, u.fail(f, err)
	}
	return cfg, nil
}

// scan walks the file's segments or chunks without writing anything.
func (u *upload) scan(f Format, keepICC bool) (*metadata, error) {
	if err := u.rewind(); err != nil {
		return nil, err
	}
	m := &metadata{}
	var err error
	switch f {
	case FormatJPEG:
		if m.jpeg, err = stripJPEG(io.Discard, u, keepICC); err == nil {
			m.exif, m.stripped, m.hadGPS = m.jpeg.exif, m.jpeg.stripped, m.jpeg.hadGPS
		}
	case FormatPNG:
		if m.png, err = stripPNG(io.Discard, u, keepICC); err == nil {
			m.exif, m.stripped, m.hadGPS = m.png.exif, m.png.stripped, m.png.hadGPS
		}
	case FormatWebP:
		if m.webp, err = scanWebP(u); err == nil {
			m.exif, m.stripped, m.hadGPS = m.webp.exif, m.webp.stripped, m.webp.hadGPS
		}
	}
	if err != nil {
		return nil, u.fail(f, err)
	}
	return m, nil
}

// decode decodes the whole image.
func (u *upload) decode(f Format) (image.Image, error) {
	if err := u.rewind(); err != nil {
		return nil, err
	}
	var img image.Image
	var err error
	switch f {
	case FormatJPEG:
		img, err = jpeg.Decode(u)
	case FormatPNG:
		img, err = png.Decode(u)
	case FormatWebP:
		img, err = webp.Decode(u)
	}
	if err != nil {
		return nil, u.fail(f, err)
	}
	return img, nil
}

// copyStripped writes the upload to dst without its metadata.
func (u *upload) copyStripped(dst io.Writer, f Format, keepICC bool) error {
	if err := u.rewind(); err != nil {
		return err
	}
	var err error
	switch f {
	case FormatJPEG:
		_, err = stripJPEG(dst, u, keepICC)
	case FormatPNG:
		_, err = stripPNG(dst, u, keepICC)
	default:
		err = fmt.Errorf("copy %s: not supported", f.name())
	}
	if u.err != nil {
		return fmt.Errorf("read upload: %w", u.err)
	}
	if err != nil {
		return fmt.Errorf("write stored copy: %w", err)
	}
	return nil
}
