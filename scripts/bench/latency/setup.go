package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// makeTarget is the make target that runs this benchmark, for hints.
const makeTarget = "bench-latency"

// benchEnv is what the benchmark sets up: a fresh database and bucket, a
// running `teleread serve` with workers on them (benchenv.Env), the demo
// users, a default radiology route to the demo radiology group and a
// webhook of the demo site to the receiver. Cleanup undoes it in reverse
// order.
type benchEnv struct {
	*benchenv.Env

	// workers is the server's River worker count.
	workers int

	pool *pgxpool.Pool // the bench's own connections to the database
	rcv  *receiver

	users     demoUsers
	webhookID string
}

// demoUsers are the tokens and ids of `teleread seed --demo` the benchmark
// uses.
type demoUsers struct {
	staff, siteAdmin, platformAdmin, specialist string // tokens
	gpUserID, specialistUserID, staffUserID     string
	siteOrgID, radGroupID                       string
}

// setUp makes everything the phases need.
func (e *benchEnv) setUp(ctx context.Context, concurrency int) error {
	e.DropTimeout = 60 * time.Second
	e.ExtraEnv = []string{
		"TELEREAD_WEBHOOK_ALLOW_PRIVATE=true",
		fmt.Sprintf("TELEREAD_WORKER_CONCURRENCY=%d", e.workers),
		// One specialist's token reads the worklist once per case, for
		// every case in flight: at -c 32 hundreds of times a minute more
		// than the per-token search limit (600 a minute) lets a person.
		// Every other limit stays at its default.
		"TELEREAD_SEARCH_RATE_PER_MINUTE=1000000",
		"TELEREAD_SEARCH_RATE_BURST=1000000",
	}
	if err := e.Connect(ctx); err != nil {
		return err
	}
	if err := e.Build(ctx, "teleread-bench-latency-"); err != nil {
		return err
	}
	suffix := benchenv.RandomHex(6)
	if err := e.CreateDatabase(ctx, "teleread_bench_latency_"+suffix, "bench-latency-"+suffix); err != nil {
		return err
	}
	if err := e.seed(ctx); err != nil {
		return err
	}
	var err error
	if e.pool, err = pgxpool.New(ctx, e.DBURL); err != nil {
		return fmt.Errorf("connect to %s: %w", e.DBName, err)
	}
	e.OnCleanup(true, func() error { e.pool.Close(); return nil })

	e.rcv = newReceiver()
	if err := e.rcv.start(); err != nil {
		return err
	}
	e.OnCleanup(true, e.rcv.stop)

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * concurrency
	t.MaxIdleConnsPerHost = 4 * concurrency
	e.Client = &http.Client{Transport: t, Timeout: time.Minute}
	if err := e.StartServer(ctx, fmt.Sprintf("with %d River workers", e.workers)); err != nil {
		return err
	}
	return e.configure(ctx)
}

// configure registers the receiver as the demo site's webhook (as its
// admin). Radiology already goes to the demo radiology group: `seed
// --demo` makes that default routing rule.
func (e *benchEnv) configure(ctx context.Context) error {
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	body := map[string]any{"url": e.rcv.URL, "description": "bench latency receiver"}
	if err := e.API(ctx, e.users.siteAdmin, http.MethodPost, "/webhooks", body, http.StatusCreated, &hook); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if hook.Secret == "" {
		return errors.New("webhook: the answer carries no secret")
	}
	e.rcv.setSecret(hook.Secret)
	e.webhookID = hook.ID
	return nil
}

// seed creates the demo users and keeps the tokens and ids the phases use.
func (e *benchEnv) seed(ctx context.Context) error {
	users, err := e.Seed(ctx)
	if err != nil {
		return err
	}
	u := &e.users
	for _, d := range users {
		switch {
		case d.Role == "site_staff":
			u.staff, u.staffUserID, u.siteOrgID = d.Token, d.UserID, d.OrgID
		case d.Role == "referring_physician":
			u.gpUserID = d.UserID
		case d.Role == "org_admin" && d.Org == "demo-site":
			u.siteAdmin = d.Token
		case d.Role == "platform_admin":
			u.platformAdmin = d.Token
		case d.Role == "specialist" && d.Org == "demo-rad":
			u.specialist, u.specialistUserID, u.radGroupID = d.Token, d.UserID, d.OrgID
		}
	}
	if u.staff == "" || u.gpUserID == "" || u.siteAdmin == "" || u.platformAdmin == "" || u.specialist == "" {
		return errors.New("teleread seed --demo: its output lacks a site staff, referring physician, site admin, platform admin or demo-rad specialist")
	}
	return nil
}

// sampleCPU samples the machine's CPU time, telling the benchmark's own
// processes apart.
func (e *benchEnv) sampleCPU() cpuSample {
	return sampleCPU(e.ServerPID(), e.DBName)
}
