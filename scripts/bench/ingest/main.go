// Command ingest measures DICOM upload throughput through Teleread's API
// against the floor of putting the same bytes straight into the same MinIO.
//
// It makes N distinct real-sized instances in memory (a real CT header,
// internal/dicomfile/testdata/CT_small.dcm, with its image resampled to the
// requested size and new Study/Series/SOP Instance UIDs), creates a fresh
// database and bucket, builds and starts `teleread serve` as a separate
// process, then times two phases at the same concurrency:
//
//	api  POST /api/v1/cases/{id}/files, one raw application/dicom file per
//	     request (or -multipart K files per multipart request)
//	raw  minio-go PutObject of the same byte slices into a separate bucket
//
// and prints instances/s, MB/s (10^6 bytes), request latency percentiles,
// the ratio api/raw and the server's resident memory. Everything it created
// is removed at the end, also on Ctrl-C, unless -keep is given.
//
// Run it with `make bench` (BENCHFLAGS="-n 500 -order ba"), or after
// eval "$(scripts/services.sh env)" with go run ./scripts/bench/ingest.
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

func main() {
	benchenv.Main("ingest", run)
}

// options are the command-line flags.
type options struct {
	n          int
	c          int
	sizeKB     int
	order      string
	multipart  int
	keep       bool
	json       bool
	workers    bool
	perStudy   int
	warmup     int
	sourceFile string
	partMB     int
	partC      int
	serverEnv  string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 2000, "number of instances per path")
	fs.IntVar(&o.c, "c", 8, "concurrent requests")
	fs.IntVar(&o.sizeKB, "size-kb", 512, "pixel data per instance in KiB (a square 16-bit image; 512 gives 512x512)")
	fs.StringVar(&o.order, "order", "ab", "phases in order, each once: a (the API, raw bodies or -multipart), b (raw PutObject floor), "+
		"p (presigned upload end to end: create, parts, complete), m (minio-go multipart floor of p), "+
		"u (teleread upload, the command, on a folder per study; compare with b); e.g. ab, ba, pm, ub")
	fs.IntVar(&o.partMB, "part-mb", 64, "part size in MiB of phases p and m")
	fs.IntVar(&o.partC, "part-c", 4, "parts in flight per file in phases p and m")
	fs.StringVar(&o.serverEnv, "server-env", "", "comma-separated K=V settings for the server, e.g. TELEREAD_UPLOAD_BYTES_PER_ORG=0 (its defaults otherwise)")
	fs.IntVar(&o.multipart, "multipart", 0, "send K files per multipart/form-data request instead of one raw application/dicom body each")
	fs.BoolVar(&o.keep, "keep", false, "keep the database, buckets, server binary and log (the server is still stopped)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.BoolVar(&o.workers, "workers", false, "run the River workers in the server process (previews render during and after phase api; use -order ba)")
	fs.IntVar(&o.perStudy, "per-study", 100, "instances per study (one series each, one case per study)")
	fs.IntVar(&o.warmup, "warmup", 8, "untimed uploads per path before timing (they also check the route)")
	fs.StringVar(&o.sourceFile, "source", "internal/dicomfile/testdata/CT_small.dcm", "source DICOM file (native, single frame), relative to the module root")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch {
	case o.n < 1:
		return o, errors.New("-n must be at least 1")
	case o.c < 1:
		return o, errors.New("-c must be at least 1")
	case o.sizeKB < 1 || o.sizeKB > 4<<20:
		return o, errors.New("-size-kb must be between 1 and 4194304 (4 GiB)")
	case o.partMB < 5 || o.partMB > 5<<10:
		return o, errors.New("-part-mb must be between 5 and 5120 (S3's part sizes)")
	case o.partC < 1:
		return o, errors.New("-part-c must be at least 1")
	case o.multipart < 0:
		return o, errors.New("-multipart must be 0 (raw bodies) or the files per request")
	case o.perStudy < 1:
		return o, errors.New("-per-study must be at least 1")
	case o.warmup < 0:
		return o, errors.New("-warmup must not be negative")
	}
	seen := map[rune]bool{}
	for _, ph := range o.order {
		if !strings.ContainsRune("abpmu", ph) || seen[ph] {
			return o, fmt.Errorf("-order must name phases a, b, p, m and u, each at most once, got %q", o.order)
		}
		seen[ph] = true
	}
	if o.order == "" {
		return o, errors.New("-order must name at least one phase")
	}
	return o, nil
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
	for _, kv := range strings.Split(opts.serverEnv, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			if !strings.HasPrefix(kv, "TELEREAD_") || !strings.Contains(kv, "=") {
				return fmt.Errorf("-server-env: %q is not TELEREAD_NAME=value", kv)
			}
			base.ExtraEnv = append(base.ExtraEnv, kv)
		}
	}

	logf("making %d instances of %d KiB pixel data (+%d warm-up) from %s", opts.n, opts.sizeKB, opts.warmup, opts.sourceFile)
	set, err := makeInstances(base.Root, opts)
	if err != nil {
		return err
	}
	logf("%d instances, %d bytes each, %.1f MB in all, %d studies", len(set.timed), set.size, float64(set.bytes())/1e6, set.studies)

	env := &benchEnv{Env: base}
	defer func() {
		if cerr := env.Cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := env.setUp(ctx, opts, set); err != nil {
		return err
	}

	res, err := runPhases(ctx, env, opts, set, logf)
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(stdout, res)
	}
	writeTable(stdout, res)
	return nil
}
