// Command load is a bounded mixed load on one `teleread serve` (with its
// workers) over loopback: specialists reading the worklist, referring
// physicians reading their inbox, site staff uploading DICOM instances
// (REST, raw body) and searching QIDO-RS, all at once, closed-loop, at
// concurrency -c for -duration after -warmup untimed seconds.
//
// It sets up a fresh database and bucket on the local services (as the
// other benchmarks do, scripts/bench/internal/benchenv), seeds the demo
// users and -cases routed radiology cases (one DICOM instance each) so
// that every read has something to return, and checks every answer: the
// status (200, or 201 for uploads) and that it is JSON with what the kind
// expects. The per-token search rate is off (TELEREAD_SEARCH_RATE_PER_MINUTE=0):
// this measures the server, not its 429s.
//
// It prints, per kind, the count, errors, requests per second and p50,
// p95, p99 and max in milliseconds, the machine's CPU use during the run
// and the machine (nproc, GOMAXPROCS), and exits 1 if any request failed.
//
// Run it with `make bench-load` (BENCHFLAGS="-c 32 -duration 60s"), or
// after eval "$(scripts/services.sh env)" with go run ./scripts/bench/load.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// makeTarget is the make target that runs this benchmark, for hints.
const makeTarget = "bench-load"

func main() {
	benchenv.Main("load", run)
}

// options are the command-line flags.
type options struct {
	c             int
	duration      time.Duration
	warmup        time.Duration
	cases         int
	uploadBytes   int
	mix           map[string]int
	keep          bool
	workerThreads int
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var mix string
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.c, "c", 8*runtime.NumCPU(), "concurrent clients (closed loop)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "timed run")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "untimed run before (checked like the timed one)")
	fs.IntVar(&o.cases, "cases", 40, "routed radiology cases to seed for the worklist and QIDO-RS")
	fs.IntVar(&o.uploadBytes, "upload-bytes", 256<<10, "pixel bytes of each uploaded DICOM instance")
	fs.StringVar(&mix, "mix", "worklist=4,inbox=3,upload=1,qido=2", "weights of the kinds")
	fs.IntVar(&o.workerThreads, "worker-concurrency", 4, "TELEREAD_WORKER_CONCURRENCY of the server (previews of uploads)")
	fs.BoolVar(&o.keep, "keep", false, "keep the database, bucket and temp directory (the server is still stopped)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var err error
	if o.mix, err = parseMix(mix); err != nil {
		return o, err
	}
	switch {
	case o.c < 1:
		return o, errors.New("-c must be at least 1")
	case o.duration < time.Second:
		return o, errors.New("-duration must be at least 1s")
	case o.cases < 1:
		return o, errors.New("-cases must be at least 1")
	case o.uploadBytes < 256 || o.uploadBytes > 64<<20:
		return o, errors.New("-upload-bytes must be from 256 to 64 MiB")
	}
	return o, nil
}

// parseMix reads "kind=weight,..." for the kinds there are.
func parseMix(s string) (map[string]int, error) {
	mix := map[string]int{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("-mix: %q is not kind=weight", part)
		}
		var w int
		if _, err := fmt.Sscanf(v, "%d", &w); err != nil || w < 0 {
			return nil, fmt.Errorf("-mix: weight of %s: %q is not a whole number", k, v)
		}
		if !isKind(k) {
			return nil, fmt.Errorf("-mix: unknown kind %q (kinds: %s)", k, strings.Join(kindNames, ", "))
		}
		mix[k] = w
		total += w
	}
	if total == 0 {
		return nil, errors.New("-mix: every weight is 0")
	}
	return mix, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	logf := benchenv.Logger(stderr)
	env, err := benchenv.New(ctx, getenv, makeTarget, logf)
	if err != nil {
		return err
	}
	env.Keep = opts.keep
	e := &loadEnv{Env: env}
	defer func() {
		if cerr := e.Cleanup(); cerr != nil && err == nil {
			err = fmt.Errorf("cleanup: %w", cerr)
		}
	}()
	if err := e.setUp(ctx, opts); err != nil {
		return err
	}
	logf("warm-up %s at concurrency %d", opts.warmup, opts.c)
	warm, err := e.drive(ctx, opts, opts.warmup)
	if err != nil {
		return err
	}
	if n := warm.errors(); n > 0 {
		return fmt.Errorf("%d requests failed in the warm-up (first: %s)", n, warm.firstError())
	}
	logf("timed run %s at concurrency %d, mix %v", opts.duration, opts.c, opts.mix)
	res, err := e.drive(ctx, opts, opts.duration)
	if err != nil {
		return err
	}
	res.print(stdout, opts)
	if n := res.errors(); n > 0 {
		return fmt.Errorf("%d requests failed (first: %s)", n, res.firstError())
	}
	return nil
}
