package uploader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/teleread/teleread/internal/dicomfile"
)

// The kinds of file the uploader sends.
const (
	kindDICOM = "dicom"
	kindPhoto = "photo"
)

// item is one file found on the way: its path and, once classified, its
// kind, size, modification time and SHA-256.
type item struct {
	path        string
	size        int64
	mtime       int64
	kind        string
	contentType string
	sha256      string
}

// walk streams the files under paths to out, one at a time (a folder is
// read with filepath.WalkDir, never listed whole). A folder that holds a
// DICOMDIR contributes only the files the DICOMDIR lists; a DICOMDIR named
// on the command line, likewise. Files that cannot be read are reported
// as skipped.
func (u *Uploader) walk(ctx context.Context, paths []string, out chan<- item) error {
	defer close(out)
	emit := func(p string) error {
		select {
		case out <- item{path: p}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			u.skip(root, "cannot be read: "+errText(err))
			continue
		}
		if !st.IsDir() {
			if isDICOMDIR(root) {
				if err := u.dicomdir(ctx, root, emit); err != nil {
					return err
				}
				continue
			}
			if err := emit(root); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				u.skip(p, "cannot be read: "+errText(err))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				if dd := findDICOMDIR(p); dd != "" {
					if err := u.dicomdir(ctx, dd, emit); err != nil {
						return err
					}
					return fs.SkipDir
				}
				if p != root && strings.HasPrefix(d.Name(), ".") {
					return fs.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
				return nil
			}
			return emit(p)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func isDICOMDIR(p string) bool { return strings.EqualFold(filepath.Base(p), "DICOMDIR") }

// findDICOMDIR returns the DICOMDIR of folder dir, or "".
func findDICOMDIR(dir string) string {
	for _, name := range []string{"DICOMDIR", "dicomdir"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// dicomdir emits the files a DICOMDIR lists, relative to its folder. A
// Referenced File ID is upper case; a medium mounted with lower-case names
// is found too.
func (u *Uploader) dicomdir(ctx context.Context, p string, emit func(string) error) error {
	f, err := os.Open(p)
	if err != nil {
		u.skip(p, "cannot be read: "+errText(err))
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		u.skip(p, "cannot be read: "+errText(err))
		return nil
	}
	dir := filepath.Dir(p)
	err = dicomfile.ReadDICOMDIR(f, st.Size(), func(id []string) error {
		for _, c := range id {
			if c == ".." || strings.ContainsAny(c, `/\`) {
				u.skip(strings.Join(id, "/"), "listed in "+p+" outside its folder")
				return nil
			}
		}
		path := filepath.Join(append([]string{dir}, id...)...)
		if _, err := os.Stat(path); err != nil {
			lower := filepath.Join(dir, strings.ToLower(filepath.Join(id...)))
			if _, err2 := os.Stat(lower); err2 == nil {
				path = lower
			} else {
				u.skip(path, "listed in the DICOMDIR but missing")
				return nil
			}
		}
		return emit(path)
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		var inv *dicomfile.InvalidError
		if errors.As(err, &inv) {
			u.skip(p, "not a readable DICOMDIR: "+err.Error())
			return nil
		}
	}
	return err
}

// classify reads the start of a file and says what it is: DICOM, a photo
// the server takes (JPEG, PNG, WebP), or something to skip (with why).
func classify(head []byte) (kind, contentType, why string) {
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM", bytes.HasPrefix(head, []byte("DICM")):
		return kindDICOM, "application/dicom", ""
	case len(head) >= 8 && (head[0] == 0x02 || head[0] == 0x08) && head[1] == 0x00 &&
		((head[4] >= 'A' && head[4] <= 'Z' && head[5] >= 'A' && head[5] <= 'Z') || head[3] == 0x00):
		return kindDICOM, "application/dicom", "" // a dataset without preamble; the server decides
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return kindPhoto, "image/jpeg", ""
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return kindPhoto, "image/png", ""
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return kindPhoto, "image/webp", ""
	case len(head) == 0:
		return "", "", "empty file"
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "", "", "a PDF document, not DICOM or a photo"
	}
	return "", "", "not DICOM or a photo (JPEG, PNG, WebP)"
}

// readHead reads up to n bytes from the start of r.
func readHead(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, n)
	m, err := io.ReadFull(r, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return buf[:m], err
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
