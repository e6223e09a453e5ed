package dicomfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

const (
	tagDirRecordSeq dtag = 0x00041220
	tagRefFileID    dtag = 0x00041500
	tagRecordType   dtag = 0x00041430
	// mediaStorageDir is the SOP Class of a DICOMDIR (PS3.10 7.2).
	mediaStorageDir = "1.2.840.10008.1.3.10"
)

// ReadDICOMDIR streams the files a DICOMDIR (a Media Storage Directory,
// PS3.10) lists: each is called, in the order of the directory records,
// with a record's Referenced File ID as its path components (relative to
// the directory that holds the DICOMDIR, e.g. ["77654033", "CR1", "6154"]).
// Records that reference no file are skipped. The directory is read as it
// streams: memory does not grow with the number of records. size is the
// file's length, or -1 if unknown. A file that is not a DICOMDIR is an
// InvalidError.
func ReadDICOMDIR(r io.Reader, size int64, each func(fileID []string) error) error {
	s, _, err := openFile(r, size)
	if err != nil {
		return err
	}
	found := false
	for {
		e, err := s.readElementHeader(s.enc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if e.tag != tagDirRecordSeq {
			if err := s.consume(e, s.enc, -1, nil, 0); err != nil {
				return err
			}
			continue
		}
		found = true
		if err := dirRecords(s, e, each); err != nil {
			return err
		}
	}
	if !found {
		return invalidf("not a DICOMDIR: no Directory Record Sequence (0004,1220)")
	}
	return nil
}

// dirRecords walks the items of the Directory Record Sequence.
func dirRecords(s *scanner, seq element, each func([]string) error) error {
	enc := s.enc
	end := int64(-1)
	if seq.length != undefinedLength {
		end = s.pos + int64(seq.length)
	}
	for {
		if end >= 0 && s.pos == end {
			return nil
		}
		it, err := s.readElementHeader(enc)
		if err != nil {
			return invalidf("truncated: DICOMDIR ends inside its directory records")
		}
		switch {
		case it.tag == tagSeqDelim:
			return nil
		case it.tag != tagItem:
			return invalidf("directory records hold %s where an item was expected", it.tag)
		}
		itemEnd := int64(-1)
		if it.length != undefinedLength {
			itemEnd = s.pos + int64(it.length)
		}
		var id []string
		for itemEnd < 0 || s.pos < itemEnd {
			e, err := s.readElementHeader(enc)
			if err != nil {
				return invalidf("truncated: DICOMDIR ends inside a directory record")
			}
			if e.tag == tagItemDelim {
				break
			}
			if e.tag == tagRefFileID && e.length != undefinedLength && e.length <= 4096 {
				v, err := s.readValue(e, itemEnd)
				if err != nil {
					return err
				}
				id = splitFileID(v)
				continue
			}
			if err := s.consume(e, enc, itemEnd, nil, 1); err != nil {
				return err
			}
		}
		if len(id) > 0 {
			if err := each(id); err != nil {
				return err
			}
		}
	}
}

// splitFileID splits a Referenced File ID (CS, components separated by
// backslashes, padded with spaces) into its components.
func splitFileID(v []byte) []string {
	var out []string
	for _, p := range bytes.Split(v, []byte{'\\'}) {
		if c := strings.TrimRight(string(p), " \x00"); c != "" {
			out = append(out, strings.TrimLeft(c, " "))
		}
	}
	return out
}

// DirRecord is one IMAGE record of a DICOMDIR written by DICOMDIRWriter.
type DirRecord struct {
	// FileID is the path of the file, relative to the DICOMDIR, as
	// components of at most 8 characters (PS3.10 8.2: A-Z, 0-9 and _).
	FileID         []string
	SOPClassUID    string
	SOPInstanceUID string
	TransferSyntax string
}

// DICOMDIRWriter writes a DICOMDIR in Explicit VR Little Endian, one IMAGE
// record at a time (the record sequence has undefined length, so nothing
// is held in memory). Records are flat: the offsets that link a reader's
// patient, study and series records are zero, which readers that list the
// referenced files (ReadDICOMDIR, most importers) accept; it is meant for
// tests and for sending, not for archiving on media.
type DICOMDIRWriter struct {
	w   *bufio.Writer
	err error
}

// NewDICOMDIRWriter writes the preamble, file meta information and header
// of a DICOMDIR to w.
func NewDICOMDIRWriter(w io.Writer) *DICOMDIRWriter {
	d := &DICOMDIRWriter{w: bufio.NewWriter(w)}
	var meta bytes.Buffer
	writeElem(&meta, 0x00020001, "OB", []byte{0, 1})
	writeElem(&meta, 0x00020002, "UI", uidValue(mediaStorageDir))
	writeElem(&meta, 0x00020003, "UI", uidValue(NewUID()))
	writeElem(&meta, 0x00020010, "UI", uidValue(tsExplicitLE))
	writeElem(&meta, 0x00020012, "UI", uidValue("2.25.1"))
	d.w.Write(make([]byte, 128))
	d.w.WriteString("DICM")
	var gl [4]byte
	binary.LittleEndian.PutUint32(gl[:], uint32(meta.Len()))
	writeElem(d.w, 0x00020000, "UL", gl[:])
	d.w.Write(meta.Bytes())
	var zero4 [4]byte
	writeElem(d.w, 0x00041130, "CS", csValue("TELEREAD"))
	writeElem(d.w, 0x00041200, "UL", zero4[:])
	writeElem(d.w, 0x00041202, "UL", zero4[:])
	writeElem(d.w, 0x00041212, "US", []byte{0, 0})
	// (0004,1220) SQ of undefined length.
	d.w.Write([]byte{0x04, 0x00, 0x20, 0x12, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF})
	return d
}

// Add writes one IMAGE record.
func (d *DICOMDIRWriter) Add(r DirRecord) error {
	if d.err != nil {
		return d.err
	}
	var item bytes.Buffer
	var zero4 [4]byte
	writeElem(&item, 0x00041400, "UL", zero4[:])
	writeElem(&item, 0x00041410, "US", []byte{0xFF, 0xFF})
	writeElem(&item, 0x00041420, "UL", zero4[:])
	writeElem(&item, uint32(tagRecordType), "CS", csValue("IMAGE"))
	writeElem(&item, uint32(tagRefFileID), "CS", csValue(strings.Join(r.FileID, `\`)))
	writeElem(&item, 0x00041510, "UI", uidValue(r.SOPClassUID))
	writeElem(&item, 0x00041511, "UI", uidValue(r.SOPInstanceUID))
	writeElem(&item, 0x00041512, "UI", uidValue(r.TransferSyntax))
	var hdr [8]byte
	binary.LittleEndian.PutUint16(hdr[0:], 0xFFFE)
	binary.LittleEndian.PutUint16(hdr[2:], 0xE000)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(item.Len()))
	d.w.Write(hdr[:])
	_, d.err = d.w.Write(item.Bytes())
	return d.err
}

// Close ends the record sequence and flushes; it does not close the
// underlying writer.
func (d *DICOMDIRWriter) Close() error {
	if d.err != nil {
		return d.err
	}
	d.w.Write([]byte{0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0})
	return d.w.Flush()
}

// writeElem writes one Explicit VR Little Endian element.
func writeElem(w io.Writer, tag uint32, vr string, value []byte) {
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(tag>>16))
	binary.LittleEndian.PutUint16(h[2:], uint16(tag))
	copy(h[4:6], vr)
	if longVR(vr) {
		binary.LittleEndian.PutUint32(h[8:], uint32(len(value)))
		w.Write(h[:12])
	} else {
		binary.LittleEndian.PutUint16(h[6:], uint16(len(value)))
		w.Write(h[:8])
	}
	w.Write(value)
}

func uidValue(s string) []byte {
	if len(s)%2 == 1 {
		s += "\x00"
	}
	return []byte(s)
}

func csValue(s string) []byte {
	if len(s)%2 == 1 {
		s += " "
	}
	return []byte(s)
}
