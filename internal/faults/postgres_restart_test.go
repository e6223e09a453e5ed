//go:build faults

package faults_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestPostgresRestart restarts the drill's PostgreSQL right after a report
// is signed (its delivery jobs queued or running) while worklist and case
// requests keep arriving. While it is down, /readyz
// answers 503 naming postgres and the API answers 503 problem+json with
// Retry-After (never 500); once it is back the server has reconnected by
// itself (no restart of serve), /readyz is ready, a new case goes through
// routing and delivery, every job completes, and each webhook delivery
// reaches the receiver under one delivery id only (a delivery cut by the
// restart is retried under the same id, which receivers de-duplicate).
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDrill(t, nil)
	srv := d.serve(t, nil)
	rcv, url := newReceiver(t)
	d.hook(t, srv.URL, rcv, url)
	caseA, _ := d.signedCase(t, srv.URL, false)

	// Requests keep arriving through the restart.
	stop := make(chan struct{})
	var mu sync.Mutex
	statuses := map[int]int{}
	var bad []string
	var wg sync.WaitGroup
	for _, path := range []string{"/api/v1/worklist", "/api/v1/cases/" + caseA.String()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := staffEmail
			if path == "/api/v1/worklist" {
				email = radEmail
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+d.tokens[email])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode >= 500 && (resp.StatusCode != http.StatusServiceUnavailable ||
					resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/problem+json") {
					bad = append(bad, path+" "+resp.Status)
				}
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}

	ready := func() (int, []string) {
		resp, err := http.Get(srv.URL + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		var a struct {
			Failed []string `json:"failed"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a.Failed
	}
	down := time.Now()
	d.stack.Down(t, "postgres")
	status, failed := ready()
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Contains(t, failed, "postgres")
	time.Sleep(2 * time.Second)
	d.stack.Up(t, "postgres")
	t.Logf("postgres down for %s", time.Since(down).Round(100*time.Millisecond))
	eventually(t, time.Minute, "/readyz ready again", func() bool { s, _ := ready(); return s == http.StatusOK })
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("answers during the restart: %v", statuses)
	require.Empty(t, bad, "every failure was a 503 problem+json with Retry-After")
	require.Positive(t, statuses[http.StatusServiceUnavailable], "some requests arrived while it was down")

	// The same server, reconnected: a new case goes through the loop.
	caseB, _ := d.signedCase(t, srv.URL, false)
	eventually(t, 2*time.Minute, "both cases delivered and every job done", func() bool {
		var delivered, pending int
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM cases WHERE id = ANY($1) AND status = 'delivered'),
			(SELECT count(*) FROM river_job WHERE kind IN ('route', 'deliver', 'preview')
				AND state NOT IN ('completed'))`, []uuid.UUID{caseA, caseB}).Scan(&delivered, &pending))
		return delivered == 2 && pending == 0
	})
	var hooks []string
	rows, err := d.pool.Query(ctx, `SELECT id::text FROM deliveries WHERE channel = 'webhook' AND case_id = ANY($1)`,
		[]uuid.UUID{caseA, caseB})
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		hooks = append(hooks, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, hooks, 2, "one webhook delivery per report")
	got := rcv.counts()
	require.Len(t, got, 2, "the receiver saw exactly the two delivery ids: %v", got)
	for _, id := range hooks {
		require.Positive(t, got[id], "delivery %s arrived", id)
	}
	var events int
	require.NoError(t, d.pool.QueryRow(ctx, `SELECT count(*) FROM case_events WHERE case_id = ANY($1) AND to_status = 'delivered'`,
		[]uuid.UUID{caseA, caseB}).Scan(&events))
	require.Equal(t, 2, events, "each case was delivered once")
	t.Logf("webhook arrivals by delivery id: %v", got)
}
