package jobs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// SweepArgs are the arguments of the periodic sweep of expired rows.
type SweepArgs struct{}

// Kind names the job.
func (SweepArgs) Kind() string { return "sweep" }

// InsertOpts makes the sweep unique per period, so that several processes
// never run it twice at once.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 15 * 60 * 1e9}}
}

// SweepWorker deletes expired web sessions and old login failures.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	pool *pgxpool.Pool
}

// Work runs one sweep.
func (w *SweepWorker) Work(ctx context.Context, job *river.Job[SweepArgs]) error {
	if _, err := w.pool.Exec(ctx, "DELETE FROM sessions WHERE expires_at < now()"); err != nil {
		return fmt.Errorf("sweep sessions: %w", err)
	}
	if _, err := w.pool.Exec(ctx, "DELETE FROM login_failures WHERE at < now() - interval '1 day'"); err != nil {
		return fmt.Errorf("sweep login failures: %w", err)
	}
	return nil
}
