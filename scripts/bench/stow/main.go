// Command stow measures STOW-RS throughput: Teleread's DICOMweb edge
// (POST /dicomweb/cases/{case}/studies) against Orthanc's DICOMweb plugin
// on the same machine and against the floor of putting the same bytes
// straight into the same MinIO.
//
// For each instance size (by default 2,000 CT-sized instances of about
// 39 KB, then 500 of 512 KiB pixel data) it makes distinct instances in
// memory with fresh Study/Series/SOP Instance UIDs (the real CT header of
// internal/dicomfile/testdata/CT_small.dcm, its image resampled to the
// size), packs them -batch per multipart/related; type="application/dicom"
// body, and times three paths at the same concurrency:
//
//	teleread  POST /dicomweb/cases/{case}/studies with those bodies (one
//	          case per study; the case has the instances' patient)
//	orthanc   POST /dicom-web/studies of a fresh, empty Orthanc with the
//	          same bodies (SQLite index and storage in a temp directory)
//	raw       minio-go PutObject of every instance's bytes into a separate
//	          bucket of the same MinIO
//
// and prints instances/s, MB/s (10^6 bytes) and the ratios teleread/raw and
// teleread/orthanc per size. Every instance must be stored: every answer
// lists each of its instances in ReferencedSOPSequence (00081199) and none
// in FailedSOPSequence, and at the end Teleread's files rows and Orthanc's
// /statistics CountInstances must equal what was sent. Everything it
// created (database, buckets, temp directories, the server and Orthanc
// processes) is removed at the end, also on Ctrl-C, unless -keep is given.
//
// Run it with `make bench-stow` (BENCHFLAGS="-orthanc=false" without
// Orthanc), or after eval "$(scripts/services.sh env)" with
// go run ./scripts/bench/stow.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// makeTarget is the make target that runs this benchmark, for hints.
const makeTarget = "bench-stow"

func main() {
	benchenv.Main("stow", run)
}

// options are the command-line flags.
type options struct {
	nCT, nLarge       int
	ctKB, largeKB     int
	c                 int
	batch             int
	perStudy          int
	warmup            int
	orthanc           bool
	orthancBin        string
	orthancPlugin     string
	keep, json        bool
	sourceFile, paths string
	buildRef          string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("stow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.nCT, "n-ct", 2000, "CT-sized instances (0 skips the size)")
	fs.IntVar(&o.ctKB, "ct-kb", 32, "pixel data per CT-sized instance in KiB (32: 128x128, the source's own size, ~39 KB files)")
	fs.IntVar(&o.nLarge, "n-large", 500, "large instances (0 skips the size)")
	fs.IntVar(&o.largeKB, "large-kb", 512, "pixel data per large instance in KiB (512: 512x512 16-bit)")
	fs.IntVar(&o.c, "c", 8, "concurrent requests (PutObjects for raw)")
	fs.IntVar(&o.batch, "batch", 10, "instances per multipart/related request (teleread and orthanc)")
	fs.IntVar(&o.perStudy, "per-study", 100, "instances per study (one series each; one Teleread case per study)")
	fs.IntVar(&o.warmup, "warmup", 2, "untimed requests per path and size before timing (they also check the route)")
	fs.BoolVar(&o.orthanc, "orthanc", true, "also measure Orthanc (needs the Orthanc binary and its DICOMweb plugin)")
	fs.StringVar(&o.orthancBin, "orthanc-bin", "Orthanc", "the Orthanc server binary")
	fs.StringVar(&o.orthancPlugin, "orthanc-plugin", "", "the DICOMweb plugin (.so); empty: find it with dpkg -L orthanc-dicomweb")
	fs.StringVar(&o.paths, "paths", "teleread,orthanc,raw", "the paths to time per size, in this order")
	fs.StringVar(&o.buildRef, "build-ref", "", "build teleread from this commit (git archive into a temp dir) instead of the working tree, e.g. HEAD")
	fs.BoolVar(&o.keep, "keep", false, "keep the database, buckets and temp directories (the processes are still stopped)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.StringVar(&o.sourceFile, "source", "internal/dicomfile/testdata/CT_small.dcm", "source DICOM file (native, single frame), relative to the module root")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch {
	case o.nCT < 0 || o.nLarge < 0 || o.nCT+o.nLarge == 0:
		return o, errors.New("-n-ct and -n-large must not be negative, and not both 0")
	case o.ctKB < 1 || o.ctKB > 64<<10 || o.largeKB < 1 || o.largeKB > 64<<10:
		return o, errors.New("-ct-kb and -large-kb must be between 1 and 65536")
	case o.c < 1:
		return o, errors.New("-c must be at least 1")
	case o.batch < 1:
		return o, errors.New("-batch must be at least 1")
	case o.perStudy < 1:
		return o, errors.New("-per-study must be at least 1")
	case o.warmup < 0:
		return o, errors.New("-warmup must not be negative")
	}
	seen := map[string]bool{}
	for _, p := range o.pathList() {
		switch p {
		case pathTeleread, pathOrthanc, pathRaw:
		default:
			return o, fmt.Errorf("-paths: unknown path %q (teleread, orthanc, raw)", p)
		}
		if seen[p] {
			return o, fmt.Errorf("-paths: %s twice", p)
		}
		seen[p] = true
	}
	if len(seen) == 0 {
		return o, errors.New("-paths is empty")
	}
	return o, nil
}

// The paths a run can time.
const (
	pathTeleread = "teleread"
	pathOrthanc  = "orthanc"
	pathRaw      = "raw"
)

// pathList returns the paths to time, without orthanc when -orthanc=false.
func (o options) pathList() []string {
	var out []string
	for _, p := range strings.Split(o.paths, ",") {
		p = strings.TrimSpace(p)
		if p == "" || (p == pathOrthanc && !o.orthanc) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func (o options) has(path string) bool {
	for _, p := range o.pathList() {
		if p == path {
			return true
		}
	}
	return false
}

// sizes returns the instance sizes to measure: name, count, KiB.
func (o options) sizes() []sizeSpec {
	var out []sizeSpec
	if o.nCT > 0 {
		out = append(out, sizeSpec{name: "ct", n: o.nCT, kb: o.ctKB})
	}
	if o.nLarge > 0 {
		out = append(out, sizeSpec{name: "large", n: o.nLarge, kb: o.largeKB})
	}
	return out
}

type sizeSpec struct {
	name  string
	n, kb int
}

// run is the whole program; ctx is cancelled on Ctrl-C.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	logf := benchenv.Logger(stderr)
	base, err := benchenv.New(ctx, getenv, makeTarget, logf)
	if err != nil {
		return err
	}
	base.Keep = opts.keep

	var sets []*instanceSet
	for _, sz := range opts.sizes() {
		logf("making %d instances of %d KiB pixel data (+%d warm-up requests of %d) from %s", sz.n, sz.kb, opts.warmup, opts.batch, opts.sourceFile)
		set, err := makeInstances(base.Root, opts, sz)
		if err != nil {
			return err
		}
		logf("%s: %d instances, ~%d bytes each, %.1f MB in all, %d studies, %d requests of up to %d",
			sz.name, len(set.timed), set.size, float64(set.bytes())/1e6, set.studies, len(set.timedReqs), opts.batch)
		sets = append(sets, set)
	}

	env := &benchEnv{Env: base}
	defer func() {
		if cerr := env.Cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := env.setUp(ctx, opts, sets); err != nil {
		return err
	}
	res, err := runPhases(ctx, env, opts, sets, logf)
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(stdout, res)
	}
	writeTable(stdout, res)
	return nil
}
