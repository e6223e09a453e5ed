package benchenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StartServer starts `teleread serve` with args and waits until it is
// ready; note describes it in the log line. The server is stopped at
// cleanup, Keep or not.
func (e *Env) StartServer(ctx context.Context, note string, args ...string) error {
	e.LogPath = filepath.Join(e.TmpDir, "server.log")
	logFile, err := os.Create(e.LogPath)
	if err != nil {
		return err
	}
	// Not CommandContext: on Ctrl-C the server gets a graceful SIGTERM at
	// cleanup, not a SIGKILL.
	cmd := exec.Command(e.Bin, append([]string{"serve"}, args...)...)
	cmd.Env = e.ServerEnv()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start teleread serve: %w", err)
	}
	e.Server = cmd
	e.exited = make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "teleread listening on "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		logFile.Close()
		close(e.exited)
	}()
	e.OnCleanup(true, e.StopServer)

	select {
	case a := <-addr:
		e.BaseURL = a
	case <-e.exited:
		return fmt.Errorf("teleread serve exited at start: %s\n%s", cmd.ProcessState, e.LogTail())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("teleread serve did not print its address within 60s\n%s", e.LogTail())
	case <-ctx.Done():
		return ctx.Err()
	}
	e.Logf("server pid %d on %s (%s)", cmd.Process.Pid, e.BaseURL, note)
	return e.WaitReady(ctx)
}

// WaitReady polls /readyz until it answers 200.
func (e *Env) WaitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+"/readyz", nil)
		resp, err := e.client().Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.exited:
			return fmt.Errorf("teleread serve exited\n%s", e.LogTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("teleread serve not ready after 30s: %s", last)
}

// StopServer sends SIGTERM and waits for a graceful exit, killing the
// server after 30 seconds.
func (e *Env) StopServer() error {
	if e.Server == nil {
		return nil
	}
	select {
	case <-e.exited:
		return nil
	default:
	}
	_ = e.Server.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = e.Server.Process.Kill()
		<-e.exited
		return errors.New("teleread serve did not stop within 30s of SIGTERM; killed")
	}
}

// LogTail returns the end of the server's log, for error messages.
func (e *Env) LogTail() string {
	b, _ := os.ReadFile(e.LogPath)
	if len(b) > 4<<10 {
		b = b[len(b)-4<<10:]
	}
	return "server log (" + e.LogPath + "):\n" + string(b)
}
