package dicomfile

import (
	"bufio"
	"compress/flate"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// NewUID returns a new DICOM UID of the form 2.25.<decimal of a random
// version 4 UUID> (PS3.5 B.2).
func NewUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return "2.25." + new(big.Int).SetBytes(b[:]).String()
}

// RewriteUIDs copies the DICOM file src to dst with new Study Instance UID,
// Series Instance UID and SOP Instance UID (and Media Storage SOP Instance
// UID in the file meta). Every other byte is copied unchanged, streaming, so
// pixel data is never held in memory. The three UIDs must be valid and src
// must already carry all three at its top level.
func RewriteUIDs(dst io.Writer, src io.Reader, study, series, instance string) error {
	for _, u := range []string{study, series, instance} {
		if !validUID(u) {
			return fmt.Errorf("rewrite UIDs: invalid UID %q", u)
		}
	}
	s, fs, err := openFile(src, -1)
	if err != nil {
		return fmt.Errorf("rewrite UIDs: %w", err)
	}
	bw := bufio.NewWriter(dst)
	if fs.preamble != nil {
		bw.Write(fs.preamble)
		bw.WriteString("DICM")
	}
	if fs.hasMeta {
		bw.Write(encodeMeta(fs.meta, instance))
	}
	out := io.Writer(bw)
	var fw *flate.Writer
	if fs.deflated {
		fw, _ = flate.NewWriter(bw, flate.DefaultCompression) // the level is valid
		out = fw
	}
	replace := map[dtag]string{tagStudyUID: study, tagSeriesUID: series, tagSOPInstanceUID: instance}
	seen := map[dtag]bool{}
	for {
		e, err := s.readElementHeader(s.enc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("rewrite UIDs: %w", err)
		}
		if e.tag.group() == 0xFFFE {
			return fmt.Errorf("rewrite UIDs: %w", invalidf("unexpected %s at the top level of the dataset", e.tag))
		}
		if u, ok := replace[e.tag]; ok && e.length <= 256 {
			if _, err := s.readValue(e, -1); err != nil {
				return fmt.Errorf("rewrite UIDs: %w", err)
			}
			if _, err := out.Write(encodeElement(s.enc, e.tag, "UI", padUID(u))); err != nil {
				return fmt.Errorf("rewrite UIDs: write: %w", err)
			}
			seen[e.tag] = true
			continue
		}
		if err := emit(out, e); err != nil {
			return fmt.Errorf("rewrite UIDs: %w", err)
		}
		if err := s.consume(e, s.enc, -1, out, 0); err != nil {
			return fmt.Errorf("rewrite UIDs: %w", err)
		}
	}
	for _, t := range []dtag{tagStudyUID, tagSeriesUID, tagSOPInstanceUID} {
		if !seen[t] {
			return fmt.Errorf("rewrite UIDs: %w", invalidf("source has no %s at its top level", t))
		}
	}
	if fw != nil {
		if err := fw.Close(); err != nil {
			return fmt.Errorf("rewrite UIDs: deflate: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("rewrite UIDs: write: %w", err)
	}
	return nil
}

// encodeMeta encodes the file meta group with a fresh group length and
// instance as Media Storage SOP Instance UID.
func encodeMeta(meta []metaElement, instance string) []byte {
	var body []byte
	for _, m := range meta {
		switch m.tag {
		case tagMetaGroupLen:
			continue
		case tagMediaSOPInst:
			body = append(body, encodeElement(explicitLE(), m.tag, "UI", padUID(instance))...)
		default:
			body = append(body, encodeElement(explicitLE(), m.tag, m.vr, m.value)...)
		}
	}
	var n [4]byte
	explicitLE().bo.PutUint32(n[:], uint32(len(body)))
	return append(encodeElement(explicitLE(), tagMetaGroupLen, "UL", n[:]), body...)
}

// encodeElement encodes one element (or item) with a defined length in enc.
func encodeElement(enc encoding, t dtag, vr string, v []byte) []byte {
	b := make([]byte, 12, 12+len(v))
	enc.bo.PutUint16(b[0:], t.group())
	enc.bo.PutUint16(b[2:], uint16(t))
	switch {
	case !enc.explicit || t.group() == 0xFFFE:
		enc.bo.PutUint32(b[4:], uint32(len(v)))
		b = b[:8]
	case longVR(vr):
		copy(b[4:], vr)
		b[6], b[7] = 0, 0
		enc.bo.PutUint32(b[8:], uint32(len(v)))
	default:
		copy(b[4:], vr)
		enc.bo.PutUint16(b[6:], uint16(len(v)))
		b = b[:8]
	}
	return append(b, v...)
}

// padUID returns u as a UI value, padded with NUL to an even length.
func padUID(u string) []byte {
	b := []byte(u)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return b
}
