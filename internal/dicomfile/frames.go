package dicomfile

import (
	"errors"
	"fmt"
	"io"
)

// maxNativeFrame bounds the size of one native frame read into memory.
const maxNativeFrame = 1 << 30

// ValueLocation is where the value of a top-level element lies.
type ValueLocation struct {
	// Offset is the offset of the value in the file, or -1 when the
	// value is not at a fixed place of the file (a deflated data set).
	Offset int64
	// Length is the length of the value in bytes, -1 for an undefined
	// length (encapsulated data, a sequence).
	Length int64
	// VR is the element's VR ("UN" if unknown).
	VR string
	// TransferSyntax is the file's transfer syntax.
	TransferSyntax string
}

// ErrNoElement is returned by LocateValue when the file has no such
// top-level element.
var ErrNoElement = errors.New("DICOM file has no such element")

// LocateValue reads the DICOM file in r (size bytes, -1 if unknown) up to
// the top-level element t (group<<16 | element) and returns where its value
// lies and a reader of it, positioned at its first byte and ending with it
// (for a value of defined length; nil otherwise). The reader reads from r,
// which must stay open while it is used. A file without t gives
// ErrNoElement.
func LocateValue(r io.Reader, size int64, t uint32) (loc ValueLocation, value io.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			loc, value, err = ValueLocation{}, nil, fmt.Errorf("locate %s: %w", dtag(t), invalidf("unreadable DICOM structure"))
		}
	}()
	s, fs, err := openFile(r, size)
	if err != nil {
		return loc, nil, fmt.Errorf("locate %s: %w", dtag(t), err)
	}
	want := dtag(t)
	for {
		e, err := s.readElementHeader(s.enc)
		if errors.Is(err, io.EOF) {
			return loc, nil, ErrNoElement
		}
		if err != nil {
			return loc, nil, fmt.Errorf("locate %s: %w", want, err)
		}
		if e.tag.group() == 0xFFFE {
			return loc, nil, fmt.Errorf("locate %s: %w", want, invalidf("unexpected %s at the top level of the dataset", e.tag))
		}
		if e.tag == want {
			loc = ValueLocation{Offset: s.pos, Length: int64(e.length), VR: e.vr, TransferSyntax: fs.transferSyntax}
			if loc.VR == "" {
				loc.VR = "UN"
			}
			if fs.deflated {
				loc.Offset = -1
			}
			if e.length == undefinedLength {
				loc.Length = -1
				return loc, nil, nil
			}
			if err := s.checkFits(e, -1); err != nil {
				return loc, nil, fmt.Errorf("locate %s: %w", want, err)
			}
			return loc, &scanValue{s: s, left: loc.Length}, nil
		}
		if e.tag > want && e.tag.group() != 0x0002 {
			return loc, nil, ErrNoElement // elements are in tag order
		}
		if err := s.consume(e, s.enc, -1, nil, 0); err != nil {
			return loc, nil, fmt.Errorf("locate %s: %w", want, err)
		}
	}
}

// scanValue reads the rest of one value from a scanner.
type scanValue struct {
	s    *scanner
	left int64
}

func (v *scanValue) Read(p []byte) (int, error) {
	if v.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n, err := v.s.br.Read(p)
	v.s.pos += int64(n)
	v.left -= int64(n)
	if errors.Is(err, io.EOF) && v.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Frames describes the pixel data of a file for frame retrieval.
type Frames struct {
	// TransferSyntax is the file's transfer syntax.
	TransferSyntax string
	// Encapsulated tells compressed (encapsulated) pixel data.
	Encapsulated bool
	// Count is the Number of Frames.
	Count int
	// FrameSize is the size in bytes of one native frame (0 when
	// encapsulated, or when frames do not start on a byte boundary).
	FrameSize int64
	// Offset is the offset of the native pixel data value in the file,
	// -1 when encapsulated or not at a fixed place (deflated).
	Offset int64
	// Length is the length of the native pixel data value.
	Length int64
}

// FrameLayout reads the DICOM file in r up to its Pixel Data and describes
// its frames. A file without pixel data gives ErrNoPixelData.
func FrameLayout(r io.Reader, size int64) (fr *Frames, err error) {
	defer func() {
		if p := recover(); p != nil {
			fr, err = nil, fmt.Errorf("frame layout: %w", invalidf("unreadable DICOM structure"))
		}
	}()
	_, err = scanFile(r, size, func(s *scanner, e element, p *parsed) error {
		f, err := layoutOf(p, e)
		if err != nil {
			return err
		}
		if !f.Encapsulated && p.start.deflated {
			f.Offset = -1
		} else if !f.Encapsulated {
			f.Offset = s.pos
		}
		fr = f
		return stopScan{}
	})
	if err != nil {
		return nil, fmt.Errorf("frame layout: %w", err)
	}
	if fr == nil {
		return nil, fmt.Errorf("frame layout: %w", ErrNoPixelData)
	}
	return fr, nil
}

// layoutOf describes the pixel data element e of a scan.
func layoutOf(p *parsed, e element) (*Frames, error) {
	a := p.attrs
	n, err := numberOfFrames(a)
	if err != nil {
		return nil, err
	}
	f := &Frames{TransferSyntax: p.start.transferSyntax, Count: n, Offset: -1}
	if e.length == undefinedLength {
		f.Encapsulated = true
		return f, nil
	}
	switch f.TransferSyntax {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE, tsDeflatedLE:
	default:
		if p.start.hasMeta {
			return nil, invalidf("transfer syntax %s needs encapsulated pixel data", f.TransferSyntax)
		}
	}
	rows, cols, bits := a.intVal(tagRows), a.intVal(tagColumns), a.intVal(tagBitsAllocated)
	spp := a.intVal(tagSamplesPerPixel)
	if spp == 0 {
		spp = 1
	}
	if rows <= 0 || cols <= 0 || bits <= 0 {
		return nil, invalidf("pixel data without Rows, Columns or Bits Allocated")
	}
	fb := nativeFrameBits(rows, cols, spp, bits, a.str(tagPhotometric))
	if fb%8 == 0 {
		f.FrameSize = fb / 8
	}
	f.Length = int64(e.length)
	if need := (fb*int64(n) + 7) / 8; f.Length < need {
		return nil, invalidf("pixel data holds %d bytes but %d frames need %d", f.Length, n, need)
	}
	return f, nil
}

// ReadFrame returns the bytes of frame (from 0) of the DICOM file in r:
// for native pixel data the frame's samples as stored, for encapsulated
// pixel data its compressed bytes (its fragments joined), found by the
// Basic Offset Table or as one fragment per frame (a JPEG start-of-image
// marker starting each frame). It streams r and holds one frame. A frame
// out of range gives a *RangeError, a file without pixel data
// ErrNoPixelData, and native frames that do not start on a byte boundary
// (1-bit data) an *UnsupportedError.
func ReadFrame(r io.Reader, size int64, frame int) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("read frame %d: %w", frame+1, invalidf("unreadable pixel data"))
		}
	}()
	_, err = scanFile(r, size, func(s *scanner, e element, p *parsed) error {
		f, err := layoutOf(p, e)
		if err != nil {
			return err
		}
		if frame < 0 || frame >= f.Count {
			return &RangeError{Frame: frame + 1, Count: f.Count}
		}
		if f.Encapsulated {
			ff := &frameFormat{ts: f.TransferSyntax, frames: f.Count}
			data, err = readEncapsulatedFrame(s, e, ff, frame)
			if err != nil {
				return err
			}
			return stopScan{}
		}
		if f.FrameSize == 0 {
			return &UnsupportedError{TransferSyntax: f.TransferSyntax, Name: "native frames that do not start on a byte boundary"}
		}
		if f.FrameSize > maxNativeFrame {
			return invalidf("a frame of %d bytes is larger than this server reads", f.FrameSize)
		}
		if n, err := s.copyN(nil, f.FrameSize*int64(frame)); err != nil {
			return readErr(e, n, err)
		}
		data, err = s.readValue(element{tag: e.tag, length: uint32(f.FrameSize)}, -1)
		if err != nil {
			return err
		}
		return stopScan{}
	})
	if err != nil {
		return nil, fmt.Errorf("read frame %d: %w", frame+1, err)
	}
	if data == nil {
		return nil, fmt.Errorf("read frame %d: %w", frame+1, ErrNoPixelData)
	}
	return data, nil
}

// RangeError reports a frame number beyond the frames of a file.
type RangeError struct {
	// Frame is the frame asked for, from 1; Count the frames there are.
	Frame, Count int
}

// Error implements error.
func (e *RangeError) Error() string {
	return fmt.Sprintf("frame %d out of range: the instance has %d frames", e.Frame, e.Count)
}
