package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/testenv"
)

// instance is one DICOM file to upload: head then tail. Instances differ
// only in their UIDs, which come before the pixel data, so every instance of
// a run shares one tail (the pixel values) and the set takes a few kilobytes
// per instance rather than its whole size.
type instance struct {
	name  string
	study int // index of its study, and so of its case
	head  []byte
	tail  []byte
}

// size returns the instance's length in bytes.
func (in instance) size() int64 { return int64(len(in.head) + len(in.tail)) }

// reader returns a reader of the instance's bytes.
func (in instance) reader() *instanceReader {
	return &instanceReader{in: in, r: io.NewSectionReader(in, 0, in.size())}
}

// ReadAt implements io.ReaderAt over head and tail.
func (in instance) ReadAt(p []byte, off int64) (int, error) {
	var n int
	for _, part := range [][]byte{in.head, in.tail} {
		if off >= int64(len(part)) {
			off -= int64(len(part))
			continue
		}
		m := copy(p[n:], part[off:])
		n += m
		off = 0
		if n == len(p) {
			return n, nil
		}
	}
	return n, io.EOF
}

// instanceReader reads an instance; it seeks (so minio-go can retry) and
// writes itself out in two writes (as a bytes.Reader would in one).
type instanceReader struct {
	in instance
	r  *io.SectionReader
}

func (r *instanceReader) Read(p []byte) (int, error)              { return r.r.Read(p) }
func (r *instanceReader) ReadAt(p []byte, off int64) (int, error) { return r.r.ReadAt(p, off) }
func (r *instanceReader) Seek(off int64, whence int) (int64, error) {
	return r.r.Seek(off, whence)
}

// WriteTo writes what is left to read to w.
func (r *instanceReader) WriteTo(w io.Writer) (int64, error) {
	pos, _ := r.r.Seek(0, io.SeekCurrent)
	var n int64
	for _, part := range [][]byte{r.in.head, r.in.tail} {
		if pos >= int64(len(part)) {
			pos -= int64(len(part))
			continue
		}
		m, err := w.Write(part[pos:])
		n += int64(m)
		pos = 0
		if err != nil {
			_, _ = r.r.Seek(n, io.SeekCurrent)
			return n, err
		}
	}
	_, _ = r.r.Seek(0, io.SeekEnd)
	return n, nil
}

// instanceSet is every instance of a run, made before timing.
type instanceSet struct {
	timed   []instance
	warm    []instance
	size    int    // bytes of the resampled source, give or take a UID's length
	image   string // what each image is, for the report
	studies int
	// patientName and patientID are the source's, so that the cases match
	// the instances.
	patientName string
	patientID   string
}

// bytes returns the size of the timed instances together. (They differ by
// a few bytes: new UIDs differ in length.)
func (s *instanceSet) bytes() int64 {
	var n int64
	for _, in := range s.timed {
		n += in.size()
	}
	return n
}

// sideFor returns the side of a square 16-bit image of about sizeKB KiB.
func sideFor(sizeKB int) int {
	return max(1, int(math.Round(math.Sqrt(float64(sizeKB)*1024/2))))
}

// makeInstances resamples the source to the requested size, then writes
// opts.n (+ warm-up) copies with new Study, Series and SOP Instance UIDs:
// opts.perStudy instances per study, one series per study.
func makeInstances(root string, opts options) (*instanceSet, error) {
	if int64(opts.sizeKB)<<10 > maxResampled {
		return makeLargeInstances(opts)
	}
	path := filepath.Join(root, opts.sourceFile)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	side := sideFor(opts.sizeKB)
	var base bytes.Buffer
	if err := dicomfile.Resample(&base, bytes.NewReader(src), side, side); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.sourceFile, err)
	}
	h, err := dicomfile.ReadHeader(bytes.NewReader(base.Bytes()), int64(base.Len()))
	if err != nil {
		return nil, fmt.Errorf("resampled %s: %w", opts.sourceFile, err)
	}
	set := &instanceSet{
		size: base.Len(), image: fmt.Sprintf("%dx%d 16-bit", side, side),
		studies:     (opts.n + opts.perStudy - 1) / opts.perStudy,
		patientName: strings.TrimSpace(strings.ReplaceAll(h.PatientName, "^", " ")),
		patientID:   h.PatientID,
	}
	if set.patientName == "" {
		set.patientName = "Bench Patient"
	}
	if set.patientID == "" {
		set.patientID = "BENCH-1"
	}
	// The pixel values end the file; every instance shares them.
	tail := base.Bytes()[base.Len()-side*side*2:]
	var out bytes.Buffer
	one := func(name string, study int, studyUID, seriesUID string) (instance, error) {
		out.Reset()
		err := dicomfile.RewriteUIDs(&out, bytes.NewReader(base.Bytes()), studyUID, seriesUID, dicomfile.NewUID())
		if err != nil {
			return instance{}, err
		}
		b := out.Bytes()
		if len(b) < len(tail) || !bytes.Equal(b[len(b)-len(tail):], tail) {
			return instance{}, fmt.Errorf("%s: pixel data is not at the end of the file", opts.sourceFile)
		}
		return instance{name: name, study: study, head: bytes.Clone(b[:len(b)-len(tail)]), tail: tail}, nil
	}
	var studyUID, seriesUID string
	for i := range opts.n {
		if i%opts.perStudy == 0 {
			studyUID, seriesUID = dicomfile.NewUID(), dicomfile.NewUID()
		}
		inst, err := one(fmt.Sprintf("s%03d-i%04d.dcm", i/opts.perStudy+1, i%opts.perStudy+1), i/opts.perStudy, studyUID, seriesUID)
		if err != nil {
			return nil, err
		}
		set.timed = append(set.timed, inst)
	}
	studyUID, seriesUID = dicomfile.NewUID(), dicomfile.NewUID()
	for i := range opts.warmup {
		inst, err := one(fmt.Sprintf("warmup-%03d.dcm", i+1), set.studies, studyUID, seriesUID)
		if err != nil {
			return nil, err
		}
		set.warm = append(set.warm, inst)
	}
	return set, nil
}

// maxResampled is the largest pixel data dicomfile.Resample writes (the
// reader's own bound on one element); larger instances are multi-frame.
const maxResampled = 256 << 20

// makeLargeInstances makes instances above maxResampled: 8-bit
// multi-frame images of 8192x8192 frames (64 MiB each), as many frames as
// the size asks for, each instance its own study (testenv.DICOMHeader);
// every instance shares one tail of pixel values.
func makeLargeInstances(opts options) (*instanceSet, error) {
	const side, frameBytes = 8192, 8192 * 8192
	frames := int((int64(opts.sizeKB)<<10 + frameBytes - 1) / frameBytes)
	pixels := int64(frames) * frameBytes
	if pixels >= 1<<32-1 {
		return nil, fmt.Errorf("-size-kb %d: pixel data of %d bytes does not fit a DICOM element (4 GiB)", opts.sizeKB, pixels)
	}
	tail := make([]byte, pixels)
	for i := range tail {
		tail[i] = byte(i*7 + i>>13)
	}
	set := &instanceSet{image: fmt.Sprintf("%d frames of %dx%d 8-bit", frames, side, side),
		studies: (opts.n + opts.perStudy - 1) / opts.perStudy, patientName: "Archibald Doe", patientID: "77654033"}
	one := func(name string, study int) instance {
		head := testenv.DICOMHeader(dicomfile.NewUID(), side, side, frames, uint32(pixels))
		in := instance{name: name, study: study, head: head, tail: tail}
		set.size = int(in.size())
		return in
	}
	for i := range opts.n {
		set.timed = append(set.timed, one(fmt.Sprintf("s%03d-i%04d.dcm", i/opts.perStudy+1, i%opts.perStudy+1), i/opts.perStudy))
	}
	for i := range opts.warmup {
		set.warm = append(set.warm, one(fmt.Sprintf("warmup-%03d.dcm", i+1), set.studies))
	}
	return set, nil
}
