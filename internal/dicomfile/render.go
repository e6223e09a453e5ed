package dicomfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"

	"github.com/suyashkumar/dicom/pkg/uid"
)

// ErrNoPixelData is returned by RenderFrame for a file without pixel data
// (a structured report, a waveform, a DICOMDIR...).
var ErrNoPixelData = errors.New("DICOM file has no pixel data")

// Sanity limits on what RenderFrame decodes.
const (
	maxFramePixels     = 1 << 25 // rows × columns of one frame
	maxCompressedFrame = 256 << 20
)

// RenderFrame decodes frame number frame (from 0) of the DICOM file in r and
// returns it as an 8-bit image: *image.Gray for MONOCHROME1/2 (VOI window of
// the file after Rescale Slope/Intercept, or the frame's min/max when there
// is none; MONOCHROME1 inverted) and *image.RGBA for RGB, YBR_FULL(_422) and
// PALETTE COLOR. It streams r and stops after the frame, holding one frame
// in memory. Native (uncompressed, incl. deflated) syntaxes, RLE Lossless
// and 8-bit JPEG Baseline/Extended render; other transfer syntaxes give an
// *UnsupportedError, malformed files an *InvalidError, and files without
// pixel data ErrNoPixelData.
func RenderFrame(r io.Reader, frame int) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("render frame %d: %w", frame, invalidf("unreadable pixel data"))
		}
	}()
	return renderFrame(r, frame)
}

// renderFrame is RenderFrame without its panic guard, for the fuzz tests.
func renderFrame(r io.Reader, frame int) (image.Image, error) {
	var out image.Image
	p, err := scanFile(r, -1, func(s *scanner, e element, p *parsed) error {
		f, err := newFrameFormat(p)
		if err != nil {
			return err
		}
		if frame < 0 || frame >= f.frames {
			return fmt.Errorf("frame %d out of range: the file has %d frames", frame, f.frames)
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

// frameFormat describes the pixel data of a file.
type frameFormat struct {
	ts          string
	native      bool
	bo          binary.ByteOrder
	rows, cols  int
	spp         int
	bitsAlloc   int
	bitsStored  int
	highBit     int
	signed      bool
	planar      bool
	photometric string
	frames      int
	slope       float64
	intercept   float64
	window      bool
	center      float64
	width       float64
	palette     *palette
}

// newFrameFormat reads the image pixel module of p and checks that this
// package can render it.
func newFrameFormat(p *parsed) (*frameFormat, error) {
	a := p.attrs
	f := &frameFormat{
		ts:          p.start.transferSyntax,
		bo:          p.enc.bo,
		rows:        a.intVal(tagRows),
		cols:        a.intVal(tagColumns),
		spp:         a.intVal(tagSamplesPerPixel),
		bitsAlloc:   a.intVal(tagBitsAllocated),
		bitsStored:  a.intVal(tagBitsStored),
		signed:      a.intVal(tagPixelRep) == 1,
		planar:      a.intVal(tagPlanarConfig) == 1,
		photometric: a.str(tagPhotometric),
		slope:       1,
	}
	switch f.ts {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE, tsDeflatedLE:
		f.native = true
	case tsRLE:
	case tsJPEGBaseline, tsJPEGExtended:
		if f.bitsAlloc > 8 || f.bitsStored > 8 {
			return nil, &UnsupportedError{TransferSyntax: f.ts, Name: fmt.Sprintf("%d-bit JPEG", f.bitsStored)}
		}
	default:
		name := "an unknown transfer syntax"
		if info, err := uid.Lookup(f.ts); err == nil {
			name = info.Name
		}
		return nil, &UnsupportedError{TransferSyntax: f.ts, Name: name}
	}
	frames, err := numberOfFrames(a)
	if err != nil {
		return nil, err
	}
	f.frames = frames
	if f.spp == 0 {
		f.spp = 1
	}
	if f.bitsStored == 0 {
		f.bitsStored = f.bitsAlloc
	}
	f.highBit = f.bitsStored - 1
	if hb, ok := a[tagHighBit]; ok && hb != nil {
		f.highBit = a.intVal(tagHighBit)
	}
	switch {
	case f.rows <= 0 || f.cols <= 0:
		return nil, invalidf("pixel data without Rows or Columns")
	case f.rows*f.cols > maxFramePixels:
		return nil, invalidf("frame of %d×%d pixels is larger than this server renders", f.cols, f.rows)
	case f.bitsAlloc != 1 && f.bitsAlloc != 8 && f.bitsAlloc != 16 && f.bitsAlloc != 32:
		return nil, invalidf("unsupported Bits Allocated %d", f.bitsAlloc)
	case f.bitsStored < 1 || f.bitsStored > f.bitsAlloc || f.highBit < f.bitsStored-1 || f.highBit >= f.bitsAlloc:
		return nil, invalidf("inconsistent Bits Stored %d / High Bit %d for Bits Allocated %d", f.bitsStored, f.highBit, f.bitsAlloc)
	}
	switch f.photometric {
	case "MONOCHROME1", "MONOCHROME2":
		if f.spp != 1 {
			return nil, invalidf("%s with %d samples per pixel", f.photometric, f.spp)
		}
	case "PALETTE COLOR":
		if f.spp != 1 {
			return nil, invalidf("%s with %d samples per pixel", f.photometric, f.spp)
		}
		if f.palette, err = newPalette(a, f.ts); err != nil {
			return nil, err
		}
	case "RGB", "YBR_FULL", "YBR_FULL_422":
		if f.spp != 3 {
			return nil, invalidf("%s with %d samples per pixel", f.photometric, f.spp)
		}
		if f.bitsAlloc == 1 {
			return nil, invalidf("%s with 1 bit per sample", f.photometric)
		}
	default:
		return nil, &UnsupportedError{TransferSyntax: f.ts, Name: fmt.Sprintf("photometric interpretation %q", f.photometric)}
	}
	if v, ok := a.float(tagRescaleSlope); ok && v != 0 {
		f.slope = v
	}
	if v, ok := a.float(tagRescaleIntercept); ok {
		f.intercept = v
	}
	c, okc := a.float(tagWindowCenter)
	w, okw := a.float(tagWindowWidth)
	if okc && okw && w >= 1 {
		f.window, f.center, f.width = true, c, w
	}
	return f, nil
}

// frameBits is the size in bits of one native frame.
func (f *frameFormat) frameBits() int64 {
	return nativeFrameBits(f.rows, f.cols, f.spp, f.bitsAlloc, f.photometric)
}

// renderNative reads frame of native pixel data e and converts it.
func renderNative(s *scanner, e element, f *frameFormat, frame int) (image.Image, error) {
	bits := f.frameBits()
	startBit := bits * int64(frame)
	start, end := startBit/8, (startBit+bits+7)/8
	// In Explicit VR Big Endian, 8-bit samples in an OW value are byte
	// swapped in 16-bit words (PS3.5 8.1.1).
	swap := f.bo == binary.BigEndian && f.bitsAlloc == 8 && e.vr == "OW"
	if swap {
		start, end = start&^1, (end+1)&^1
	}
	if end > int64(e.length) {
		return nil, invalidf("pixel data holds %d bytes but frame %d needs %d", e.length, frame, end)
	}
	if n, err := s.copyN(nil, start); err != nil {
		return nil, readErr(e, n, err)
	}
	data, err := s.readValue(element{tag: e.tag, length: uint32(end - start)}, -1)
	if err != nil {
		return nil, err
	}
	if swap {
		for i := 0; i+1 < len(data); i += 2 {
			data[i], data[i+1] = data[i+1], data[i]
		}
	}
	return toImage(f, samples{data: data, bo: f.bo, bitOffset: int(startBit % 8)}, f.planar)
}
