package dicomfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

// streamReader hides bytes.Reader's Seek and WriteTo, so that the scanner
// reads as it does from intake's pipe.
type streamReader struct{ r io.Reader }

func (s streamReader) Read(p []byte) (int, error) { return s.r.Read(p) }

// addUploadSeeds adds what intake actually receives: the upload test files
// of internal/intake/testdata (the start of the large ones), and small
// hostile shapes (deep sequences, many tiny elements).
func addUploadSeeds(f *testing.F) {
	root := filepath.Join("..", "intake", "testdata")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) == ".md" || filepath.Ext(path) == ".jpg" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(data) > 12<<10 {
			data = data[:4<<10]
		}
		f.Add(data)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(nestedSequences(explicitLE(), 40, true))
	f.Add(nestedSequences(implicitLE(), 40, false))
	f.Add(tinyElements(explicitLE(), 200))
}

// FuzzReadHeaderUpload reads every input as intake does: whole, with its
// size (small files), and streamed with size -1 (large ones and STOW-RS
// parts). The two must agree, a refusal must be an *InvalidError with a
// reason to show the uploader, and an accepted header must be within the
// bounds the index relies on (valid UIDs, US-sized image dimensions, a
// sane frame count).
func FuzzReadHeaderUpload(f *testing.F) {
	addSeeds(f)
	addUploadSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, errWhole := readHeader(bytes.NewReader(data), int64(len(data)))
		streamed, errStream := readHeader(streamReader{bytes.NewReader(data)}, -1)
		for _, err := range []error{errWhole, errStream} {
			if err == nil {
				continue
			}
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("error is not an InvalidError: %v", err)
			}
			if inv.Reason == "" || !utf8.ValidString(inv.Reason) {
				t.Fatalf("refusal without a readable reason: %q", inv.Reason)
			}
		}
		if (errWhole == nil) != (errStream == nil) {
			t.Fatalf("whole and streamed reads disagree: %v / %v", errWhole, errStream)
		}
		if errWhole != nil {
			return
		}
		if !reflect.DeepEqual(whole, streamed) {
			t.Fatalf("whole and streamed headers differ:\n%+v\n%+v", whole, streamed)
		}
		checkHeaderBounds(t, whole)
	})
}

// checkHeaderBounds fails t if an accepted header breaks an invariant.
func checkHeaderBounds(t *testing.T, h *Header) {
	t.Helper()
	for _, u := range []string{h.SOPInstanceUID, h.StudyInstanceUID, h.SeriesInstanceUID} {
		if !validUID(u) || len(u) > 64 {
			t.Fatalf("accepted an invalid UID %q", u)
		}
	}
	if h.TransferSyntaxUID == "" {
		t.Fatal("accepted without a transfer syntax")
	}
	for name, v := range map[string]int{"Rows": h.Rows, "Columns": h.Columns, "BitsAllocated": h.BitsAllocated,
		"BitsStored": h.BitsStored, "SamplesPerPixel": h.SamplesPerPixel} {
		if v < 0 || v > 0xFFFF {
			t.Fatalf("%s %d is outside the US range", name, v)
		}
	}
	if h.HasPixelData {
		if h.NumberOfFrames < 1 || h.NumberOfFrames > maxFrames {
			t.Fatalf("NumberOfFrames %d with pixel data", h.NumberOfFrames)
		}
		if h.Rows == 0 || h.Columns == 0 || h.BitsAllocated == 0 || h.SamplesPerPixel == 0 {
			t.Fatalf("pixel data accepted with an empty dimension: %+v", h)
		}
	} else if h.NumberOfFrames != 0 {
		t.Fatalf("NumberOfFrames %d without pixel data", h.NumberOfFrames)
	}
	for _, s := range []string{h.PatientName, h.PatientID, h.StudyDescription, h.SeriesDescription, h.Modality} {
		if !utf8.ValidString(s) {
			t.Fatalf("text is not UTF-8: %q", s)
		}
	}
	if _, err := h.JSON(); err != nil {
		t.Fatal(err)
	}
}

// nestedSequences is a valid file whose dataset holds a sequence nested
// depth levels deep, with defined lengths or undefined ones (delimited).
func nestedSequences(enc encoding, depth int, undefined bool) []byte {
	ts := tsExplicitLE
	if !enc.explicit {
		ts = tsImplicitLE
	}
	b := newPart10(ts, enc).withUIDs()
	item := newDataset(enc).str(tagPatientID, "LO", "X").bytes()
	for i := 0; i < depth; i++ {
		inner := newDataset(enc)
		if undefined {
			inner.header(tagItem, "", undefinedLength).raw(item).header(tagItemDelim, "", 0)
			item = newDataset(enc).header(0x00081115, "SQ", undefinedLength).raw(inner.bytes()).
				header(tagSeqDelim, "", 0).bytes()
			continue
		}
		inner.header(tagItem, "", uint32(len(item))).raw(item)
		item = newDataset(enc).header(0x00081115, "SQ", uint32(inner.buf.Len())).raw(inner.bytes()).bytes()
	}
	return b.raw(item).bytes()
}

// tinyElements is a valid file followed by n private elements of two
// bytes each, in ascending tag order (groups 0029, 002B, ...).
func tinyElements(enc encoding, n int) []byte {
	b := newPart10(tsExplicitLE, enc).withUIDs()
	for i := 0; i < n; i++ {
		group, elem := 0x0029+2*uint32(i/0xE000), 0x1000+uint32(i%0xE000)
		b.elem(dtag(group<<16|elem), "SH", []byte("ab"))
	}
	return b.bytes()
}
