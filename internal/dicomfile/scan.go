package dicomfile

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// The scanner walks the framing of a DICOM stream (tags, VRs, lengths,
// sequences, items, fragments) without decoding values. It exists because
// suyashkumar/dicom v1.1.0 allocates whatever length an element declares,
// treats a truncated value as a clean end of file, and reads every frame into
// memory. The scanner checks each declared length against the bytes that
// remain (in the file and in the enclosing item) before anything is read, and
// streams the values it does not keep; the library then decodes only the few
// small attributes this package needs (see attrs.go).

// dtag is a DICOM tag as group<<16 | element.
type dtag uint32

// String formats t the way DICOM documents do, e.g. "(7FE0,0010)".
func (t dtag) String() string {
	return fmt.Sprintf("(%04X,%04X)", uint16(t>>16), uint16(t))
}

func (t dtag) group() uint16 { return uint16(t >> 16) }

const (
	tagItem           dtag = 0xFFFEE000
	tagItemDelim      dtag = 0xFFFEE00D
	tagSeqDelim       dtag = 0xFFFEE0DD
	tagPixelData      dtag = 0x7FE00010
	tagSOPInstanceUID dtag = 0x00080018
	tagStudyUID       dtag = 0x0020000D
	tagSeriesUID      dtag = 0x0020000E
	tagMediaSOPInst   dtag = 0x00020003
	tagTransferSyn    dtag = 0x00020010
	tagMetaGroupLen   dtag = 0x00020000

	undefinedLength uint32 = 0xFFFFFFFF

	// maxDepth bounds sequence nesting so hostile input cannot recurse
	// without end.
	maxDepth = 32
)

// encoding is the byte order and VR style of a dataset.
type encoding struct {
	bo       binary.ByteOrder
	explicit bool
}

func implicitLE() encoding { return encoding{bo: binary.LittleEndian} }
func explicitLE() encoding { return encoding{bo: binary.LittleEndian, explicit: true} }
func explicitBE() encoding { return encoding{bo: binary.BigEndian, explicit: true} }

// element is the header of one data element.
type element struct {
	tag    dtag
	vr     string // explicit VR, or the dictionary VR for implicit syntaxes ("" if unknown)
	length uint32
	raw    [12]byte // the header bytes as read
	rawLen int
}

func (e *element) header() []byte { return e.raw[:e.rawLen] }

// scanner reads DICOM framing from a stream, tracking its position.
type scanner struct {
	br      *bufio.Reader
	pos     int64 // bytes consumed from the file (or from the inflated dataset)
	size    int64 // total bytes of the file, or -1 when unknown
	enc     encoding
	scratch []byte
}

func newScanner(r io.Reader, size int64) *scanner {
	if size >= 0 {
		// Never read past the declared size, whatever the reader holds.
		r = io.LimitReader(r, size)
	}
	return &scanner{br: bufio.NewReaderSize(r, 32<<10), size: size}
}

// remaining returns how many bytes are left in the file, or -1 if unknown.
func (s *scanner) remaining() int64 {
	if s.size < 0 {
		return -1
	}
	return s.size - s.pos
}

// inflate switches the scanner to reading a deflated dataset.
func (s *scanner) inflate(maxBytes int64) {
	s.br = bufio.NewReaderSize(&capReader{r: flate.NewReader(s.br), left: maxBytes}, 32<<10)
	s.size = -1
	s.pos = 0
}

// capReader fails with an InvalidError once more than left bytes are read;
// it bounds the work a deflate bomb can cause.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, invalidf("deflated dataset is larger than the %d bytes this server accepts", maxInflated)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	var corrupt flate.CorruptInputError
	if errors.As(err, &corrupt) {
		return n, invalidf("deflated dataset is corrupt")
	}
	return n, err
}

func (s *scanner) read(p []byte) (int, error) {
	n, err := io.ReadFull(s.br, p)
	s.pos += int64(n)
	return n, err
}

// copyN consumes n bytes, writing them to w unless w is nil, and returns how
// many were consumed.
func (s *scanner) copyN(w io.Writer, n int64) (int64, error) {
	if w == nil {
		var done int64
		for done < n {
			step := n - done
			if step > 1<<30 {
				step = 1 << 30
			}
			m, err := s.br.Discard(int(step))
			done += int64(m)
			s.pos += int64(m)
			if err != nil {
				return done, err
			}
		}
		return done, nil
	}
	if s.scratch == nil {
		s.scratch = make([]byte, 32<<10)
	}
	var done int64
	for done < n {
		chunk := s.scratch
		if rest := n - done; rest < int64(len(chunk)) {
			chunk = chunk[:rest]
		}
		m, err := s.read(chunk)
		done += int64(m)
		if m > 0 {
			if _, werr := w.Write(chunk[:m]); werr != nil {
				return done, fmt.Errorf("write: %w", werr)
			}
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// readErr turns a failed read of a value declared by e into an error: a short
// read is a truncated file; anything else is passed on.
func readErr(e element, got int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidf("truncated: element %s declares %d bytes but only %d remain", e.tag, e.length, got)
	}
	return fmt.Errorf("read element %s: %w", e.tag, err)
}

// longVR reports whether an explicit VR uses the 4-byte length form.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// dictionaryVR returns the VR of t in the standard dictionary, "" if unknown.
func dictionaryVR(t dtag) string {
	if t == tagPixelData {
		return "OW"
	}
	info, err := tag.Find(tag.Tag{Group: t.group(), Element: uint16(t)})
	if err != nil || len(info.VRs) == 0 {
		return ""
	}
	return info.VRs[0]
}

// readElementHeader reads the next element header. It returns io.EOF if the
// input ends cleanly before the header starts.
func (s *scanner) readElementHeader(enc encoding) (element, error) {
	var e element
	n, err := s.read(e.raw[:4])
	if n == 0 && errors.Is(err, io.EOF) {
		return e, io.EOF
	}
	if err != nil {
		return e, headerErr(err)
	}
	e.tag = dtag(uint32(enc.bo.Uint16(e.raw[0:2]))<<16 | uint32(enc.bo.Uint16(e.raw[2:4])))
	e.rawLen = 4
	if e.tag.group() == 0xFFFE || !enc.explicit {
		if _, err := s.read(e.raw[4:8]); err != nil {
			return e, headerErr(err)
		}
		e.rawLen = 8
		e.length = enc.bo.Uint32(e.raw[4:8])
		if e.tag.group() != 0xFFFE {
			e.vr = dictionaryVR(e.tag)
		}
		return e, nil
	}
	if _, err := s.read(e.raw[4:6]); err != nil {
		return e, headerErr(err)
	}
	e.rawLen = 6
	if !isUpper(e.raw[4]) || !isUpper(e.raw[5]) {
		return e, invalidf("element %s has an invalid VR %q", e.tag, e.raw[4:6])
	}
	e.vr = string(e.raw[4:6])
	if longVR(e.vr) {
		if _, err := s.read(e.raw[6:12]); err != nil {
			return e, headerErr(err)
		}
		e.rawLen = 12
		e.length = enc.bo.Uint32(e.raw[8:12])
		return e, nil
	}
	if _, err := s.read(e.raw[6:8]); err != nil {
		return e, headerErr(err)
	}
	e.rawLen = 8
	e.length = uint32(enc.bo.Uint16(e.raw[6:8]))
	return e, nil
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func headerErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidf("truncated: file ends inside an element header")
	}
	return fmt.Errorf("read element header: %w", err)
}

// checkFits verifies that the value of e fits in the file and before limit
// (the end of the nearest enclosing defined-length item, -1 for none).
func (s *scanner) checkFits(e element, limit int64) error {
	n := int64(e.length)
	if rem := s.remaining(); rem >= 0 && n > rem {
		return invalidf("truncated: element %s declares %d bytes but only %d remain", e.tag, n, rem)
	}
	if limit >= 0 && s.pos+n > limit {
		return invalidf("element %s declares %d bytes but only %d remain in its sequence item", e.tag, n, limit-s.pos)
	}
	return nil
}

// readValue reads the value of e into memory; callers bound e.length first.
func (s *scanner) readValue(e element, limit int64) ([]byte, error) {
	if err := s.checkFits(e, limit); err != nil {
		return nil, err
	}
	if e.length <= 64<<10 {
		buf := make([]byte, e.length)
		n, err := s.read(buf)
		if err != nil {
			return nil, readErr(e, int64(n), err)
		}
		return buf, nil
	}
	// Large values grow with the bytes that actually arrive, so a length
	// declared by a short file of unknown size allocates little.
	var buf bytes.Buffer
	buf.Grow(64 << 10)
	if n, err := s.copyN(&buf, int64(e.length)); err != nil {
		return nil, readErr(e, n, err)
	}
	return buf.Bytes(), nil
}

// undefinedKind tells how a value of undefined length is structured.
type undefinedKind int

const (
	undefinedInvalid undefinedKind = iota
	undefinedSequence
	undefinedFragments
)

func kindOfUndefined(e element) undefinedKind {
	switch e.vr {
	case "SQ", "UN", "":
		return undefinedSequence
	case "OB", "OW":
		return undefinedFragments
	}
	return undefinedInvalid
}

// consume reads the value of e, checking every nested length, and writes the
// bytes read to w unless w is nil. limit is the end of the nearest enclosing
// defined-length item (-1 for none).
func (s *scanner) consume(e element, enc encoding, limit int64, w io.Writer, depth int) error {
	if e.length == undefinedLength {
		switch kindOfUndefined(e) {
		case undefinedSequence:
			seqEnc := enc
			if e.vr == "UN" {
				// PS3.5 6.2.2: UN of undefined length holds an Implicit VR
				// Little Endian sequence.
				seqEnc = implicitLE()
			}
			return s.sequence(e, seqEnc, -1, limit, w, depth+1)
		case undefinedFragments:
			return s.fragments(e, enc, limit, w, nil)
		default:
			return invalidf("element %s declares an impossible length %d", e.tag, e.length)
		}
	}
	if err := s.checkFits(e, limit); err != nil {
		return err
	}
	if e.vr == "SQ" {
		end := s.pos + int64(e.length)
		return s.sequence(e, enc, end, end, w, depth+1)
	}
	n, err := s.copyN(w, int64(e.length))
	if err != nil {
		return readErr(e, n, err)
	}
	return nil
}

// sequence reads the items of sequence seq; end is its own end (-1 when it
// has undefined length) and limit the nearest enclosing defined end.
func (s *scanner) sequence(seq element, enc encoding, end, limit int64, w io.Writer, depth int) error {
	if depth > maxDepth {
		return invalidf("sequences nested deeper than %d levels", maxDepth)
	}
	for {
		if end >= 0 && s.pos == end {
			return nil
		}
		it, err := s.readElementHeader(enc)
		if errors.Is(err, io.EOF) {
			return invalidf("truncated: file ends inside sequence %s", seq.tag)
		}
		if err != nil {
			return err
		}
		if limit >= 0 && s.pos > limit {
			return invalidf("sequence %s overruns its declared length", seq.tag)
		}
		if err := emit(w, it); err != nil {
			return err
		}
		switch {
		case it.tag == tagSeqDelim && end < 0:
			return nil
		case it.tag == tagItem && it.length == undefinedLength:
			if err := s.dataset(enc, -1, limit, w, depth); err != nil {
				return err
			}
		case it.tag == tagItem:
			if err := s.checkFits(it, limit); err != nil {
				return err
			}
			itemEnd := s.pos + int64(it.length)
			if err := s.dataset(enc, itemEnd, itemEnd, w, depth); err != nil {
				return err
			}
		default:
			return invalidf("sequence %s holds %s where an item was expected", seq.tag, it.tag)
		}
	}
}

// dataset reads the elements of one sequence item.
func (s *scanner) dataset(enc encoding, end, limit int64, w io.Writer, depth int) error {
	for {
		if end >= 0 && s.pos == end {
			return nil
		}
		e, err := s.readElementHeader(enc)
		if errors.Is(err, io.EOF) {
			return invalidf("truncated: file ends inside a sequence item")
		}
		if err != nil {
			return err
		}
		if limit >= 0 && s.pos > limit {
			return invalidf("element %s crosses the end of its sequence item", e.tag)
		}
		if err := emit(w, e); err != nil {
			return err
		}
		if e.tag == tagItemDelim && end < 0 {
			return nil
		}
		if e.tag.group() == 0xFFFE {
			return invalidf("unexpected %s inside a sequence item", e.tag)
		}
		if err := s.consume(e, enc, limit, w, depth); err != nil {
			return err
		}
	}
}

// fragments reads the items of an encapsulated value of undefined length.
// When each is not nil it is called for every item (the first is the Basic
// Offset Table) with the scanner positioned at the item value, and must
// consume exactly length bytes; otherwise the values are copied to w.
func (s *scanner) fragments(e element, enc encoding, limit int64, w io.Writer, each func(index int, length uint32) error) error {
	for i := 0; ; i++ {
		it, err := s.readElementHeader(enc)
		if errors.Is(err, io.EOF) {
			return invalidf("truncated: file ends inside the fragments of %s", e.tag)
		}
		if err != nil {
			return err
		}
		if err := emit(w, it); err != nil {
			return err
		}
		if it.tag == tagSeqDelim {
			return nil
		}
		if it.tag != tagItem {
			return invalidf("encapsulated element %s holds %s where a fragment was expected", e.tag, it.tag)
		}
		if it.length == undefinedLength {
			return invalidf("fragment %d of %s declares an impossible length %d", i, e.tag, it.length)
		}
		if err := s.checkFits(it, limit); err != nil {
			return err
		}
		if each != nil {
			if err := each(i, it.length); err != nil {
				return err
			}
			continue
		}
		if n, err := s.copyN(w, int64(it.length)); err != nil {
			return readErr(it, n, err)
		}
	}
}

func emit(w io.Writer, e element) error {
	if w == nil {
		return nil
	}
	if _, err := w.Write(e.header()); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
