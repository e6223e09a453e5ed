package testenv

import (
	"bufio"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunFunc is the signature of app.Run, which Serve runs. (testenv cannot
// import internal/app: app's tests import testenv.)
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, version string) error

// Server is a `teleread serve` (or `worker`) running in the test process.
type Server struct {
	// URL is the address it printed, http://127.0.0.1:port.
	URL    string
	done   chan error
	cancel context.CancelFunc
	once   sync.Once
}

// Serve runs `teleread <args...>` with run (app.Run) and getenv until t
// ends or Stop is called, waits for it to print the address it listens on,
// and returns it. stderr receives its log (nil: discarded).
func Serve(t testing.TB, run RunFunc, getenv func(string) string, stderr io.Writer, args ...string) *Server {
	t.Helper()
	if stderr == nil {
		stderr = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &Server{done: make(chan error, 1), cancel: cancel}
	go func() {
		err := run(ctx, args, getenv, pw, stderr, "test")
		pw.Close()
		s.done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "teleread listening on "); ok {
			s.URL = rest
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if s.URL == "" {
		cancel()
		t.Fatalf("teleread %s did not start: %v", strings.Join(args, " "), <-s.done)
	}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop cancels the server and fails t unless it stops cleanly within 30 s.
// Calling it again does nothing.
func (s *Server) Stop(t testing.TB) {
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("teleread stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("teleread did not stop within 30s")
		}
	})
}
