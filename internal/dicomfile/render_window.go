package dicomfile

import (
	"fmt"
	"image"
	"io"
)

// Window is a VOI window (PS3.3 C.11.2.1.2) to render monochrome images
// with, in place of the file's; Width must be at least 1.
type Window struct {
	Center, Width float64
}

// RenderFrameWindow is RenderFrame with the VOI window w in place of the
// file's when w is not nil; it applies to monochrome images only.
func RenderFrameWindow(r io.Reader, frame int, w *Window) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("render frame %d: %w", frame, invalidf("unreadable pixel data"))
		}
	}()
	if w == nil {
		return renderFrame(r, frame)
	}
	if w.Width < 1 {
		return nil, invalidf("window width %g is less than 1", w.Width)
	}
	var out image.Image
	p, err := scanFile(r, -1, func(s *scanner, e element, p *parsed) error {
		f, err := newFrameFormat(p)
		if err != nil {
			return err
		}
		f.window, f.center, f.width = true, w.Center, w.Width
		if frame < 0 || frame >= f.frames {
			return &RangeError{Frame: frame + 1, Count: f.frames}
		}
		switch {
		case f.native && e.length != undefinedLength:
			out, err = renderNative(s, e, f, frame)
		case f.native:
			return invalidf("pixel data is encapsulated but the transfer syntax %s is not", f.ts)
		case e.length == undefinedLength:
			out, err = renderEncapsulated(s, e, f, frame)
		default:
			return invalidf("transfer syntax %s needs encapsulated pixel data", f.ts)
		}
		if err != nil {
			return err
		}
		return stopScan{}
	})
	if err != nil {
		return nil, fmt.Errorf("render frame %d: %w", frame, err)
	}
	if out == nil || !p.pixel.present {
		return nil, fmt.Errorf("render frame %d: %w", frame, ErrNoPixelData)
	}
	return out, nil
}
