package main

import (
	"bytes"
	"fmt"
	"math"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// instance is one DICOM file: a slice of its request's body.
type instance struct {
	study int // index of its study in the set, and so of its Teleread case
	uid   string
	data  []byte
}

// stowRequest is one multipart/related body of instances of one study,
// built before timing; every path sends (or puts) the same bytes.
type stowRequest struct {
	study int
	body  []byte
	files []instance
}

// instanceSet is every instance of one size, in its requests.
type instanceSet struct {
	name      string
	kb        int
	size      int // bytes of one instance, give or take a UID's length
	side      int
	studies   int // timed studies; the warm-up study is index studies
	timed     []instance
	timedReqs []stowRequest
	warmReqs  []stowRequest
	// The source's patient, so that the cases match the instances.
	patientName, patientID, birthDate string
}

// bytes returns the size of the timed instances together.
func (s *instanceSet) bytes() int64 {
	var n int64
	for _, in := range s.timed {
		n += int64(len(in.data))
	}
	return n
}

// warmInstances returns how many instances the warm-up requests hold.
func (s *instanceSet) warmInstances() int {
	n := 0
	for _, r := range s.warmReqs {
		n += len(r.files)
	}
	return n
}

// boundary separates the parts of every body; random per run, so no
// instance holds it.
var boundary = "stow-bench-" + benchenv.RandomHex(12)

// contentType is the media type of every STOW-RS request.
func contentType() string {
	return `multipart/related; type="application/dicom"; boundary=` + boundary
}

// sideFor returns the side of a square 16-bit image of about kb KiB.
func sideFor(kb int) int {
	return max(1, int(math.Round(math.Sqrt(float64(kb)*1024/2))))
}

// makeInstances resamples the source to the size, then writes sz.n
// instances (opts.perStudy per study, one series per study) with fresh
// UIDs, and opts.warmup requests of a warm-up study, packed opts.batch per
// request.
func makeInstances(root string, opts options, sz sizeSpec) (*instanceSet, error) {
	src, err := os.ReadFile(filepath.Join(root, opts.sourceFile))
	if err != nil {
		return nil, err
	}
	side := sideFor(sz.kb)
	var base bytes.Buffer
	if err := dicomfile.Resample(&base, bytes.NewReader(src), side, side); err != nil {
		return nil, fmt.Errorf("%s: %w", opts.sourceFile, err)
	}
	h, err := dicomfile.ReadHeader(bytes.NewReader(base.Bytes()), int64(base.Len()))
	if err != nil {
		return nil, fmt.Errorf("resampled %s: %w", opts.sourceFile, err)
	}
	set := &instanceSet{
		name: sz.name, kb: sz.kb, size: base.Len(), side: side,
		studies:     (sz.n + opts.perStudy - 1) / opts.perStudy,
		patientName: strings.TrimSpace(strings.ReplaceAll(h.PatientName, "^", " ")),
		patientID:   strings.TrimSpace(h.PatientID),
		birthDate:   "1970-01-01",
	}
	if d, err := time.Parse("20060102", strings.ReplaceAll(strings.TrimSpace(h.PatientBirthDate), ".", "")); err == nil {
		set.birthDate = d.Format("2006-01-02")
	}
	if set.patientName == "" || set.patientID == "" {
		return nil, fmt.Errorf("%s: no patient name or ID; the cases need the instances' patient", opts.sourceFile)
	}

	// files makes n instances of study, with its own Study and Series UIDs.
	var scratch bytes.Buffer
	files := func(n int) ([][]byte, []string, error) {
		studyUID, seriesUID := dicomfile.NewUID(), dicomfile.NewUID()
		var out [][]byte
		var uids []string
		for range n {
			scratch.Reset()
			uid := dicomfile.NewUID()
			if err := dicomfile.RewriteUIDs(&scratch, bytes.NewReader(base.Bytes()), studyUID, seriesUID, uid); err != nil {
				return nil, nil, err
			}
			out = append(out, bytes.Clone(scratch.Bytes()))
			uids = append(uids, uid)
		}
		return out, uids, nil
	}
	for st := range set.studies {
		n := min(opts.perStudy, sz.n-st*opts.perStudy)
		data, uids, err := files(n)
		if err != nil {
			return nil, err
		}
		reqs, err := packRequests(st, data, uids, opts.batch)
		if err != nil {
			return nil, err
		}
		set.timedReqs = append(set.timedReqs, reqs...)
	}
	for _, r := range set.timedReqs {
		set.timed = append(set.timed, r.files...)
	}
	if opts.warmup > 0 {
		data, uids, err := files(opts.warmup * opts.batch)
		if err != nil {
			return nil, err
		}
		if set.warmReqs, err = packRequests(set.studies, data, uids, opts.batch); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// packRequests writes the instances of one study into multipart/related
// bodies of up to batch parts; each instance is then a slice of its body.
func packRequests(study int, data [][]byte, uids []string, batch int) ([]stowRequest, error) {
	var reqs []stowRequest
	for i := 0; i < len(data); i += batch {
		j := min(i+batch, len(data))
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if err := mw.SetBoundary(boundary); err != nil {
			return nil, err
		}
		offsets := make([][2]int, 0, j-i)
		for k := i; k < j; k++ {
			h := textproto.MIMEHeader{}
			h.Set("Content-Type", "application/dicom")
			pw, err := mw.CreatePart(h)
			if err != nil {
				return nil, err
			}
			start := buf.Len()
			if _, err := pw.Write(data[k]); err != nil {
				return nil, err
			}
			offsets = append(offsets, [2]int{start, buf.Len()})
		}
		if err := mw.Close(); err != nil {
			return nil, err
		}
		r := stowRequest{study: study, body: buf.Bytes()}
		for n, off := range offsets {
			r.files = append(r.files, instance{study: study, uid: uids[i+n], data: r.body[off[0]:off[1]:off[1]]})
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}
