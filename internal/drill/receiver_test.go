//go:build drill

package drill_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// receiver is the site's EHR: a real HTTP server that checks each
// webhook's signature and records when each delivery id arrived. It
// processes a delivery id once (the first arrival) and answers 2xx to a
// repeat without processing it, as docs/delivery.md asks of receivers.
type receiver struct {
	mu     sync.Mutex
	secret string
	// arrivals holds the arrival times of each Teleread-Delivery id.
	arrivals map[string][]time.Time
	// processed counts the deliveries processed (first arrivals).
	processed int
	bad       int
}

func newReceiver(t *testing.T) (*receiver, string) {
	r := &receiver{arrivals: map[string][]time.Time{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/ehr"
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "short body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(req.Header.Get("Teleread-Timestamp") + "." + string(body)))
	if !hmac.Equal([]byte("v1="+hex.EncodeToString(mac.Sum(nil))), []byte(req.Header.Get("Teleread-Signature"))) {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("Teleread-Delivery")
	if len(r.arrivals[id]) == 0 {
		r.processed++
	}
	r.arrivals[id] = append(r.arrivals[id], time.Now())
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

// snapshot returns a copy of the arrivals and the bad-signature count.
func (r *receiver) snapshot() (map[string][]time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]time.Time, len(r.arrivals))
	for k, v := range r.arrivals {
		out[k] = append([]time.Time(nil), v...)
	}
	return out, r.bad
}
