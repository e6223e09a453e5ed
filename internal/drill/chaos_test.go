//go:build drill

package drill_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slot is one `teleread serve --workers=false` (on a fixed port, so that
// it comes back where the proxy sends requests) or `teleread worker`
// process, which the chaos loop SIGKILLs and starts again.
type slot struct {
	name string
	args []string
	port int // serve only
	rig  *rig

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  io.WriteCloser
}

// freePort finds a free loopback port for a process the chaos restarts
// on it again and again. It is below the kernel's ephemeral range (32768
// on) and above the private stacks' (testenv.NewStack: 20000-32000), so
// that no outgoing connection is given it while its process is down.
func freePort(t *testing.T) int {
	t.Helper()
	for range 200 {
		port := 32100 + rand.IntN(600)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no free loopback port in 32100-32699")
	return 0
}

// start starts the slot's process (it must not be running).
func (s *slot) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	vars := map[string]string{}
	for k, v := range s.rig.vars {
		vars[k] = v
	}
	if s.port != 0 {
		vars["TELEREAD_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	if s.log == nil {
		f, err := s.rig.logFile(s.name)
		if err != nil {
			return fmt.Errorf("log of %s: %w", s.name, err)
		}
		s.log = f
	}
	cmd := exec.Command(binary, s.args...)
	cmd.Env = s.rig.stack.Environ(vars)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	return nil
}

// kill SIGKILLs the slot's process and waits for it to be gone.
func (s *slot) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// stop ends the slot for good (test cleanup).
func (s *slot) stop() {
	s.kill()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log != nil {
		_ = s.log.Close()
		s.log = nil
	}
}

// waitHTTP waits until a serve slot answers /healthz.
func (s *slot) waitHTTP(within time.Duration) error {
	deadline := time.Now().Add(within)
	u := fmt.Sprintf("http://127.0.0.1:%d/healthz", s.port)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer /healthz within %s", s.name, within)
}

// fleet is the processes of the drill and the load balancer in front of
// the API servers.
type fleet struct {
	serves, workers []*slot
	// URL is the proxy's base URL, the only address clients know.
	URL string
	// proxied counts requests by the proxy; failed those it answered 502
	// because the server it picked was down.
	proxied, failed atomic.Int64
	next            atomic.Uint64
}

// newFleet starts nServe API servers (without workers) and nWorker worker
// processes, and a round-robin reverse proxy in front of the servers.
func newFleet(t *testing.T, r *rig, nServe, nWorker int) *fleet {
	t.Helper()
	f := &fleet{}
	for i := range nServe {
		f.serves = append(f.serves, &slot{name: fmt.Sprintf("serve%d", i+1), args: []string{"serve", "--workers=false"},
			port: freePort(t), rig: r})
	}
	for i := range nWorker {
		f.workers = append(f.workers, &slot{name: fmt.Sprintf("worker%d", i+1), args: []string{"worker"}, rig: r})
	}
	for _, s := range append(append([]*slot{}, f.serves...), f.workers...) {
		if err := s.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.stop)
	}
	for _, s := range f.serves {
		if err := s.waitHTTP(time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	targets := make([]*url.URL, len(f.serves))
	for i, s := range f.serves {
		targets[i], _ = url.Parse(fmt.Sprintf("http://127.0.0.1:%d", s.port))
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[f.next.Add(1)%uint64(len(targets))])
			pr.Out.Host = pr.In.Host
		},
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			f.failed.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f.proxied.Add(1)
		rp.ServeHTTP(w, req)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.URL = "http://" + ln.Addr().String()
	return f
}

// kill is one SIGKILL by the chaos loop.
type kill struct {
	At   time.Time
	Slot string
	// Worker is set when the process ran jobs.
	Worker bool
}

// chaos SIGKILLs processes of the fleet at random moments (every 1 to
// 4 s), one at a time or, one time in five, every process of a kind at
// once, and starts them again after 0.2 to 1.5 s, until ctx ends. Every
// process runs again when it returns.
type chaos struct {
	mu    sync.Mutex
	kills []kill
}

func (c *chaos) run(ctx context.Context, f *fleet, logf func(string, ...any)) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for {
		if !sleep(time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))) {
			return
		}
		pool := f.workers
		worker := true
		if rng.IntN(2) == 0 {
			pool, worker = f.serves, false
		}
		victims := []*slot{pool[rng.IntN(len(pool))]}
		if rng.IntN(5) == 0 {
			victims = pool
		}
		for _, s := range victims {
			s.kill()
			c.mu.Lock()
			c.kills = append(c.kills, kill{At: time.Now(), Slot: s.name, Worker: worker})
			c.mu.Unlock()
		}
		ok := sleep(200*time.Millisecond + time.Duration(rng.Int64N(int64(1300*time.Millisecond))))
		for _, s := range victims {
			if err := s.start(); err != nil {
				logf("chaos: %v", err)
			}
		}
		if !ok {
			return
		}
	}
}

// workerKills returns the times of the SIGKILLs of worker processes.
func (c *chaos) workerKills() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, k := range c.kills {
		if k.Worker {
			out = append(out, k.At)
		}
	}
	return out
}

// counts returns the kills of API servers and of workers.
func (c *chaos) counts() (serve, worker int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.kills {
		if k.Worker {
			worker++
		} else {
			serve++
		}
	}
	return serve, worker
}
