//go:build drill

package drill_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/jobs"
)

// clock is the drill's simulated time, for the two waits of the loop that
// are measured in hours and would make a drill of minutes impossible:
//
//   - River rescues a job whose worker died (SIGKILL leaves it "running")
//     only once it has been running for RescueStuckJobsAfter, an hour by
//     default. Every second the clock moves attempted_at back by two
//     hours for each job that has been running for more than 20 s of real
//     time (no job of the drill runs for more than a second or two: the
//     webhook receiver is local and answers at once), and River's own
//     rescuer, on the elected leader worker, puts it back in the queue
//     within its 30 s interval.
//   - A critical report is escalated after the reading group's
//     acknowledgement window W (an hour by default: level 1 at W, level 2
//     at 2W). For the reports the drill leaves unacknowledged, the clock
//     moves the inbox item's delivered_at back by 2W plus a minute, and
//     enqueues the escalate job (which the leader enqueues every minute)
//     with its per-minute unique key cleared, as a minute passing would.
//
// Nothing else is simulated: every other step runs on real time.
type clock struct {
	pool     *pgxpool.Pool
	inserter *jobs.Client
	// aged counts the jobs a killed worker left running that the clock
	// made old enough to be rescued.
	aged atomic.Int64
}

func newClock(pool *pgxpool.Pool) (*clock, error) {
	ins, err := jobs.NewClient(pool, slog.New(slog.DiscardHandler), jobs.Options{})
	if err != nil {
		return nil, fmt.Errorf("insert-only river client: %w", err)
	}
	return &clock{pool: pool, inserter: ins}, nil
}

// run ages abandoned running jobs every second until ctx ends.
func (c *clock) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tag, err := c.pool.Exec(ctx, `UPDATE river_job SET attempted_at = attempted_at - interval '2 hours'
			WHERE state = 'running' AND attempted_at < now() - interval '20 seconds'
			AND attempted_at > now() - interval '1 hour'`)
		if err == nil {
			c.aged.Add(tag.RowsAffected())
		}
	}
}

// ageInbox moves the acknowledgement window of a report past both
// escalation levels.
func (c *clock) ageInbox(ctx context.Context, reportID fmt.Stringer) error {
	_, err := c.pool.Exec(ctx, `UPDATE inbox_items i SET delivered_at = i.delivered_at
		- 2 * coalesce((SELECT s.critical_ack_within FROM reading_group_settings s
			JOIN cases c ON c.reading_group_id = s.org_id WHERE c.id = i.case_id), interval '1 hour') - interval '1 minute'
		WHERE report_id = $1::uuid`, reportID.String())
	if err != nil {
		return fmt.Errorf("age inbox item of %s: %w", reportID, err)
	}
	return nil
}

// escalate enqueues the escalate job now.
func (c *clock) escalate(ctx context.Context) error {
	if _, err := c.pool.Exec(ctx, `UPDATE river_job SET unique_key = NULL WHERE kind = 'escalate'`); err != nil {
		return fmt.Errorf("clear escalate unique keys: %w", err)
	}
	if _, err := c.inserter.Insert(ctx, jobs.EscalateArgs{}, nil); err != nil {
		return fmt.Errorf("enqueue escalate: %w", err)
	}
	return nil
}
