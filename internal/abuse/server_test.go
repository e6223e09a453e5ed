package abuse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/testenv"
)

// server is `teleread serve` started through app.Run on a free port, on
// the test's own database and bucket, with the demo organisations seeded.
type server struct {
	URL    string
	tokens map[string]string // demo token by role
	caseID string            // a radiology draft case of Doe^Archibald (77654033)
}

// start seeds the demo data and runs serve (without workers) with the
// test environment's configuration plus overrides.
func start(t *testing.T, overrides map[string]string) *server {
	t.Helper()
	env := testenv.New(t)
	getenv := env.Getenv(overrides)
	var seedOut bytes.Buffer
	if err := app.Run(context.Background(), []string{"seed", "--demo"}, getenv, &seedOut, io.Discard, "test"); err != nil {
		t.Fatalf("seed: %v", err)
	}
	var doc struct {
		Users []struct{ Role, Token string } `json:"users"`
	}
	if err := json.Unmarshal(seedOut.Bytes(), &doc); err != nil {
		t.Fatalf("seed output: %v", err)
	}
	s := &server{tokens: map[string]string{}}
	for _, u := range doc.Users {
		s.tokens[u.Role] = u.Token
	}

	s.URL = testenv.Serve(t, app.Run, getenv, nil, "serve", "--workers=false").URL

	var me struct {
		UserID string `json:"user_id"`
	}
	s.json(t, s.tokens["referring_physician"], http.MethodGet, "/api/v1/me", nil, &me)
	var created struct{ ID string }
	s.json(t, s.tokens["site_staff"], http.MethodPost, "/api/v1/cases", map[string]any{
		"referring_physician_id": me.UserID, "specialty": "radiology", "priority": "routine",
		"clinical_question": "Fracture?",
		"patient":           map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
	}, &created)
	s.caseID = created.ID
	return s
}

// json makes a JSON request that must succeed and decodes its answer.
func (s *server) json(t *testing.T, token, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
}

// uploadRequest is a one-file multipart upload into the server's case.
func (s *server) uploadRequest(name string, data []byte) *http.Request {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("file", name)
	_, _ = w.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/cases/"+s.caseID+"/files", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+s.tokens["site_staff"])
	return req
}

// sampler records the process's peak heap in use, resident set size and
// goroutine count while it runs.
type sampler struct {
	mu                  sync.Mutex
	heapPeak, rssPeak   uint64
	goroutinesPeak      int
	stop                chan struct{}
	stopped             chan struct{}
	heapStart, rssStart uint64
	goroutinesStart     int
}

func newSampler(every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), stopped: make(chan struct{})}
	s.heapStart, s.rssStart, s.goroutinesStart = heapInuse(), rss(), runtimeGoroutines()
	go func() {
		defer close(s.stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	h, r, g := heapInuse(), rss(), runtimeGoroutines()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.heapPeak, s.rssPeak, s.goroutinesPeak = max(s.heapPeak, h), max(s.rssPeak, r), max(s.goroutinesPeak, g)
}

func (s *sampler) finish() {
	close(s.stop)
	<-s.stopped
}

func (s *sampler) String() string {
	return fmt.Sprintf("heap in use %.0f MiB -> peak %.0f MiB, RSS %.0f MiB -> peak %.0f MiB, goroutines %d -> peak %d",
		mib(s.heapStart), mib(s.heapPeak), mib(s.rssStart), mib(s.rssPeak), s.goroutinesStart, s.goroutinesPeak)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// rss is the process's resident set size from /proc/self/status (0 where
// there is none).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
