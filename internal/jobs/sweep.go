package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/identity"
)

// SweepArgs are the arguments of the periodic sweep of expired rows.
type SweepArgs struct{}

// Kind names the job.
func (SweepArgs) Kind() string { return "sweep" }

// InsertOpts makes the sweep unique per period, so that several worker
// processes never queue it twice.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 15 * time.Minute}}
}

// SweepWorker deletes expired web sessions and old login failures.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	identity *identity.Service
}

// Work runs one sweep.
func (w *SweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	return w.identity.SweepExpired(ctx)
}
