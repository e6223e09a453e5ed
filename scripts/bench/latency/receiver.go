package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// receiver is the site's EHR: a real HTTP server in this process that
// verifies each delivery's signature as docs/delivery.md tells receivers to,
// and records when each report's final version first arrived.
type receiver struct {
	mu      sync.Mutex
	secret  string
	now     func() time.Time
	arrived map[string]*arrival // by report id
	seen    map[string]bool     // delivery ids, for at-least-once
	bad     int                 // refused: bad signature or timestamp
	repeats int                 // the same delivery id again

	srv *http.Server
	URL string
}

// arrival is when a report's webhook arrived; done is closed then.
type arrival struct {
	at   time.Time
	done chan struct{}
}

func newReceiver() *receiver {
	return &receiver{now: time.Now, arrived: map[string]*arrival{}, seen: map[string]bool{}}
}

// start serves on a free loopback port.
func (r *receiver) start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.URL = "http://" + ln.Addr().String() + "/teleread"
	go func() { _ = r.srv.Serve(ln) }()
	return nil
}

// stop shuts the server down.
func (r *receiver) stop() error {
	if r.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

// ServeHTTP takes one delivery. The arrival time is taken once the whole
// body is read, before the signature is checked.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	at := r.now()
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := verifyTeleread(r.secret, req.Header, body, at); err != nil {
		r.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("Teleread-Delivery")
	if r.seen[id] {
		r.repeats++
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.seen[id] = true
	var env struct {
		Event string `json:"event"`
		Data  struct {
			ReportID string `json:"report_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Data.ReportID == "" {
		r.bad++
		http.Error(w, "not a report delivery", http.StatusBadRequest)
		return
	}
	if env.Event == "report.final" {
		a := r.slot(env.Data.ReportID)
		select {
		case <-a.done:
		default:
			a.at = at
			close(a.done)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// slot returns the arrival record of a report, made on first use by either
// the receiver or a waiter; r.mu must be held.
func (r *receiver) slot(reportID string) *arrival {
	a, ok := r.arrived[reportID]
	if !ok {
		a = &arrival{done: make(chan struct{})}
		r.arrived[reportID] = a
	}
	return a
}

// wait returns when the final report reportID arrived.
func (r *receiver) wait(ctx context.Context, reportID string, timeout time.Duration) (time.Time, error) {
	r.mu.Lock()
	a := r.slot(reportID)
	r.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-a.done:
		return a.at, nil // at is written before done is closed
	case <-t.C:
		r.mu.Lock()
		bad := r.bad
		r.mu.Unlock()
		return time.Time{}, fmt.Errorf("report %s: no webhook within %s (%d deliveries refused so far)", reportID, timeout, bad)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// counts returns the refused and repeated deliveries.
func (r *receiver) counts() (bad, repeats int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad, r.repeats
}

// verifyTeleread is the receiver check of docs/delivery.md, as documented:
// the signature over the timestamp and the raw body with the webhook's
// secret, and a timestamp within five minutes of now.
func verifyTeleread(secret string, h http.Header, body []byte, now time.Time) error {
	raw := h.Get("Teleread-Timestamp")
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return errors.New("missing or malformed Teleread-Timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("Teleread-Timestamp is more than 5 minutes away")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(raw + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Split(h.Get("Teleread-Signature"), ",") {
		if hmac.Equal([]byte(strings.TrimSpace(sig)), []byte(want)) {
			return nil
		}
	}
	return errors.New("bad Teleread-Signature")
}
