package jobs

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/intake"
)

// CleanupWorker retries a compensating step of the upload pipeline that
// failed inline: aborting a multipart upload, deleting an object, releasing
// a claimed upload or Idempotency-Key. Each is idempotent; an error is
// returned so that River retries with back-off.
type CleanupWorker struct {
	river.WorkerDefaults[intake.CleanupArgs]
	intake *intake.Service
}

// NewCleanupWorker returns the worker of intake_cleanup jobs.
func NewCleanupWorker(svc *intake.Service) *CleanupWorker { return &CleanupWorker{intake: svc} }

// Work carries out the clean-up.
func (w *CleanupWorker) Work(ctx context.Context, job *river.Job[intake.CleanupArgs]) error {
	return w.intake.Cleanup(ctx, job.Args)
}
