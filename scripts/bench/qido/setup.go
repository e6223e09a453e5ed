package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// benchEnv is what the benchmark sets up: a fresh database and bucket with
// a running server on them (benchenv.Env), the benchmark's own connections
// to the database, the principals whose tokens search and the seeded data.
// Cleanup undoes it in reverse order.
type benchEnv struct {
	*benchenv.Env

	pool *pgxpool.Pool
	// staff sees the big site; gp only the cases it referred or created
	// there; specialist the cases routed to its reading group.
	staff, gp, specialist principal
	seeded                seedStats
	client                *http.Client
}

// principal is a caller: its token and what the visibility rule needs.
type principal struct {
	token, userID, orgID string
	siteWide             bool
}

// setUp makes everything the searches need.
func (e *benchEnv) setUp(ctx context.Context, opts options) error {
	e.DropTimeout = 60 * time.Second
	// The searches of one token far exceed the per-token search rate limit
	// (600 a minute): this measures the searches, not the 429s.
	e.ExtraEnv = append(e.ExtraEnv, "TELEREAD_SEARCH_RATE_PER_MINUTE=0")
	if err := e.Connect(ctx); err != nil {
		return err
	}
	if err := e.build(ctx, opts.buildRef); err != nil {
		return err
	}
	suffix := benchenv.RandomHex(6)
	if err := e.CreateDatabase(ctx, "teleread_bench_qido_"+suffix, "bench-qido-"+suffix); err != nil {
		return err
	}
	if err := e.seedUsers(ctx); err != nil {
		return err
	}
	var err error
	if e.pool, err = pgxpool.New(ctx, e.DBURL); err != nil {
		return fmt.Errorf("connect to %s: %w", e.DBName, err)
	}
	e.OnCleanup(true, func() error { e.pool.Close(); return nil })
	if e.seeded, err = e.seedData(ctx, opts); err != nil {
		return err
	}
	e.client = newHTTPClient(opts.c)
	e.Client = e.client
	return e.StartServer(ctx, "workers false", "--workers=false")
}

// build builds ./cmd/teleread: from the working tree, or from commit ref
// exported with git archive (so that others' uncommitted edits in a shared
// checkout do not break or change what is measured).
func (e *benchEnv) build(ctx context.Context, ref string) error {
	if ref == "" {
		return e.Build(ctx, "teleread-qido-bench-")
	}
	src, err := os.MkdirTemp("", "teleread-qido-src-")
	if err != nil {
		return err
	}
	e.OnCleanup(true, func() error { return os.RemoveAll(src) })
	e.Logf("exporting %s into %s", ref, src)
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", e.Root, ref, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %w\n%s", ref, err, out)
	}
	root := e.Root
	e.Root = src
	defer func() { e.Root = root }()
	return e.Build(ctx, "teleread-qido-bench-")
}

// seedUsers creates the demo users and keeps the three principals.
func (e *benchEnv) seedUsers(ctx context.Context) error {
	users, err := e.Seed(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		p := principal{token: u.Token, userID: u.UserID, orgID: u.OrgID}
		switch {
		case u.Role == "site_staff":
			p.siteWide = true
			e.staff = p
		case u.Role == "referring_physician":
			e.gp = p
		case u.Role == "specialist" && u.Org == "demo-rad":
			e.specialist = p
		}
	}
	if e.staff.token == "" || e.gp.token == "" || e.specialist.token == "" {
		return errors.New("teleread seed --demo: its output lacks a site staff, referring physician or demo-rad specialist")
	}
	return nil
}

func newHTTPClient(c int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * c
	t.MaxIdleConnsPerHost = 2 * c
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: time.Minute}
}
