//go:build drill

package drill_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
)

// TestDrill is the clinical-loop drill (issue 14, point 2): -cases cases
// driven through upload, submit, route, claim, sign, delivery (inbox and
// a webhook) and acknowledgement by 24 concurrent clients through a
// round-robin proxy in front of two `serve --workers=false` processes,
// with two `worker` processes doing the jobs, while the chaos loop
// SIGKILLs and restarts those processes at random moments. Its last line
// is the counts line; any count other than zero, or a broken audit chain,
// fails it.
//
// "Delivered exactly once per delivery id": every delivery (one per report
// and channel: the inbox and the site's webhook) is recorded delivered
// once, with one successful attempt and one report.deliver audit event,
// and the receiver processes each delivery id once. Webhooks are at least
// once (docs/delivery.md): a receiver may see a delivery id again, and
// de-duplicates it, only when the attempt before left no outcome because
// its worker died; so a repeat arrival counts as duplicated unless a
// worker was SIGKILLed between the two arrivals.
func TestDrill(t *testing.T) {
	ctx := context.Background()
	n := *flagCases
	require.Positive(t, n, "-cases")
	started := time.Now()
	r := newRig(t, "drill")

	var seeded []uuid.UUID
	rows, err := r.pool.Query(ctx, `SELECT id FROM cases`)
	require.NoError(t, err)
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		seeded = append(seeded, id)
	}
	require.NoError(t, rows.Err())

	f := newFleet(t, r, 2, 2)
	rcv, hookURL := newReceiver(t)
	clk, err := newClock(r.pool)
	require.NoError(t, err)
	d := newDriver(t, r, f.URL, clk)
	hook, err := d.admin.CreateWebhook(ctx, api.CreateWebhookRequest{URL: hookURL, Description: "drill EHR"})
	require.NoError(t, err)
	rcv.setSecret(hook.Secret)

	clockCtx, stopClock := context.WithCancel(ctx)
	defer stopClock()
	go clk.run(clockCtx)
	chaosCtx, stopChaos := context.WithCancel(ctx)
	ch := &chaos{}
	chaosDone := make(chan struct{})
	go func() { ch.run(chaosCtx, f, t.Logf); close(chaosDone) }()

	t.Logf("drill: %d cases, 24 clients, proxy %s, 2 serve + 2 worker processes, logs in %s", n, f.URL, r.logDir)
	loopStart := time.Now()
	runs, failed := d.runCases(ctx, n, 24)
	stopChaos()
	<-chaosDone
	loopTime := time.Since(loopStart)
	for i, err := range failed {
		t.Errorf("case %d did not finish: %v", i, err)
	}

	// The webhooks may still be on their way (a killed worker's job waits
	// for the rescuer): wait for the queue to drain.
	settle := time.Now()
	var pending int
	for time.Since(settle) < 3*time.Minute {
		require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind IN ('route', 'deliver')
			AND state NOT IN ('completed', 'discarded', 'cancelled')`).Scan(&pending))
		if pending == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Second) // a duplicate would arrive by now
	stopClock()

	tl := tally(t, r, rcv, runs, seeded, ch.workerKills())
	tl.stuck += pending
	audit, auditErr := r.run(ctx, "audit", "verify")
	serveKills, workerKills := ch.counts()
	t.Logf("chaos: %d serve and %d worker processes SIGKILLed and restarted; proxy: %d requests, %d answered 502 (server down)",
		serveKills, workerKills, f.proxied.Load(), f.failed.Load())
	t.Logf("clients: %d retries, %d conflicts re-read; clock: %d abandoned jobs aged for the rescuer, %d escalate runs",
		d.retries.Load(), d.conflicts.Load(), clk.aged.Load(), d.escalationTriggers.Load())
	t.Logf("uploads: %d given up after 409 (Idempotency-Key left in flight by a killed server) and sent again under a fresh key",
		d.staleKeys.Load())
	t.Logf("deliveries: %d webhook ids processed by the receiver, %d re-sent after a worker was killed mid-attempt",
		tl.processed, tl.resent)
	t.Logf("criticals: %d, %d acknowledged at once, %d escalated (both levels) then acknowledged",
		tl.critical, tl.critical-tl.escalated, tl.escalated)
	logSteps(t, runs)
	t.Logf("audit: %s", strings.TrimSpace(audit))
	t.Logf("time: %s in the loop, %s in all", loopTime.Round(time.Second), time.Since(started).Round(time.Second))
	for _, p := range tl.problems {
		t.Error(p)
	}
	auditWord := "audit intact"
	if auditErr != nil {
		auditWord = "audit BROKEN"
		t.Errorf("teleread audit verify: %v\n%s", auditErr, audit)
	}
	line := fmt.Sprintf("drill: %d cases, lost %d, stuck %d, duplicated %d, unacknowledged critical %d, %s",
		n, tl.lost, tl.stuck, tl.duplicated, tl.unackCritical, auditWord)
	if tl.lost+tl.stuck+tl.duplicated+tl.unackCritical > 0 {
		t.Fail()
	}
	fmt.Println(line)
}

// counts is the drill's tally, from SQL rows, the bucket and the receiver.
type counts struct {
	lost, stuck, duplicated, unackCritical int
	processed, resent, critical, escalated int
	problems                               []string
}

func (c *counts) problem(format string, args ...any) {
	if len(c.problems) < 30 {
		c.problems = append(c.problems, fmt.Sprintf(format, args...))
	}
}

func tally(t *testing.T, r *rig, rcv *receiver, runs []*caseRun, seeded []uuid.UUID, kills []time.Time) counts {
	t.Helper()
	ctx := context.Background()
	var c counts
	objects := map[string]bool{}
	keys, err := r.store.List(ctx, "")
	require.NoError(t, err)
	for _, k := range keys {
		objects[k] = true
	}
	arrivals, bad := rcv.snapshot()
	if bad > 0 {
		c.problem("%d webhook requests with a bad signature", bad)
		c.duplicated += bad
	}
	c.processed = len(arrivals)
	var ids []uuid.UUID
	for _, cr := range runs {
		if cr.id != uuid.Nil {
			ids = append(ids, cr.id)
		}
	}
	c.lost += len(runs) - len(ids) // never created

	// Every case: in the database, in its final state, its file's object
	// in the bucket, its final report delivered on both channels.
	rows, err := r.pool.Query(ctx, `SELECT c.id, c.status,
		coalesce((SELECT array_agg(f.blob_key) FROM files f WHERE f.case_id = c.id), '{}'),
		coalesce(r.status, ''), coalesce(r.critical, false),
		(SELECT count(*) FROM deliveries d WHERE d.report_id = r.id AND d.channel = 'inbox' AND d.status = 'delivered'),
		coalesce((SELECT array_agg(d.id::text) FROM deliveries d WHERE d.report_id = r.id AND d.channel = 'webhook'
			AND d.status = 'delivered'), '{}'),
		(SELECT count(*) FROM deliveries d WHERE d.report_id = r.id AND d.status <> 'delivered'),
		(SELECT count(*) FROM inbox_items i WHERE i.report_id = r.id),
		EXISTS (SELECT 1 FROM acknowledgements a WHERE a.report_id = r.id AND a.report_status = 'final'),
		(SELECT count(*) FROM escalations e WHERE e.report_id = r.id AND e.kind = 'critical_unacknowledged')
		FROM cases c LEFT JOIN reports r ON r.case_id = c.id WHERE c.id = ANY($1)`, ids)
	require.NoError(t, err)
	found := 0
	for rows.Next() {
		var (
			id                       uuid.UUID
			status, repStatus        string
			blobs, hooks             []string
			critical, acked          bool
			inbox, undelivered, item int
			escalations              int
		)
		require.NoError(t, rows.Scan(&id, &status, &blobs, &repStatus, &critical, &inbox, &hooks, &undelivered, &item,
			&acked, &escalations))
		found++
		lost := false
		if len(blobs) == 0 {
			c.problem("case %s has no file", id)
			lost = true
		}
		for _, k := range blobs {
			if !objects[k] {
				c.problem("case %s: file object %s is not in the bucket", id, k)
				lost = true
			}
		}
		if repStatus != "final" || inbox != 1 || item != 1 || len(hooks) != 1 {
			c.problem("case %s: report %q, inbox deliveries %d, inbox items %d, webhook deliveries delivered %d",
				id, repStatus, inbox, item, len(hooks))
			lost = true
		}
		for _, h := range hooks {
			if len(arrivals[h]) == 0 {
				c.problem("case %s: webhook delivery %s recorded delivered but never received", id, h)
				lost = true
			}
		}
		if lost {
			c.lost++
		}
		if status != api.CaseAcknowledged || undelivered > 0 {
			c.problem("case %s stuck in %s with %d deliveries not delivered", id, status, undelivered)
			c.stuck++
		}
		if critical {
			c.critical++
			if escalations >= 2 {
				c.escalated++
			}
			if !acked && escalations == 0 {
				c.unackCritical++
			}
		}
	}
	require.NoError(t, rows.Err())
	c.lost += len(ids) - found

	// Duplicates: a delivery id re-sent with no worker killed in between,
	// a delivery recorded delivered more than once, cases nobody asked for.
	sort.Slice(kills, func(i, j int) bool { return kills[i].Before(kills[j]) })
	for id, at := range arrivals {
		for i := 1; i < len(at); i++ {
			if killedBetween(kills, at[i-1], at[i]) {
				c.resent++
				continue
			}
			c.problem("webhook delivery %s arrived again at %s with no worker killed since %s", id,
				at[i].Format(time.StampMilli), at[i-1].Format(time.StampMilli))
			c.duplicated++
		}
	}
	var twice, audited int
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT delivery_id FROM delivery_attempts
		WHERE error = '' AND (status_code IS NULL OR status_code BETWEEN 200 AND 299)
		GROUP BY delivery_id HAVING count(*) > 1) x`).Scan(&twice))
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT details->>'delivery_id' FROM audit_events
		WHERE action = 'report.deliver' GROUP BY 1 HAVING count(*) > 1) x`).Scan(&audited))
	if twice+audited > 0 {
		c.problem("%d deliveries with more than one successful attempt, %d audited as delivered more than once", twice, audited)
	}
	c.duplicated += twice + audited
	known := map[uuid.UUID]bool{}
	for _, id := range append(append([]uuid.UUID{}, ids...), seeded...) {
		known[id] = true
	}
	rows, err = r.pool.Query(ctx, `SELECT id, status FROM cases`)
	require.NoError(t, err)
	for rows.Next() {
		var id uuid.UUID
		var status string
		require.NoError(t, rows.Scan(&id, &status))
		if !known[id] {
			c.problem("case %s (%s) was created but no client has its id", id, status)
			c.duplicated++
		}
	}
	require.NoError(t, rows.Err())
	return c
}

// killedBetween reports a worker SIGKILL in [from, to].
func killedBetween(kills []time.Time, from, to time.Time) bool {
	for _, k := range kills {
		if !k.Before(from) && !k.After(to) {
			return true
		}
	}
	return false
}

// logSteps logs how long the cases spent in each state (p50, p90, max).
func logSteps(t *testing.T, runs []*caseRun) {
	by := map[string][]time.Duration{}
	var took []time.Duration
	for _, cr := range runs {
		for k, v := range cr.spent {
			by[k] = append(by[k], v)
		}
		took = append(took, cr.took)
	}
	q := func(ds []time.Duration) string {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		if len(ds) == 0 {
			return "-"
		}
		at := func(p float64) time.Duration { return ds[int(p*float64(len(ds)-1))].Round(10 * time.Millisecond) }
		return fmt.Sprintf("p50 %s p90 %s max %s", at(0.5), at(0.9), at(1))
	}
	for _, st := range api.CaseStatuses {
		if ds := by[st]; len(ds) > 0 {
			t.Logf("  in %-13s %s", st, q(ds))
		}
	}
	t.Logf("  case total     %s", q(took))
}
