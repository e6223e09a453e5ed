package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/audit"
)

// AuditFoldArgs are the arguments of the periodic fold of audited reads
// into the audit chain (audit.Fold): reads are recorded without the
// chain's lock and chained per minute, by a later read or by this job, so
// that a quiet organisation's last reads are chained too.
type AuditFoldArgs struct{}

// Kind names the job.
func (AuditFoldArgs) Kind() string { return "audit_fold" }

// InsertOpts makes the fold unique per minute across worker processes.
func (AuditFoldArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// AuditFoldWorker folds every finished minute of reads into the chain.
type AuditFoldWorker struct {
	river.WorkerDefaults[AuditFoldArgs]
	pool *pgxpool.Pool
}

// Work runs one fold.
func (w *AuditFoldWorker) Work(ctx context.Context, _ *river.Job[AuditFoldArgs]) error {
	_, err := audit.Fold(ctx, w.pool)
	return err
}
