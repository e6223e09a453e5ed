// Package jobs holds Teleread's River workers and periodic jobs. Workers are
// thin: they load by id, call a domain package and return its error so that
// River retries.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/logctx"
	"github.com/teleread/teleread/internal/worklist"
)

// Client is the River client type Teleread uses.
type Client = river.Client[pgx.Tx]

// Options configures NewClient.
type Options struct {
	// Work makes the client fetch and run jobs; without it the client only
	// inserts (an API server started with --workers=false).
	Work bool
	// Concurrency is the number of workers of the default queue.
	Concurrency int
	// Deps are what the workers call.
	Deps Deps
	// FetchPollInterval, if set, overrides how often River polls for jobs
	// (tests use a short one).
	FetchPollInterval time.Duration
	// RetryPolicy, if set, replaces River's exponential back-off (tests use
	// a fast one).
	RetryPolicy river.ClientRetryPolicy
}

// Deps are the domain services the workers need.
type Deps struct {
	Identity *identity.Service
	Worklist *worklist.Service
	// Intake renders previews, sweeps expired uploads and retries failed
	// clean-ups.
	Intake  *intake.Service
	Logger  *slog.Logger
	Metrics *FlowMetrics
	// Delivery makes deliveries and escalates what is late; without it the
	// deliver and escalate workers are not registered.
	Delivery *delivery.Service
}

// NewClient returns a River client on pool, with every Teleread worker and
// periodic job registered when opts.Work is set.
func NewClient(pool *pgxpool.Pool, logger *slog.Logger, opts Options) (*Client, error) {
	cfg := &river.Config{
		// River reports job counts every few seconds at info: keep its
		// warnings and errors only.
		Logger:      slog.New(logctx.AtLeast(logger.Handler(), slog.LevelWarn)),
		MaxAttempts: 25,
		JobTimeout:  5 * time.Minute,
		RetryPolicy: opts.RetryPolicy,
	}
	// River's defaults (a 100 ms cooldown between fetches and a 1 s poll)
	// left routed cases and webhooks waiting in the queue for most of their
	// latency, and capped a process near 80 jobs/s (scripts/bench/latency):
	// fetch sooner, poll a little more often.
	cfg.FetchCooldown = 20 * time.Millisecond
	cfg.FetchPollInterval = 250 * time.Millisecond
	if opts.FetchPollInterval > 0 {
		cfg.FetchPollInterval = opts.FetchPollInterval
		cfg.FetchCooldown = min(opts.FetchPollInterval, cfg.FetchCooldown)
	}
	if opts.Work {
		workers := river.NewWorkers()
		periodic, err := register(workers, pool, opts.Deps)
		if err != nil {
			return nil, err
		}
		cfg.Workers = workers
		cfg.PeriodicJobs = periodic
		cfg.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: max(opts.Concurrency, 1)},
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// register adds every worker to workers and returns the periodic jobs.
func register(workers *river.Workers, pool *pgxpool.Pool, deps Deps) ([]*river.PeriodicJob, error) {
	if err := river.AddWorkerSafely(workers, &SweepWorker{identity: deps.Identity}); err != nil {
		return nil, fmt.Errorf("register sweep worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &RouteWorker{worklist: deps.Worklist, logger: deps.Logger, metrics: deps.Metrics}); err != nil {
		return nil, fmt.Errorf("register route worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &LeaseWorker{worklist: deps.Worklist}); err != nil {
		return nil, fmt.Errorf("register lease worker: %w", err)
	}
	if deps.Intake == nil {
		return nil, fmt.Errorf("register workers: Deps.Intake is required by the preview worker")
	}
	if err := river.AddWorkerSafely(workers, &PreviewWorker{intake: deps.Intake}); err != nil {
		return nil, fmt.Errorf("register preview worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &IntakeSweepWorker{intake: deps.Intake}); err != nil {
		return nil, fmt.Errorf("register intake sweep worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, NewCleanupWorker(deps.Intake)); err != nil {
		return nil, fmt.Errorf("register intake clean-up worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &AuditFoldWorker{pool: pool}); err != nil {
		return nil, fmt.Errorf("register audit fold worker: %w", err)
	}
	periodic := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return LeaseArgs{}, nil },
			&river.PeriodicJobOpts{ID: "expire_leases"}),
		river.NewPeriodicJob(river.PeriodicInterval(15*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "sweep", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return IntakeSweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "intake_sweep", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return AuditFoldArgs{}, nil },
			&river.PeriodicJobOpts{ID: "audit_fold", RunOnStart: true}),
	}
	if deps.Delivery != nil {
		if err := river.AddWorkerSafely(workers, &DeliverWorker{delivery: deps.Delivery, logger: deps.Logger, metrics: deps.Metrics}); err != nil {
			return nil, fmt.Errorf("register deliver worker: %w", err)
		}
		if err := river.AddWorkerSafely(workers, &EscalateWorker{delivery: deps.Delivery, logger: deps.Logger}); err != nil {
			return nil, fmt.Errorf("register escalate worker: %w", err)
		}
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return EscalateArgs{}, nil },
			&river.PeriodicJobOpts{ID: "escalate"}))
	}
	return periodic, nil
}

// Ping checks that River's tables are there and answer.
func Ping(ctx context.Context, pool *pgxpool.Pool) error {
	var n int
	err := pool.QueryRow(ctx, "SELECT count(*) FROM river_queue").Scan(&n)
	if err != nil {
		return fmt.Errorf("river: %w", err)
	}
	return nil
}
