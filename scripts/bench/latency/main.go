// Command latency measures how fast a case reaches a specialist and a
// signed report reaches the site, and how fast the worklist answers with a
// million cases in the database.
//
// It creates a fresh database and bucket, builds and starts `teleread
// serve` (with its River workers, -workers of them) as a separate process,
// seeds the demo users, routes radiology to the demo radiology group and
// registers a webhook of the demo site to a receiver in this process that
// verifies every signature (docs/delivery.md). Then:
//
//	phase 1  -n cases, -c at a time: create, upload one small DICOM with new
//	         UIDs, submit; time submit answer -> case on the specialist's
//	         GET /api/v1/worklist (the case's status is polled with a
//	         primary-key read every -poll, then the worklist is fetched);
//	         claim, save and sign the report; time sign answer -> webhook
//	         received. The server's own timestamps (submitted_at ->
//	         routed_at, signed -> delivered_at) are reported beside them.
//	phase 2  -cases cases inserted with one INSERT … SELECT generate_series
//	         over 10 reading groups (0.5% open), a study per radiology case,
//	         VACUUM ANALYZE; time GET /api/v1/worklist -m times per filter,
//	         and the worklist's SQL alone; print its EXPLAIN (ANALYZE,
//	         BUFFERS) and whether it uses cases_worklist_idx.
//
// Everything it created is removed at the end, also on Ctrl-C, unless -keep
// is given. Run it with `make bench-latency` (BENCHFLAGS="-n 100
// -skip-scale"), or after eval "$(scripts/services.sh env)" with
// go run ./scripts/bench/latency. docs/benchmarks.md has figures.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

func main() {
	benchenv.Main("latency", run)
}

// options are the command-line flags.
type options struct {
	n, c, warmup int
	m, cases     int
	skipScale    bool
	poll         time.Duration
	timeout      time.Duration
	keep, json   bool
	sourceFile   string
	workers      int
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("latency", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 500, "phase 1: cases taken through the whole flow")
	fs.IntVar(&o.c, "c", 4, "phase 1: cases in flight at once")
	fs.IntVar(&o.warmup, "warmup", 5, "phase 1: untimed cases first")
	fs.DurationVar(&o.poll, "poll", 5*time.Millisecond, "phase 1: how often a waiting case's status is read")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "phase 1: longest wait for routing or a webhook")
	fs.IntVar(&o.m, "m", 1000, "phase 2: worklist calls per filter")
	fs.IntVar(&o.cases, "cases", 1_000_000, "phase 2: cases bulk-inserted before timing the worklist")
	fs.BoolVar(&o.skipScale, "skip-scale", false, "skip phase 2")
	fs.BoolVar(&o.keep, "keep", false, "keep the database, bucket, server binary and log (the server is still stopped)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.IntVar(&o.workers, "workers", 8, "River workers of the server (TELEREAD_WORKER_CONCURRENCY)")
	fs.StringVar(&o.sourceFile, "source", "internal/intake/testdata/CT_small.dcm", "DICOM file each case uploads (with new UIDs), relative to the module root")
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
	case o.warmup < 0:
		return o, errors.New("-warmup must not be negative")
	case o.poll <= 0 || o.timeout <= 0:
		return o, errors.New("-poll and -timeout must be positive")
	case o.m < 1:
		return o, errors.New("-m must be at least 1")
	case o.cases < 0:
		return o, errors.New("-cases must not be negative")
	case o.workers < 1 || o.workers > 1000:
		return o, errors.New("-workers must be between 1 and 1000")
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
	src, err := os.ReadFile(filepath.Join(base.Root, opts.sourceFile))
	if err != nil {
		return err
	}

	env := &benchEnv{Env: base, workers: opts.workers}
	defer func() {
		if cerr := env.Cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := env.setUp(ctx, opts.c); err != nil {
		return err
	}
	res := &results{Machine: describeMachine(ctx, env), Options: optionsReport{N: opts.n, Concurrency: opts.c, Workers: opts.workers,
		Warmup: opts.warmup, PollMS: ms(opts.poll), M: opts.m, Cases: opts.cases, SkipScale: opts.skipScale}}

	if res.Flow, err = runFlow(ctx, env, opts, src, logf); err != nil {
		return err
	}
	if !opts.skipScale {
		if res.Worklist, err = runScale(ctx, env, opts, logf); err != nil {
			return err
		}
	}
	if opts.json {
		return writeJSON(stdout, res)
	}
	writeTable(stdout, res)
	return nil
}

// runFlow is phase 1.
func runFlow(ctx context.Context, env *benchEnv, opts options, src []byte, logf func(string, ...any)) (*flowReport, error) {
	f, err := newFlow(env, src, opts.poll, opts.timeout)
	if err != nil {
		return nil, err
	}
	if opts.warmup > 0 {
		logf("phase 1: %d warm-up cases", opts.warmup)
		if _, err := f.run(ctx, 0, opts.warmup, opts.c); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	logf("phase 1: %d cases, %d at a time", opts.n, opts.c)
	cpu := env.sampleCPU()
	fr, err := f.run(ctx, opts.warmup, opts.n, opts.c)
	if err != nil {
		return nil, err
	}
	load := loadSince(cpu, env.sampleCPU())
	var visible, delivered []time.Duration
	gets := 0
	for _, s := range fr.samples {
		visible, delivered = append(visible, s.visible), append(delivered, s.delivered)
		gets += s.worklistGets
	}
	st, err := f.serverSide(ctx, fr.samples)
	if err != nil {
		return nil, err
	}
	jobs, err := f.riverJobs(ctx)
	if err != nil {
		return nil, err
	}
	bad, repeats := env.rcv.counts()
	return &flowReport{Cases: opts.n, Seconds: fr.elapsed.Seconds(), CasesPerSec: float64(opts.n) / fr.elapsed.Seconds(),
		SubmitToWorklist: summarize(visible), SignToWebhook: summarize(delivered),
		ServerSubmitRouted: summarize(st.routed), ServerSignDeliver: summarize(st.delivered),
		RouteJobWait: summarize(st.routeWait), WebhookJobWait: summarize(st.webhookWait),
		SlowRoutedPct: overPct(visible, 250*time.Millisecond), SlowWebhookPct: overPct(delivered, 250*time.Millisecond),
		WorklistGetsMean: float64(gets) / float64(opts.n), BadSignatures: bad, RepeatedDeliveries: repeats, Load: load, RiverJobs: jobs}, nil
}

// runScale is phase 2.
func runScale(ctx context.Context, env *benchEnv, opts options, logf func(string, ...any)) (*scaleReport, error) {
	s := &scale{e: env}
	if err := s.makeOrgs(ctx); err != nil {
		return nil, err
	}
	logf("phase 2: inserting %d cases", opts.cases)
	bulk, err := s.bulkInsert(ctx, opts.cases)
	if err != nil {
		return nil, err
	}
	logf("phase 2: %d cases in %.1f s, VACUUM ANALYZE %.1f s; timing the worklist (%d calls per filter)",
		bulk.Cases, bulk.InsertSeconds, bulk.VacuumSeconds, opts.m)
	rep := &scaleReport{Bulk: bulk}
	cpu := env.sampleCPU()
	group := env.users.radGroupID
	for _, v := range variants {
		vr := variantReport{Name: v.Name}
		lat, items, total, err := s.timeAPI(ctx, v, opts.m)
		if err != nil {
			return nil, err
		}
		vr.API, vr.Items, vr.Total = summarize(lat), items, total
		sql, args, types := worklistSQL(group, v)
		if vr.Page, err = s.query(ctx, sql, args, types, opts.m); err != nil {
			return nil, fmt.Errorf("worklist SQL, %s: %w", v.Name, err)
		}
		rep.Variants = append(rep.Variants, vr)
	}
	if rep.Counts, err = s.query(ctx, countsSQL, []any{group}, []string{"uuid"}, opts.m); err != nil {
		return nil, fmt.Errorf("worklist counts SQL: %w", err)
	}
	rep.Load = loadSince(cpu, env.sampleCPU())
	return rep, nil
}

// query times sql m times and explains it both ways.
func (s *scale) query(ctx context.Context, sql string, args []any, types []string, m int) (queryReport, error) {
	var q queryReport
	lat, err := s.timeSQL(ctx, sql, args, m)
	if err != nil {
		return q, err
	}
	q.SQL = summarize(lat)
	if q.Plan, err = s.explain(ctx, sql, args, types, false); err != nil {
		return q, err
	}
	if q.GenericPlan, err = s.explain(ctx, sql, args, types, true); err != nil {
		return q, err
	}
	q.inspect()
	return q, nil
}
