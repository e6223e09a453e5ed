package dicomfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds adds the small testdata files, and the start of the large ones,
// as fuzz seeds.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			continue // a directory
		}
		if len(data) > 12<<10 {
			data = data[:4<<10]
		}
		f.Add(data)
	}
	f.Add(hugeElement(explicitLE()))
	f.Add(hugeElement(implicitLE()))
}

// FuzzReadHeader checks that no input makes ReadHeader panic (it is called
// without its recover guard) or fail with anything but an *InvalidError.
func FuzzReadHeader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int64{int64(len(data)), -1} {
			h, err := readHeader(bytes.NewReader(data), size)
			if err != nil {
				var inv *InvalidError
				if !errors.As(err, &inv) {
					t.Fatalf("size %d: error is not an InvalidError: %v", size, err)
				}
				continue
			}
			if h.SOPInstanceUID == "" || h.StudyInstanceUID == "" || h.SeriesInstanceUID == "" {
				t.Fatalf("accepted a header without UIDs: %+v", h)
			}
			if _, err := h.JSON(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzRenderFrame checks that no input makes RenderFrame panic or fail with
// an unexpected kind of error.
func FuzzRenderFrame(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := renderFrame(bytes.NewReader(data), 0)
		var inv *InvalidError
		var unsupported *UnsupportedError
		if err != nil && !errors.As(err, &inv) && !errors.As(err, &unsupported) && !errors.Is(err, ErrNoPixelData) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}
