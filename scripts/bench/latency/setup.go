package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
)

// benchEnv is what the benchmark sets up: a fresh database and bucket, a
// running `teleread serve` with workers on them, the demo users, a default
// radiology route to the demo radiology group and a webhook of the demo
// site to the receiver. cleanup undoes it in reverse order. (The server is
// started as in scripts/bench/ingest/setup.go.)
type benchEnv struct {
	svc  services
	root string
	logf func(string, ...any)
	keep bool
	// workers is the server's River worker count.
	workers int

	mc      *minio.Client
	dbName  string
	dbURL   string
	bucket  string
	tmpDir  string
	bin     string
	logPath string
	pool    *pgxpool.Pool // the bench's own connections to the database

	server  *exec.Cmd
	exited  chan struct{} // closed when the server process has exited
	baseURL string
	client  *http.Client
	rcv     *receiver

	users     demoUsers
	webhookID string

	undo []func() error
}

// demoUsers are the tokens and ids of `teleread seed --demo` the benchmark
// uses.
type demoUsers struct {
	staff, siteAdmin, platformAdmin, specialist string // tokens
	gpUserID, specialistUserID, staffUserID     string
	siteOrgID, radGroupID                       string
}

// setUp makes everything the phases need.
func (e *benchEnv) setUp(ctx context.Context, concurrency int) error {
	var err error
	if e.mc, err = e.svc.minioClient(ctx); err != nil {
		return err
	}
	admin, err := e.svc.connectAdmin(ctx)
	if err != nil {
		return err
	}
	admin.Close(ctx)

	if e.tmpDir, err = os.MkdirTemp("", "teleread-bench-latency-"); err != nil {
		return err
	}
	e.onCleanup(false, func() error { return os.RemoveAll(e.tmpDir) })
	e.bin = filepath.Join(e.tmpDir, "teleread")
	e.logf("building ./cmd/teleread")
	build := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-o", e.bin, "./cmd/teleread")
	build.Dir = e.root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/teleread: %w\n%s", err, out)
	}

	suffix := randomHex(6)
	e.dbName = "teleread_bench_latency_" + suffix
	e.bucket = "bench-latency-" + suffix
	if e.dbURL, err = withDatabase(e.svc.databaseURL, e.dbName); err != nil {
		return err
	}
	if err := e.createDatabase(ctx); err != nil {
		return err
	}
	e.onCleanup(false, e.dropDatabase)
	e.onCleanup(false, func() error { return e.removeBucket(e.bucket) })

	e.logf("migrating database %s, bucket %s", e.dbName, e.bucket)
	if _, err := e.teleread(ctx, "migrate"); err != nil {
		return err
	}
	if err := e.seed(ctx); err != nil {
		return err
	}
	if e.pool, err = pgxpool.New(ctx, e.dbURL); err != nil {
		return fmt.Errorf("connect to %s: %w", e.dbName, err)
	}
	e.onCleanup(true, func() error { e.pool.Close(); return nil })

	e.rcv = newReceiver()
	if err := e.rcv.start(); err != nil {
		return err
	}
	e.onCleanup(true, e.rcv.stop)

	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * concurrency
	t.MaxIdleConnsPerHost = 4 * concurrency
	e.client = &http.Client{Transport: t, Timeout: time.Minute}
	if err := e.startServer(ctx); err != nil {
		return err
	}
	return e.configure(ctx)
}

// configure routes radiology to the demo radiology group (as the platform
// admin) and registers the receiver as the demo site's webhook (as its
// admin).
func (e *benchEnv) configure(ctx context.Context) error {
	rule := map[string]any{"name": "bench: all radiology", "specialty": "radiology",
		"reading_group_id": e.users.radGroupID, "is_default": true}
	if err := e.api(ctx, e.users.platformAdmin, http.MethodPost, "/routing-rules", rule, http.StatusCreated, nil); err != nil {
		return fmt.Errorf("routing rule: %w", err)
	}
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	body := map[string]any{"url": e.rcv.URL, "description": "bench latency receiver"}
	if err := e.api(ctx, e.users.siteAdmin, http.MethodPost, "/webhooks", body, http.StatusCreated, &hook); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if hook.Secret == "" {
		return errors.New("webhook: the answer carries no secret")
	}
	e.rcv.setSecret(hook.Secret)
	e.webhookID = hook.ID
	return nil
}

// onCleanup registers f to run at cleanup; with -keep only always-steps run.
func (e *benchEnv) onCleanup(always bool, f func() error) {
	if e.keep && !always {
		return
	}
	e.undo = append(e.undo, f)
}

// cleanup runs the registered steps in reverse order and returns the first
// error; every step runs whatever the others do.
func (e *benchEnv) cleanup() error {
	var first error
	for i := len(e.undo) - 1; i >= 0; i-- {
		if err := e.undo[i](); err != nil {
			e.logf("cleanup: %v", err)
			if first == nil {
				first = err
			}
		}
	}
	e.undo = nil
	if e.keep && e.dbName != "" {
		e.logf("kept (-keep): database %s, bucket %s, binary and server log in %s", e.dbName, e.bucket, e.tmpDir)
	}
	return first
}

func (e *benchEnv) createDatabase(ctx context.Context) error {
	admin, err := e.svc.connectAdmin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+e.dbName); err != nil {
		return fmt.Errorf("create database %s: %w", e.dbName, err)
	}
	return nil
}

func (e *benchEnv) dropDatabase() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := e.svc.connectAdmin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+e.dbName+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", e.dbName, err)
	}
	return nil
}

// removeBucket deletes every object of bucket, then the bucket; a missing
// bucket is not an error.
func (e *benchEnv) removeBucket(bucket string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ok, err := e.mc.BucketExists(ctx, bucket)
	if err != nil || !ok {
		return err
	}
	objects := e.mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true})
	for res := range e.mc.RemoveObjects(ctx, bucket, objects, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return fmt.Errorf("empty bucket %s: %w", bucket, res.Err)
		}
	}
	if err := e.mc.RemoveBucket(ctx, bucket); err != nil {
		return fmt.Errorf("remove bucket %s: %w", bucket, err)
	}
	return nil
}

// serverEnv is the environment of every teleread process: this process's
// environment without TELEREAD_*, then the benchmark's database and bucket.
func (e *benchEnv) serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TELEREAD_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"TELEREAD_DATABASE_URL="+e.dbURL,
		"TELEREAD_S3_ENDPOINT="+e.svc.s3Endpoint,
		"TELEREAD_S3_ACCESS_KEY="+e.svc.s3Access,
		"TELEREAD_S3_SECRET_KEY="+e.svc.s3Secret,
		fmt.Sprintf("TELEREAD_S3_USE_TLS=%t", e.svc.s3TLS),
		"TELEREAD_S3_REGION="+e.svc.s3Region,
		"TELEREAD_S3_BUCKET="+e.bucket,
		"TELEREAD_LISTEN=127.0.0.1:0",
		"TELEREAD_RATE_LIMIT_PER_MINUTE=0",
		"TELEREAD_WEBHOOK_ALLOW_PRIVATE=true",
		fmt.Sprintf("TELEREAD_WORKER_CONCURRENCY=%d", e.workers),
		"TELEREAD_LOG_LEVEL=warn",
	)
}

// teleread runs a one-shot teleread subcommand and returns its stdout.
func (e *benchEnv) teleread(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = e.serverEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("teleread %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// seed creates the demo users and keeps the tokens and ids the phases use.
func (e *benchEnv) seed(ctx context.Context) error {
	out, err := e.teleread(ctx, "seed", "--demo")
	if err != nil {
		return err
	}
	var doc struct {
		Users []struct {
			Role   string `json:"role"`
			Token  string `json:"token"`
			Org    string `json:"org"`
			OrgID  string `json:"org_id"`
			UserID string `json:"user_id"`
		} `json:"users"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Errorf("teleread seed --demo: unexpected output: %w", err)
	}
	u := &e.users
	for _, d := range doc.Users {
		switch {
		case d.Role == "site_staff":
			u.staff, u.staffUserID, u.siteOrgID = d.Token, d.UserID, d.OrgID
		case d.Role == "referring_physician":
			u.gpUserID = d.UserID
		case d.Role == "org_admin" && d.Org == "demo-site":
			u.siteAdmin = d.Token
		case d.Role == "platform_admin":
			u.platformAdmin = d.Token
		case d.Role == "specialist" && d.Org == "demo-rad":
			u.specialist, u.specialistUserID, u.radGroupID = d.Token, d.UserID, d.OrgID
		}
	}
	if u.staff == "" || u.gpUserID == "" || u.siteAdmin == "" || u.platformAdmin == "" || u.specialist == "" {
		return errors.New("teleread seed --demo: its output lacks a site staff, referring physician, site admin, platform admin or demo-rad specialist")
	}
	return nil
}

// startServer starts `teleread serve` with its workers and waits until it
// is ready. The server is stopped at cleanup, -keep or not.
func (e *benchEnv) startServer(ctx context.Context) error {
	e.logPath = filepath.Join(e.tmpDir, "server.log")
	logFile, err := os.Create(e.logPath)
	if err != nil {
		return err
	}
	// Not CommandContext: on Ctrl-C the server gets a graceful SIGTERM at
	// cleanup, not a SIGKILL.
	cmd := exec.Command(e.bin, "serve")
	cmd.Env = e.serverEnv()
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
	e.server = cmd
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
	e.onCleanup(true, e.stopServer)

	select {
	case a := <-addr:
		e.baseURL = a
	case <-e.exited:
		return fmt.Errorf("teleread serve exited at start: %s\n%s", cmd.ProcessState, e.logTail())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("teleread serve did not print its address within 60s\n%s", e.logTail())
	case <-ctx.Done():
		return ctx.Err()
	}
	e.logf("server pid %d on %s (with %d River workers)", cmd.Process.Pid, e.baseURL, e.workers)
	return e.waitReady(ctx)
}

// waitReady polls /readyz until it answers 200.
func (e *benchEnv) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.baseURL+"/readyz", nil)
		resp, err := e.client.Do(req)
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
			return fmt.Errorf("teleread serve exited\n%s", e.logTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("teleread serve not ready after 30s: %s", last)
}

// stopServer sends SIGTERM and waits for a graceful exit, killing the
// server after 30 seconds.
func (e *benchEnv) stopServer() error {
	if e.server == nil {
		return nil
	}
	select {
	case <-e.exited:
		return nil
	default:
	}
	_ = e.server.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = e.server.Process.Kill()
		<-e.exited
		return errors.New("teleread serve did not stop within 30s of SIGTERM; killed")
	}
}

// sampleCPU samples the machine's CPU time, telling the benchmark's own
// processes apart.
func (e *benchEnv) sampleCPU() cpuSample {
	pid := 0
	if e.server != nil {
		pid = e.server.Process.Pid
	}
	return sampleCPU(pid, e.dbName)
}

// logTail returns the end of the server's log, for error messages.
func (e *benchEnv) logTail() string {
	b, _ := os.ReadFile(e.logPath)
	if len(b) > 4<<10 {
		b = b[len(b)-4<<10:]
	}
	return "server log (" + e.logPath + "):\n" + string(b)
}

// api sends a request with token (JSON when body is not nil) and decodes a
// JSON answer into out (when not nil); any status but want is an error.
func (e *benchEnv) api(ctx context.Context, token, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.baseURL+"/api/v1"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.send(req, token, want, out)
}

// send sends req with token and decodes the answer into out.
func (e *benchEnv) send(req *http.Request, token string, want int, out any) error {
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: answer: %w: %.300s", req.Method, req.URL.Path, err, b)
	}
	return nil
}
