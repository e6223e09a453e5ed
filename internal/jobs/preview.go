package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/intake"
)

// PreviewWorker renders the thumbnail and preview of an uploaded file.
type PreviewWorker struct {
	river.WorkerDefaults[intake.PreviewArgs]
	intake *intake.Service
}

// Timeout bounds one rendering: a large multi-frame DICOM is streamed up to
// its middle frame.
func (w *PreviewWorker) Timeout(*river.Job[intake.PreviewArgs]) time.Duration {
	return 10 * time.Minute
}

// Work renders the file's previews. Errors are returned so River retries;
// after the last attempt the file is marked failed instead of staying
// pending for ever.
func (w *PreviewWorker) Work(ctx context.Context, job *river.Job[intake.PreviewArgs]) error {
	err := w.intake.RenderPreviews(ctx, job.Args.FileID)
	if err != nil && job.Attempt >= job.MaxAttempts {
		if merr := w.intake.MarkPreviewFailed(ctx, job.Args.FileID, err); merr != nil {
			return merr
		}
		return nil
	}
	return err
}

// IntakeSweepArgs are the arguments of the periodic clean-up of expired
// presigned uploads, old idempotency keys and stray temporary objects.
type IntakeSweepArgs struct{}

// Kind names the job.
func (IntakeSweepArgs) Kind() string { return "intake_sweep" }

// InsertOpts makes the sweep unique per period across worker processes.
func (IntakeSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// IntakeSweepWorker runs intake.Service.Sweep.
type IntakeSweepWorker struct {
	river.WorkerDefaults[IntakeSweepArgs]
	intake *intake.Service
}

// Work runs one sweep.
func (w *IntakeSweepWorker) Work(ctx context.Context, job *river.Job[IntakeSweepArgs]) error {
	return w.intake.Sweep(ctx)
}
