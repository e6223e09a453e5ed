package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/delivery"
)

// EscalateArgs are the arguments of the periodic escalation of what is
// late: unacknowledged critical reports and worklist cases near their due
// time.
type EscalateArgs struct{}

// Kind names the job.
func (EscalateArgs) Kind() string { return "escalate" }

// InsertOpts makes the job unique per minute, so that several worker
// processes do not queue it twice (escalating twice would be harmless: each
// level is recorded once).
func (EscalateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// EscalateWorker runs one escalation pass.
type EscalateWorker struct {
	river.WorkerDefaults[EscalateArgs]
	delivery *delivery.Service
	logger   *slog.Logger
}

// Work escalates what is late now.
func (w *EscalateWorker) Work(ctx context.Context, job *river.Job[EscalateArgs]) error {
	res, err := w.delivery.Escalate(ctx)
	if err == nil && w.logger != nil && (res.Critical > 0 || res.Overdue > 0) {
		w.logger.InfoContext(ctx, "escalated", "critical", res.Critical, "overdue", res.Overdue)
	}
	return err
}
