// Command readaudit measures what auditing costs a viewer that reads one
// study's frames many at a time: N concurrent frame-sized reads of one
// study by one user, each audited, then a ranged GET of the frame's bytes
// from MinIO, through each audit path in turn in one run:
//
//	old     audit.RecordTx: a chained append under the organisation's
//	        advisory lock, one event per read (what every read did before)
//	new     audit.RecordRead: one INSERT into audit_reads without a lock,
//	        folded later into one chained event per actor, object and
//	        minute (docs/security.md, "Reads")
//	upsert  for comparison, one counter row per actor, object and minute
//	        kept by INSERT … ON CONFLICT DO UPDATE (a design not taken: the
//	        row's lock is held to each commit, so readers queue on it)
//
// It creates a fresh database (migrated in process) and bucket holding the
// study's frames, runs -rounds rounds of every path (in turn, so no path
// always goes first), prints reads/s, latency percentiles of the whole read
// and of its audit step, and the ratios of new and upsert to old. It then
// folds the new path's reads and runs audit.Verify, which must pass.
// Everything is removed at the end, also on Ctrl-C, unless -keep is given.
//
// Run it after eval "$(scripts/services.sh env)" with
// go run ./scripts/bench/readaudit (flags: -n 500 -frame-kb 512 -rounds 3).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// makeTarget names how to run it, for hints.
const makeTarget = "bench"

func main() {
	benchenv.Main("readaudit", run)
}

// options are the command-line flags.
type options struct {
	n       int
	frameKB int
	rounds  int
	paths   []string
	blob    bool
	keep    bool
	conns   int
}

var allPaths = []string{"old", "new", "upsert"}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var paths string
	fs := flag.NewFlagSet("readaudit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.n, "n", 500, "concurrent frame reads per round and path")
	fs.IntVar(&o.frameKB, "frame-kb", 512, "bytes of one frame in KiB (512: a 512x512 16-bit CT frame)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of every path")
	fs.StringVar(&paths, "paths", strings.Join(allPaths, ","), "audit paths to measure, comma-separated: old, new, upsert")
	fs.BoolVar(&o.blob, "blob", true, "read each frame's bytes from MinIO after auditing it (false: the audit step alone)")
	fs.BoolVar(&o.keep, "keep", false, "keep the database and bucket")
	fs.IntVar(&o.conns, "pool-conns", 0, "PostgreSQL connections in the pool (0: pgxpool's default, as `teleread serve` has unless its URL sets pool_max_conns)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, p := range strings.Split(paths, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allPaths, p) {
			return o, fmt.Errorf("-paths: unknown path %q (old, new, upsert)", p)
		}
		if !slices.Contains(o.paths, p) {
			o.paths = append(o.paths, p)
		}
	}
	switch {
	case o.n < 1:
		return o, errors.New("-n must be at least 1")
	case o.frameKB < 1 || o.frameKB > 16<<10:
		return o, errors.New("-frame-kb must be between 1 and 16384")
	case o.rounds < 1:
		return o, errors.New("-rounds must be at least 1")
	case o.conns < 0:
		return o, errors.New("-pool-conns must not be negative")
	}
	return o, nil
}

// study is what the reads read: one DICOM study's frames in one object,
// owned by a site, read by a specialist of a reading group.
type study struct {
	bucket, key    string
	frameBytes     int64
	frames         int
	site, group    uuid.UUID
	reader         uuid.UUID
	fileID, caseID string
	mc             *minio.Client
	pool           *pgxpool.Pool
	readBlob       bool
}

// sample is one read's timings.
type sample struct {
	total, audit time.Duration
}

// result is one round of one path.
type result struct {
	path    string
	elapsed time.Duration
	samples []sample
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
	defer func() {
		if cerr := env.Cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	st, err := setUp(ctx, env, opts)
	if err != nil {
		return err
	}

	byPath := map[string][]result{}
	for round := range opts.rounds {
		// Rotate the order so that no path always runs first.
		for i := range opts.paths {
			path := opts.paths[(i+round)%len(opts.paths)]
			r, err := st.round(ctx, path, opts.n)
			if err != nil {
				return fmt.Errorf("round %d, path %s: %w", round+1, path, err)
			}
			logf("round %d %-6s %4d reads in %v", round+1, path, opts.n, r.elapsed.Round(time.Millisecond))
			byPath[path] = append(byPath[path], r)
		}
	}

	check, err := st.verify(ctx, opts)
	if err != nil {
		return err
	}
	report(stdout, opts, st, byPath, check)
	return nil
}

// setUp makes the database, the bucket with the study and the pool.
func setUp(ctx context.Context, env *benchenv.Env, opts options) (*study, error) {
	if err := env.Connect(ctx); err != nil {
		return nil, err
	}
	suffix := benchenv.RandomHex(6)
	env.DBName = "teleread_bench_readaudit_" + suffix
	var err error
	if env.DBURL, err = benchenv.WithDatabase(env.Services.DatabaseURL, env.DBName); err != nil {
		return nil, err
	}
	admin, err := env.Services.ConnectAdmin(ctx)
	if err != nil {
		return nil, err
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+env.DBName)
	admin.Close(context.Background())
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", env.DBName, err)
	}
	env.NoteKept("database %s", env.DBName)
	env.OnCleanup(false, func() error { return dropDatabase(env) })

	poolURL := env.DBURL
	if opts.conns > 0 {
		u, err := url.Parse(poolURL)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		q.Set("pool_max_conns", fmt.Sprint(opts.conns))
		u.RawQuery = q.Encode()
		poolURL = u.String()
	}
	pool, err := postgres.Open(ctx, poolURL)
	if err != nil {
		return nil, err
	}
	env.OnCleanup(true, func() error { pool.Close(); return nil })
	env.Logf("migrating database %s", env.DBName)
	if _, err := postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}

	st := &study{
		bucket: "bench-readaudit-" + suffix, key: "studies/" + uuid.NewString() + "/ct.dcm",
		frameBytes: int64(opts.frameKB) << 10, frames: opts.n,
		site: uuid.New(), group: uuid.New(), reader: uuid.New(),
		fileID: uuid.NewString(), caseID: uuid.NewString(),
		mc: env.MC, pool: pool, readBlob: opts.blob,
	}
	if slices.Contains(opts.paths, "upsert") {
		if _, err := pool.Exec(ctx, upsertTable); err != nil {
			return nil, fmt.Errorf("create the upsert path's table: %w", err)
		}
	}
	if opts.blob {
		env.NoteKept("bucket %s", st.bucket)
		env.OnCleanup(false, func() error { return env.RemoveBucket(st.bucket) })
		if err := env.MC.MakeBucket(ctx, st.bucket, minio.MakeBucketOptions{Region: env.Services.S3Region}); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", st.bucket, err)
		}
		size := st.frameBytes * int64(st.frames)
		env.Logf("storing a study of %d frames of %d KiB (%.1f MB) in %s", st.frames, opts.frameKB, float64(size)/1e6, st.bucket)
		body := io.LimitReader(patterned{}, size)
		if _, err := env.MC.PutObject(ctx, st.bucket, st.key, body, size,
			minio.PutObjectOptions{ContentType: "application/dicom"}); err != nil {
			return nil, fmt.Errorf("store the study: %w", err)
		}
	}
	env.Logf("pool of %d connections; %d concurrent reads per round", pool.Config().MaxConns, opts.n)
	return st, nil
}

// patterned is an endless reader of non-zero bytes.
type patterned struct{}

func (patterned) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	return len(p), nil
}

func dropDatabase(env *benchenv.Env) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := env.Services.ConnectAdmin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+env.DBName+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", env.DBName, err)
	}
	return nil
}

// upsertTable is the upsert path's counter table, in the benchmark's
// database only.
const upsertTable = `CREATE TABLE bench_read_windows (
    chain text NOT NULL, window_start timestamptz NOT NULL, actor_id uuid NOT NULL,
    action text NOT NULL, object_id text NOT NULL, object_org_id uuid,
    reads bigint NOT NULL, first_at timestamptz NOT NULL, last_at timestamptz NOT NULL,
    PRIMARY KEY (chain, window_start, actor_id, action, object_id))`

const upsertRead = `INSERT INTO bench_read_windows (chain, window_start, actor_id, action, object_id, object_org_id,
                                reads, first_at, last_at)
VALUES ($1, date_trunc('minute', now()), $2, 'file.download', $3, $4, 1, now(), now())
ON CONFLICT (chain, window_start, actor_id, action, object_id)
DO UPDATE SET reads = bench_read_windows.reads + 1, last_at = greatest(bench_read_windows.last_at, EXCLUDED.last_at)`

// event is the audit event of frame i's read.
func (s *study) event(i int) audit.Event {
	return audit.Event{
		Actor: audit.Actor{UserID: &s.reader, OrgID: &s.group, ClientIP: "10.1.2.3",
			RequestID: fmt.Sprintf("bench-%d-%s", i, uuid.NewString()[:8])},
		Action: "file.download", ObjectType: "file", ObjectID: s.fileID, ObjectOrgID: &s.site,
		Details: map[string]any{"case_id": s.caseID,
			"range": fmt.Sprintf("%d-%d", int64(i)*s.frameBytes, int64(i+1)*s.frameBytes-1)},
	}
}

// auditRead audits frame i's read through path.
func (s *study) auditRead(ctx context.Context, path string, i int) error {
	switch path {
	case "old":
		return audit.RecordTx(ctx, s.pool, s.event(i))
	case "new":
		return audit.RecordRead(ctx, s.pool, s.event(i))
	default:
		_, err := s.pool.Exec(ctx, upsertRead, s.group.String(), s.reader, s.fileID, s.site)
		return err
	}
}

// readFrame reads frame i's bytes.
func (s *study) readFrame(ctx context.Context, i int) error {
	var o minio.GetObjectOptions
	off := int64(i%s.frames) * s.frameBytes
	if err := o.SetRange(off, off+s.frameBytes-1); err != nil {
		return err
	}
	obj, err := s.mc.GetObject(ctx, s.bucket, s.key, o)
	if err != nil {
		return err
	}
	defer obj.Close()
	n, err := io.Copy(io.Discard, obj)
	if err != nil {
		return err
	}
	if n != s.frameBytes {
		return fmt.Errorf("frame %d: read %d bytes, want %d", i, n, s.frameBytes)
	}
	return nil
}

// round starts n reads at once through path and waits for them all.
func (s *study) round(ctx context.Context, path string, n int) (result, error) {
	res := result{path: path, samples: make([]sample, n)}
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			t0 := time.Now()
			if err := s.auditRead(ctx, path, i); err != nil {
				errs[i] = err
				return
			}
			t1 := time.Now()
			if s.readBlob {
				if err := s.readFrame(ctx, i); err != nil {
					errs[i] = err
					return
				}
			}
			res.samples[i] = sample{total: time.Since(t0), audit: t1.Sub(t0)}
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	res.elapsed = time.Since(t0)
	return res, errors.Join(errs...)
}

// check is what the verification after the rounds found.
type check struct {
	folded   int // chained events the fold of the new path's reads wrote
	events   int64
	chains   int
	ok       bool
	upserted int64 // reads the upsert path's counter rows hold
}

// verify folds every read of the new path and verifies the chains.
func (s *study) verify(ctx context.Context, opts options) (check, error) {
	var c check
	var err error
	if c.folded, err = audit.FoldBefore(ctx, s.pool, time.Now().Add(time.Hour)); err != nil {
		return c, err
	}
	rep, err := audit.Verify(ctx, s.pool)
	if err != nil {
		return c, err
	}
	c.events, c.chains, c.ok = rep.Events, rep.Chains, rep.OK() && rep.PendingReads == 0
	if !c.ok {
		return c, fmt.Errorf("audit verify after the run: %d breaks, %d reads pending: %+v", len(rep.Breaks), rep.PendingReads, rep.Breaks)
	}
	if slices.Contains(opts.paths, "upsert") {
		if err := s.pool.QueryRow(ctx, "SELECT coalesce(sum(reads), 0) FROM bench_read_windows").Scan(&c.upserted); err != nil {
			return c, err
		}
	}
	return c, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// figures are one path's figures over its rounds.
type figures struct {
	reads                       int
	perSecond                   float64 // reads over the summed wall time of the rounds
	p50, p95, p99, max          time.Duration
	auditP50, auditP99, auditMx time.Duration
}

func summarize(rs []result) figures {
	var f figures
	var total, aud []time.Duration
	var wall time.Duration
	for _, r := range rs {
		wall += r.elapsed
		for _, s := range r.samples {
			total = append(total, s.total)
			aud = append(aud, s.audit)
		}
	}
	slices.Sort(total)
	slices.Sort(aud)
	f.reads = len(total)
	if wall > 0 {
		f.perSecond = float64(len(total)) / wall.Seconds()
	}
	f.p50, f.p95, f.p99, f.max = percentile(total, 50), percentile(total, 95), percentile(total, 99), percentile(total, 100)
	f.auditP50, f.auditP99, f.auditMx = percentile(aud, 50), percentile(aud, 99), percentile(aud, 100)
	return f
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

func report(w io.Writer, opts options, st *study, byPath map[string][]result, c check) {
	what := fmt.Sprintf("audit + ranged GET of %d KiB from MinIO", opts.frameKB)
	if !opts.blob {
		what = "the audit step alone"
	}
	fmt.Fprintf(w, "%d concurrent frame reads of one study by one user (%s), %d rounds per path, pool of %d connections\n\n",
		opts.n, what, opts.rounds, st.pool.Config().MaxConns)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\treads\treads/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\taudit p50 ms\taudit p99 ms\taudit max ms\t")
	figs := map[string]figures{}
	for _, p := range opts.paths {
		f := summarize(byPath[p])
		figs[p] = f
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p, f.reads, f.perSecond,
			ms(f.p50), ms(f.p95), ms(f.p99), ms(f.max), ms(f.auditP50), ms(f.auditP99), ms(f.auditMx))
	}
	tw.Flush()
	if old, ok := figs["old"]; ok && old.perSecond > 0 {
		fmt.Fprintln(w)
		for _, p := range []string{"new", "upsert"} {
			f, ok := figs[p]
			if !ok || f.p99 == 0 {
				continue
			}
			fmt.Fprintf(w, "%s/old: %.2fx the reads/s, p99 latency %.2fx lower, audit p99 %.2fx lower\n", p,
				f.perSecond/old.perSecond, float64(old.p99)/float64(f.p99), float64(old.auditP99)/float64(max(f.auditP99, 1)))
		}
	}
	fmt.Fprintf(w, "\nafter the run: the new path's reads folded into %d chained event(s); audit verify OK over %d events in %d chain(s)",
		c.folded, c.events, c.chains)
	if slices.Contains(opts.paths, "upsert") {
		fmt.Fprintf(w, "; upsert counters hold %d reads", c.upserted)
	}
	fmt.Fprintln(w)
}
