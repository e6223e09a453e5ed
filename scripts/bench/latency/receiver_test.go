package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deliver posts body to r as Teleread would, signed with secret at ts.
func deliver(t *testing.T, r *receiver, secret, id string, ts time.Time, body string) int {
	t.Helper()
	raw := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(raw + "." + body))
	req := httptest.NewRequest(http.MethodPost, "/teleread", bytes.NewReader([]byte(body)))
	req.Header.Set("Teleread-Delivery", id)
	req.Header.Set("Teleread-Event", "report.final")
	req.Header.Set("Teleread-Timestamp", raw)
	req.Header.Set("Teleread-Signature", "v0=old, v1="+hex.EncodeToString(mac.Sum(nil)))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w.Code
}

func TestReceiver(t *testing.T) {
	t.Parallel()
	const body = `{"delivery_id":"d1","event":"report.final","data":{"report_id":"r1"}}`
	setup := func() *receiver {
		r := newReceiver()
		r.setSecret("whsec_test")
		return r
	}

	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		r := setup()
		require.Equal(t, http.StatusNoContent, deliver(t, r, "whsec_test", "d1", time.Now(), body))
		at, err := r.wait(context.Background(), "r1", time.Second)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), at, time.Second)
		require.Equal(t, http.StatusNoContent, deliver(t, r, "whsec_test", "d1", time.Now(), body))
		bad, repeats := r.counts()
		require.Zero(t, bad)
		require.Equal(t, 1, repeats)
	})

	t.Run("WaiterFirst", func(t *testing.T) {
		t.Parallel()
		r := setup()
		got := make(chan error, 1)
		go func() {
			_, err := r.wait(context.Background(), "r1", 5*time.Second)
			got <- err
		}()
		time.Sleep(10 * time.Millisecond)
		require.Equal(t, http.StatusNoContent, deliver(t, r, "whsec_test", "d1", time.Now(), body))
		require.NoError(t, <-got)
	})

	t.Run("BadSignature", func(t *testing.T) {
		t.Parallel()
		r := setup()
		require.Equal(t, http.StatusUnauthorized, deliver(t, r, "whsec_other", "d1", time.Now(), body))
		_, err := r.wait(context.Background(), "r1", 20*time.Millisecond)
		require.ErrorContains(t, err, "1 deliveries refused")
	})

	t.Run("StaleTimestamp", func(t *testing.T) {
		t.Parallel()
		r := setup()
		require.Equal(t, http.StatusUnauthorized, deliver(t, r, "whsec_test", "d1", time.Now().Add(-6*time.Minute), body))
	})

	t.Run("PreliminaryIsNotFinal", func(t *testing.T) {
		t.Parallel()
		r := setup()
		prelim := `{"event":"report.preliminary","data":{"report_id":"r1"}}`
		require.Equal(t, http.StatusNoContent, deliver(t, r, "whsec_test", "d2", time.Now(), prelim))
		_, err := r.wait(context.Background(), "r1", 20*time.Millisecond)
		require.Error(t, err)
	})
}
