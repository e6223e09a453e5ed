package intake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/postgres"
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
	answer := func(*intake.Claim) (intake.Answer, error) {
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
		ans, err := b.svc.Idempotent(ctx, b.staffA, k, func(*intake.Claim) (intake.Answer, error) { ran = true; return answer(nil) })
		require.NoError(t, err)
		require.True(t, ran, "the retry ran the request")
		require.False(t, ans.Replayed)
		var status *int32
		require.NoError(t, b.env.Pool.QueryRow(ctx, `SELECT status_code FROM idempotency_keys WHERE org_id = $1 AND key = $2`,
			b.staffA.OrgID, k.Key).Scan(&status))
		require.NotNil(t, status)
		require.EqualValues(t, 201, *status)
		ans, err = b.svc.Idempotent(ctx, b.staffA, k, func(*intake.Claim) (intake.Answer, error) { t.Fatal("ran twice"); return answer(nil) })
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
			_, err := b.svc.Idempotent(ctx, b.staffA, k, func(*intake.Claim) (intake.Answer, error) {
				close(started)
				<-release
				return answer(nil)
			})
			first <- err
		}()
		<-started
		// Well past KeyStaleAfter: the running request renewed its claim.
		time.Sleep(1200 * time.Millisecond)
		_, err := b.svc.Idempotent(ctx, b.staffA, k, func(*intake.Claim) (intake.Answer, error) { t.Error("ran twice"); return answer(nil) })
		require.True(t, apperr.Is(err, apperr.Conflict), "the first request still runs: %v", err)
		close(release)
		require.NoError(t, <-first)
		ans, err := b.svc.Idempotent(ctx, b.staffA, k, func(*intake.Claim) (intake.Answer, error) { t.Error("ran twice"); return answer(nil) })
		require.NoError(t, err)
		require.True(t, ans.Replayed)
	})
}

// TestIdempotentAnswerStoredWithTheWork: a request whose work must not be
// done twice (opening a case) stores its answer in the work's transaction.
// When the process dies after that commit and before answering, the
// retry gets the stored answer, even once the claim would be stale; when
// the transaction rolls back, the retry runs again; and a request whose
// claim a retry took over cannot commit its work.
func TestIdempotentAnswerStoredWithTheWork(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupWith(t, intake.Options{KeyStaleAfter: 2 * time.Second}, nil)
	created := intake.Answer{Status: 201, Body: []byte(`{"id":"c1"}`), Keep: true}
	// work runs a transaction that inserts a row of its own (the work) and
	// stores created with it, then fails with after (the process dying
	// before it answers) or rolls back with inTx.
	_, err := b.env.Pool.Exec(ctx, `CREATE TABLE idem_work (key text)`)
	require.NoError(t, err)
	work := func(key string, inTx, after error) func(*intake.Claim) (intake.Answer, error) {
		return func(cl *intake.Claim) (intake.Answer, error) {
			err := postgres.InTx(ctx, b.env.Pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO idem_work VALUES ($1)`, key); err != nil {
					return err
				}
				if err := cl.Store(ctx, tx, created); err != nil {
					return err
				}
				return inTx
			})
			if err != nil {
				return intake.Answer{}, err
			}
			return intake.Answer{}, after
		}
	}
	done := func(key string) int {
		var n int
		require.NoError(t, b.env.Pool.QueryRow(ctx, `SELECT count(*) FROM idem_work WHERE key = $1`, key).Scan(&n))
		return n
	}
	stale := func(key string) {
		_, err := b.env.Pool.Exec(ctx, `UPDATE idempotency_keys SET created_at = created_at - interval '1 hour'
			WHERE org_id = $1 AND key = $2`, b.staffA.OrgID, key)
		require.NoError(t, err)
	}
	died := errors.New("died before answering")

	t.Run("DiedAfterCommit", func(t *testing.T) {
		k := intake.Keyed{Key: "work-1", Route: "POST /api/v1/cases", Hash: "h"}
		_, err := b.svc.Idempotent(ctx, b.staffA, k, work(k.Key, nil, died))
		require.ErrorIs(t, err, died)
		stale(k.Key)
		ans, err := b.svc.Idempotent(ctx, b.staffA, k, work(k.Key, nil, nil))
		require.NoError(t, err)
		require.True(t, ans.Replayed, "the retry gets the answer stored with the work")
		require.Equal(t, 201, ans.Status)
		require.JSONEq(t, `{"id":"c1"}`, string(ans.Body))
		require.Equal(t, 1, done(k.Key), "the work was done once")
	})

	t.Run("RolledBack", func(t *testing.T) {
		k := intake.Keyed{Key: "work-2", Route: "POST /api/v1/cases", Hash: "h"}
		_, err := b.svc.Idempotent(ctx, b.staffA, k, work(k.Key, died, nil))
		require.ErrorIs(t, err, died)
		require.Equal(t, 0, done(k.Key))
		ans, err := b.svc.Idempotent(ctx, b.staffA, k, work(k.Key, nil, nil))
		require.NoError(t, err, "the key was released: the retry runs at once")
		require.False(t, ans.Replayed)
		require.Equal(t, 1, done(k.Key))
	})

	t.Run("TakenOver", func(t *testing.T) {
		k := intake.Keyed{Key: "work-3", Route: "POST /api/v1/cases", Hash: "h"}
		_, err := b.svc.Idempotent(ctx, b.staffA, k, func(cl *intake.Claim) (intake.Answer, error) {
			// A retry takes the claim over while this request is stuck.
			stale(k.Key)
			ans, err := b.svc.Idempotent(ctx, b.staffA, k, work(k.Key, nil, nil))
			require.NoError(t, err)
			require.False(t, ans.Replayed)
			return work(k.Key, nil, nil)(cl)
		})
		require.True(t, apperr.Is(err, apperr.Conflict), "the stuck request cannot commit: %v", err)
		require.Equal(t, 1, done(k.Key), "only the retry did the work")
		ans, err := b.svc.Idempotent(ctx, b.staffA, k, work(k.Key, nil, nil))
		require.NoError(t, err)
		require.True(t, ans.Replayed)
	})
}
