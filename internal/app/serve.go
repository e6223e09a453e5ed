package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/config"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/worklist"
)

func newBlobStore(cfg config.Config) (*blob.Store, error) {
	return blob.New(blob.Config{
		Endpoint: cfg.S3.Endpoint, AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey,
		Bucket: cfg.S3.Bucket, UseTLS: cfg.S3.UseTLS, Region: cfg.S3.Region,
	})
}

// runServe runs `serve` (HTTP, and workers unless --workers=false) or, with
// http false, `worker` (workers only). It returns after a graceful shutdown
// when ctx is cancelled.
func runServe(ctx context.Context, env Env, args []string, withHTTP bool) error {
	name := "worker"
	if withHTTP {
		name = "serve"
	}
	fs := newFlagSet(name, env)
	work := true
	if withHTTP {
		fs.BoolVar(&work, "workers", true, "also run the River workers in this process")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, env.Stderr)
	logger.InfoContext(ctx, "starting", "command", name, "version", env.Version, "workers", work, "config", cfg)

	// Listen first, so that a port chosen by the system (:0) is known to
	// everything that writes absolute links.
	var ln net.Listener
	if withHTTP {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s (TELEREAD_LISTEN): %w", cfg.Listen, err)
		}
		defer ln.Close()
		if env.Getenv("TELEREAD_PUBLIC_URL") == "" {
			cfg.PublicURL = "http://" + ln.Addr().String()
		}
	}

	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.CheckSchema(ctx, pool); err != nil {
		return err
	}
	store, err := newBlobStore(cfg)
	if err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		// Not fatal: /readyz reports object storage until it answers.
		logger.WarnContext(ctx, "object storage not ready at start", "error", err.Error())
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		jobs.NewMetricsCollector(pool),
	)
	identitySvc := identity.NewService(pool)
	flow := jobs.NewFlowMetrics(reg)
	worklistSvc := worklist.NewService(pool, worklist.WithObserver(flow.Observer()))
	// The upload pipeline enqueues preview jobs and the workers render
	// them, so it inserts through an insert-only client of its own.
	inserter, err := jobs.NewClient(pool, logger, jobs.Options{})
	if err != nil {
		return err
	}
	intakeSvc := intake.New(pool, store, cases.NewService(pool, inserter), inserter,
		intake.Options{MaxFileBytes: cfg.MaxUploadBytes, Logger: logger})
	// Reports enqueue deliveries when signed, through the insert-only
	// client too, and record openings through delivery's Opener (which
	// needs only the database, so neither service waits for the other).
	reportsSvc := reports.NewService(pool, store, inserter, worklistSvc, delivery.NewOpener(pool), reports.Options{PublicURL: cfg.PublicURL,
		ObserveStep: flow.Observer()})
	// Delivery renders webhooks through reports (its ReportSource) and
	// enqueues replays through the insert-only client.
	// Webhook secrets are sealed under TELEREAD_SECRET_KEY (none set: no
	// webhook can be created).
	secrets, err := delivery.NewKeyring(cfg.SecretKey, cfg.SecretKeysOld...)
	if err != nil {
		return err
	}
	deliverySvc := delivery.NewService(pool, inserter, reportsSvc, delivery.Options{
		AllowPrivateWebhooks: cfg.WebhookAllowPrivate, ObserveStep: flow.Observer(), Secrets: secrets})
	river, err := jobs.NewClient(pool, logger, jobs.Options{
		Work: work, Concurrency: cfg.WorkerConcurrency,
		Deps: jobs.Deps{Identity: identitySvc, Worklist: worklistSvc, Intake: intakeSvc, Logger: logger,
			Metrics: flow, Delivery: deliverySvc},
	})
	if err != nil {
		return err
	}
	if work {
		// River gets its own context: shutdown is explicit below, so that
		// running jobs are drained rather than cut.
		if err := river.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
	}

	var srv *http.Server
	serveErr := make(chan error, 1)
	if withHTTP {
		handler := httpapi.New(httpapi.Deps{
			Logger:          logger,
			Registry:        reg,
			Checks:          readinessChecks(pool, store),
			MaxRequestBytes: cfg.MaxRequestBytes,
			Limits:          edge.Limits(cfg.Limits), // the same fields: a new one in either does not compile
			SecureCookies:   cfg.SecureCookies,
			Pool:            pool,
			Identity:        identitySvc,
			Cases:           cases.NewService(pool, river),
			Worklist:        worklistSvc,
			Jobs:            river,
			Intake:          intakeSvc,
			Reports:         reportsSvc,
			Delivery:        deliverySvc,
			MaxUploadBytes:  cfg.MaxUploadBytes,
			DICOMwebOrigins: cfg.DICOMwebOrigins,
			OHIFDir:         cfg.OHIFDir,
			UploadOrigins:   []string{objectStoreOrigin(cfg.S3)},
		})
		srv = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		fmt.Fprintf(env.Stdout, "teleread listening on http://%s\n", ln.Addr())
		logger.InfoContext(ctx, "listening", "addr", ln.Addr().String())
		go func() { serveErr <- srv.Serve(ln) }()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			stopRiver(ctx, logger, river, work, cfg.ShutdownTimeout)
			return fmt.Errorf("http server: %w", err)
		}
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			logger.Warn("http drain incomplete", "error", err.Error())
		}
		cancel()
	}
	stopRiver(ctx, logger, river, work, cfg.ShutdownTimeout)
	logger.Info("stopped")
	return nil
}

// objectStoreOrigin is the origin of presigned URLs, which the web pages'
// upload script sends large files to.
func objectStoreOrigin(s3 config.S3) string {
	if s3.UseTLS {
		return "https://" + s3.Endpoint
	}
	return "http://" + s3.Endpoint
}

// stopRiver lets running jobs finish within timeout, then cancels them
// (River retries a cancelled job later).
func stopRiver(ctx context.Context, logger *slog.Logger, river *jobs.Client, started bool, timeout time.Duration) {
	if !started {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := river.Stop(sctx); err != nil {
		logger.Warn("workers did not finish in time; cancelling", "error", err.Error())
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		_ = river.StopAndCancel(cctx)
	}
}

func readinessChecks(pool *pgxpool.Pool, store *blob.Store) []httpapi.Check {
	return []httpapi.Check{
		{Name: "postgres", Probe: pool.Ping},
		{Name: "object_storage", Probe: store.Ping},
		{Name: "river", Probe: func(ctx context.Context) error { return jobs.Ping(ctx, pool) }},
	}
}
