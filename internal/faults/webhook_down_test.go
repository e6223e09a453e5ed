//go:build faults

package faults_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/jobs"
)

// TestWebhookReceiverDownTenMinutes signs a critical report while the
// site's webhook receiver (a real HTTP server) answers 503, keeps it down
// for ten minutes of simulated time, and brings it back: the report then
// arrives exactly once by delivery id, and meanwhile the unacknowledged
// critical result was escalated (level 1 to the referring physician after
// the reading group's acknowledgement window of five minutes, level 2 to
// the site's admins after ten).
//
// Simulated time: River retries a failed delivery after attempt⁴ seconds
// (1 s, 16 s, 81 s, 256 s, 625 s). Whenever the delivery job waits for its
// next attempt, the drill adds that wait to its simulated clock and moves
// the job's scheduled_at to now, and moves the inbox item's delivered_at
// (the start of the acknowledgement window) back by the same amount. The
// escalate job, which the server's periodic scheduler enqueues every
// minute, is enqueued by the drill after each step (its per-minute unique
// key cleared, as the minute passing would). The receiver is back at ten
// simulated minutes; the next attempt, at about 16 minutes, delivers.
func TestWebhookReceiverDownTenMinutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDrill(t, nil)
	srv := d.serve(t, nil)
	rcv, url := newReceiver(t)
	d.hook(t, srv.URL, rcv, url)
	rcv.setDown(true)
	_, err := d.pool.Exec(ctx, `INSERT INTO reading_group_settings (org_id, critical_ack_within) VALUES ($1, '5 minutes')
		ON CONFLICT (org_id) DO UPDATE SET critical_ack_within = excluded.critical_ack_within`, d.orgs["demo-rad"])
	require.NoError(t, err)
	inserter, err := jobs.NewClient(d.pool, slog.New(slog.DiscardHandler), jobs.Options{})
	require.NoError(t, err)
	escalate := func() {
		_, err := d.pool.Exec(ctx, `UPDATE river_job SET unique_key = NULL WHERE kind = 'escalate'`)
		require.NoError(t, err)
		_, err = inserter.Insert(ctx, jobs.EscalateArgs{}, nil)
		require.NoError(t, err)
	}

	caseID, reportID := d.signedCase(t, srv.URL, true)
	var delivery uuid.UUID
	var job int64
	eventually(t, time.Minute, "the webhook delivery and its job", func() bool {
		err := d.pool.QueryRow(ctx, `SELECT d.id, j.id FROM deliveries d JOIN river_job j
			ON j.kind = 'deliver' AND j.args->>'delivery_id' = d.id::text
			WHERE d.report_id = $1 AND d.channel = 'webhook'`, reportID).Scan(&delivery, &job)
		return err == nil
	})
	eventually(t, time.Minute, "the inbox delivery", func() bool {
		var n int
		_ = d.pool.QueryRow(ctx, `SELECT count(*) FROM inbox_items WHERE report_id = $1`, reportID).Scan(&n)
		return n == 1
	})

	// waitRetry waits for the job to have failed attempt n or a later one
	// and returns that attempt and how long the job waits for the next.
	waitRetry := func(n int) (int, time.Duration) {
		var wait time.Duration
		var attempt int
		eventually(t, time.Minute, "a failed attempt", func() bool {
			var state string
			var secs float64
			require.NoError(t, d.pool.QueryRow(ctx, `SELECT attempt, state,
				greatest(extract(epoch FROM scheduled_at - now()), 0)::float8 FROM river_job WHERE id = $1`,
				job).Scan(&attempt, &state, &secs))
			wait = time.Duration(secs * float64(time.Second))
			return attempt >= n && state == "retryable"
		})
		return attempt, wait
	}
	// shift moves the start of the acknowledgement window back by dt.
	shift := func(dt time.Duration) {
		_, err := d.pool.Exec(ctx, `UPDATE inbox_items SET delivered_at = delivered_at - make_interval(secs => $2)
			WHERE report_id = $1`, reportID, dt.Seconds())
		require.NoError(t, err)
	}
	const down = 10 * time.Minute
	var simulated time.Duration
	attempts := 0
	for {
		var wait time.Duration
		attempts, wait = waitRetry(attempts + 1)
		if simulated+wait >= down {
			// Ten minutes pass; the receiver is back before this attempt.
			shift(down - simulated)
			escalate()
			rcv.setDown(false)
			simulated += wait
			t.Logf("receiver back at %s; next attempt at %s simulated", down, simulated)
			_, err := d.pool.Exec(ctx, `UPDATE river_job SET scheduled_at = now() WHERE id = $1`, job)
			require.NoError(t, err)
			break
		}
		simulated += wait
		_, err := d.pool.Exec(ctx, `UPDATE river_job SET scheduled_at = now() WHERE id = $1`, job)
		require.NoError(t, err)
		shift(wait)
		escalate()
		t.Logf("attempt %d refused; %s simulated", attempts, simulated.Round(time.Second))
	}

	// Escalated while the receiver was down: both levels, once each.
	eventually(t, time.Minute, "both escalation levels", func() bool {
		var n int
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT count(*) FROM escalations WHERE report_id = $1
			AND kind = 'critical_unacknowledged'`, reportID).Scan(&n))
		return n == 2
	})
	var levels []int16
	require.NoError(t, d.pool.QueryRow(ctx, `SELECT array_agg(level ORDER BY level) FROM escalations WHERE report_id = $1`,
		reportID).Scan(&levels))
	require.Equal(t, []int16{1, 2}, levels)

	// Delivered once it is back, exactly once by delivery id.
	eventually(t, time.Minute, "the delivery", func() bool { return rcv.counts()[delivery.String()] > 0 })
	var tries int
	eventually(t, 30*time.Second, "the delivery recorded", func() bool {
		var status string
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT status, attempts FROM deliveries WHERE id = $1`, delivery).Scan(&status, &tries))
		return status == "delivered"
	})
	eventually(t, 30*time.Second, "the job to complete", func() bool {
		var state string
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, job).Scan(&state))
		return state == "completed"
	})
	time.Sleep(2 * time.Second) // any second delivery would have arrived by now
	require.Equal(t, map[string]int{delivery.String(): 1}, rcv.counts(), "exactly once by delivery id")
	rcv.mu.Lock()
	require.Zero(t, rcv.bad)
	require.Equal(t, attempts, rcv.refused, "every attempt while down reached the receiver")
	rcv.mu.Unlock()
	require.Equal(t, attempts+1, tries, "the attempts recorded: those refused and the one delivered")
	var c string
	require.NoError(t, d.pool.QueryRow(ctx, `SELECT status FROM cases WHERE id = $1`, caseID).Scan(&c))
	require.Equal(t, "delivered", c)
	t.Logf("%d attempts refused over %s simulated; delivered once at attempt %d", attempts, simulated.Round(time.Second), attempts+1)
}
