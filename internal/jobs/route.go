package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/worklist"
)

// RouteWorker routes a submitted case to a reading group.
type RouteWorker struct {
	river.WorkerDefaults[cases.RouteArgs]
	worklist *worklist.Service
	logger   *slog.Logger
	metrics  *FlowMetrics
}

// Work routes one case; routing is idempotent, so a retry is harmless.
func (w *RouteWorker) Work(ctx context.Context, job *river.Job[cases.RouteArgs]) error {
	d, err := w.worklist.Route(ctx, job.Args.CaseID)
	if err != nil {
		return err
	}
	switch {
	case d.Skipped:
	case d.Routed:
		w.metrics.observe("submitted", "routed", time.Since(job.CreatedAt))
	default:
		w.logger.WarnContext(ctx, "case not routed: no rule matches", "case_id", d.CaseID.String())
	}
	return nil
}

// LeaseArgs are the periodic job that returns lapsed claims to the worklist.
type LeaseArgs struct{}

// Kind names the job.
func (LeaseArgs) Kind() string { return "expire_leases" }

// LeaseWorker expires claims.
type LeaseWorker struct {
	river.WorkerDefaults[LeaseArgs]
	worklist *worklist.Service
}

// Work releases every lapsed claim.
func (w *LeaseWorker) Work(ctx context.Context, job *river.Job[LeaseArgs]) error {
	_, err := w.worklist.ExpireLeases(ctx)
	return err
}
