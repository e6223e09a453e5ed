package intake_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/intake"
)

// TestIdempotentClaimOfADeadRequest: a request whose process was killed
// (the clinical-loop drill SIGKILLs servers mid-upload) leaves its
// Idempotency-Key in flight. A retry must take the key over once the claim
// has not been renewed for KeyStaleAfter, not answer 409 for two hours;
// and a request that is still running renews its claim, so a retry meanwhile
// waits (409) rather than running it twice.
func TestIdempotentClaimOfADeadRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	answer := func() (intake.Answer, error) {
		return intake.Answer{Status: 201, Body: []byte(`{"ok":true}`), Keep: true}, nil
	}

	t.Run("TakenOverWhenStale", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, intake.Options{KeyStaleAfter: 2 * time.Second}, nil)
		k := intake.Keyed{Key: "dead-1", Route: "POST /api/v1/cases/x/files", Hash: "h"}
		// What a killed request leaves: a claim with no answer.
		_, err := b.env.Pool.Exec(ctx, `INSERT INTO idempotency_keys (org_id, key, route, request_hash, created_at)
			VALUES ($1, $2, $3, $4, now())`, b.staffA.OrgID, k.Key, k.Route, k.Hash)
		require.NoError(t, err)
		_, err = b.svc.Idempotent(ctx, b.staffA, k, answer)
		require.True(t, apperr.Is(err, apperr.Conflict), "a fresh claim may still be running: %v", err)

		_, err = b.env.Pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '3 seconds'
			WHERE org_id = $1 AND key = $2`, b.staffA.OrgID, k.Key)
		require.NoError(t, err)
		ran := false
		ans, err := b.svc.Idempotent(ctx, b.staffA, k, func() (intake.Answer, error) { ran = true; return answer() })
		require.NoError(t, err)
		require.True(t, ran, "the retry ran the request")
		require.False(t, ans.Replayed)
		var status *int32
		require.NoError(t, b.env.Pool.QueryRow(ctx, `SELECT status_code FROM idempotency_keys WHERE org_id = $1 AND key = $2`,
			b.staffA.OrgID, k.Key).Scan(&status))
		require.NotNil(t, status)
		require.EqualValues(t, 201, *status)
		ans, err = b.svc.Idempotent(ctx, b.staffA, k, func() (intake.Answer, error) { t.Fatal("ran twice"); return answer() })
		require.NoError(t, err)
		require.True(t, ans.Replayed)
	})

	t.Run("RenewedWhileRunning", func(t *testing.T) {
		t.Parallel()
		b := setupWith(t, intake.Options{KeyStaleAfter: 400 * time.Millisecond}, nil)
		k := intake.Keyed{Key: "live-1", Route: "POST /api/v1/cases/x/files", Hash: "h"}
		release := make(chan struct{})
		first := make(chan error, 1)
		started := make(chan struct{})
		go func() {
			_, err := b.svc.Idempotent(ctx, b.staffA, k, func() (intake.Answer, error) {
				close(started)
				<-release
				return answer()
			})
			first <- err
		}()
		<-started
		// Well past KeyStaleAfter: the running request renewed its claim.
		time.Sleep(1200 * time.Millisecond)
		_, err := b.svc.Idempotent(ctx, b.staffA, k, func() (intake.Answer, error) { t.Error("ran twice"); return answer() })
		require.True(t, apperr.Is(err, apperr.Conflict), "the first request still runs: %v", err)
		close(release)
		require.NoError(t, <-first)
		ans, err := b.svc.Idempotent(ctx, b.staffA, k, func() (intake.Answer, error) { t.Error("ran twice"); return answer() })
		require.NoError(t, err)
		require.True(t, ans.Replayed)
	})
}
