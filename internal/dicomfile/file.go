package dicomfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// Transfer syntax UIDs this package treats specially.
const (
	tsImplicitLE   = "1.2.840.10008.1.2"
	tsExplicitLE   = "1.2.840.10008.1.2.1"
	tsDeflatedLE   = "1.2.840.10008.1.2.1.99"
	tsExplicitBE   = "1.2.840.10008.1.2.2"
	tsJPEGBaseline = "1.2.840.10008.1.2.4.50"
	tsJPEGExtended = "1.2.840.10008.1.2.4.51"
	tsRLE          = "1.2.840.10008.1.2.5"
)

const (
	// maxMetaBytes bounds the file meta information group.
	maxMetaBytes = 64 << 10
	// maxInflated bounds the inflated size of a deflated dataset.
	maxInflated = 2 << 30
)

// metaElement is one raw element of the file meta information group.
type metaElement struct {
	tag   dtag
	vr    string
	value []byte
}

// fileStart describes what precedes the dataset.
type fileStart struct {
	preamble       []byte // the 128-byte preamble, nil if the file has none
	meta           []metaElement
	hasMeta        bool
	transferSyntax string // from the meta, or inferred when there is none
	deflated       bool
}

// openFile reads the preamble and file meta information of a DICOM stream
// and returns a scanner positioned at the first dataset element, set to the
// dataset's encoding.
func openFile(r io.Reader, size int64) (*scanner, *fileStart, error) {
	if size == 0 {
		return nil, nil, invalidf("empty file")
	}
	s := newScanner(r, size)
	head, err := s.br.Peek(132)
	if len(head) == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		return nil, nil, invalidf("empty file")
	}
	fs := &fileStart{}
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		fs.preamble = append([]byte(nil), head[:128]...)
		if _, err := s.copyN(nil, 132); err != nil {
			return nil, nil, err
		}
		if err := readMeta(s, fs); err != nil {
			return nil, nil, err
		}
	case len(head) >= 4 && string(head[:4]) == "DICM":
		if _, err := s.copyN(nil, 4); err != nil {
			return nil, nil, err
		}
		if err := readMeta(s, fs); err != nil {
			return nil, nil, err
		}
	case len(head) >= 8 && binary.LittleEndian.Uint16(head) == 0x0002:
		// File meta information without preamble.
		if err := readMeta(s, fs); err != nil {
			return nil, nil, err
		}
	default:
		ts, ok := inferSyntax(head)
		if !ok {
			return nil, nil, invalidf("not a DICOM file (no DICM prefix and no parseable dataset)")
		}
		fs.transferSyntax = ts
	}
	switch fs.transferSyntax {
	case tsImplicitLE:
		s.enc = implicitLE()
	case tsExplicitBE:
		s.enc = explicitBE()
	case tsDeflatedLE:
		s.enc = explicitLE()
		fs.deflated = true
		s.inflate(maxInflated)
	default:
		// PS3.5 A.4: every other transfer syntax encodes the dataset in
		// Explicit VR Little Endian.
		s.enc = explicitLE()
	}
	return s, fs, nil
}

// inferSyntax guesses the encoding of a dataset that has no file meta
// information. The dataset must start with a group 0008 element, as every
// such file seen in practice does.
func inferSyntax(head []byte) (string, bool) {
	if len(head) < 8 {
		return "", false
	}
	vrOK := isUpper(head[4]) && isUpper(head[5])
	switch {
	case binary.LittleEndian.Uint16(head) == 0x0008 && vrOK:
		return tsExplicitLE, true
	case binary.LittleEndian.Uint16(head) == 0x0008:
		return tsImplicitLE, true
	case binary.BigEndian.Uint16(head) == 0x0008 && vrOK:
		return tsExplicitBE, true
	}
	return "", false
}

// readMeta reads the group 0002 elements (always Explicit VR Little Endian).
func readMeta(s *scanner, fs *fileStart) error {
	fs.hasMeta = true
	var total int
	for {
		next, err := s.br.Peek(2)
		if len(next) < 2 {
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			break
		}
		if binary.LittleEndian.Uint16(next) != 0x0002 {
			break
		}
		e, err := s.readElementHeader(explicitLE())
		if err != nil {
			return err
		}
		if e.length == undefinedLength {
			return invalidf("element %s declares an impossible length %d", e.tag, e.length)
		}
		total += e.rawLen + int(e.length)
		if total > maxMetaBytes {
			if err := s.checkFits(e, -1); err != nil {
				return err
			}
			return invalidf("file meta information is larger than %d bytes", maxMetaBytes)
		}
		v, err := s.readValue(e, -1)
		if err != nil {
			return err
		}
		fs.meta = append(fs.meta, metaElement{tag: e.tag, vr: e.vr, value: v})
		if e.tag == tagTransferSyn {
			fs.transferSyntax = trimValue(v)
		}
	}
	if len(fs.meta) == 0 {
		if _, err := s.br.Peek(1); errors.Is(err, io.EOF) {
			return invalidf("truncated: file ends right after the DICM prefix")
		}
		return invalidf("missing file meta information after the DICM prefix")
	}
	if fs.transferSyntax == "" {
		return invalidf("file meta information lacks Transfer Syntax UID (0002,0010)")
	}
	if !validUID(fs.transferSyntax) {
		return invalidf("invalid Transfer Syntax UID %q", fs.transferSyntax)
	}
	return nil
}

// trimValue returns a string value without its padding.
func trimValue(v []byte) string {
	return string(bytes.Trim(v, " \x00"))
}

// validUID reports whether u is a syntactically valid UID (PS3.5 9.1).
func validUID(u string) bool {
	if u == "" || len(u) > 64 {
		return false
	}
	prevDot := true
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case c >= '0' && c <= '9':
			prevDot = false
		default:
			return false
		}
	}
	return !prevDot
}
