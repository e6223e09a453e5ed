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

	"github.com/minio/minio-go/v7"
)

// benchEnv is what the benchmark sets up: a fresh database and bucket, a
// running server on them, a raw bucket, demo users and one case per study.
// cleanup undoes it in reverse order.
type benchEnv struct {
	svc  services
	root string
	logf func(string, ...any)
	keep bool

	mc        *minio.Client
	dbName    string
	dbURL     string
	bucket    string // the server's bucket
	rawBucket string // the raw floor's bucket
	tmpDir    string
	bin       string
	logPath   string

	server  *exec.Cmd
	exited  chan struct{} // closed when the server process has exited
	baseURL string

	staffToken string
	gpUserID   string
	caseIDs    []string // one per study
	warmCaseID string

	undo []func() error
}

// setUp makes everything the phases need.
func (e *benchEnv) setUp(ctx context.Context, opts options, set *instanceSet) error {
	var err error
	if e.mc, err = e.svc.minioClient(ctx); err != nil {
		return err
	}
	admin, err := e.svc.connectAdmin(ctx)
	if err != nil {
		return err
	}
	admin.Close(ctx)

	suffix := randomHex(6)
	e.rawBucket = "bench-raw-" + suffix
	e.onCleanup(false, func() error { return e.removeBucket(e.rawBucket) })
	if err := e.mc.MakeBucket(ctx, e.rawBucket, minio.MakeBucketOptions{Region: e.svc.s3Region}); err != nil {
		return fmt.Errorf("create bucket %s: %w", e.rawBucket, err)
	}
	if !strings.Contains(opts.order, "a") {
		return nil // the raw floor alone needs no server
	}

	if e.tmpDir, err = os.MkdirTemp("", "teleread-bench-"); err != nil {
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

	e.dbName = "teleread_bench_" + suffix
	e.bucket = "bench-" + suffix
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
	if err := e.startServer(ctx, opts.workers); err != nil {
		return err
	}
	return e.createCases(ctx, set)
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
	if e.keep && e.rawBucket != "" {
		e.logf("kept (-keep): raw bucket %s", e.rawBucket)
		if e.dbName != "" {
			e.logf("kept (-keep): database %s, bucket %s, binary and server log in %s", e.dbName, e.bucket, e.tmpDir)
		}
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

// seed creates the demo users and keeps the site staff token and the
// referring physician.
func (e *benchEnv) seed(ctx context.Context) error {
	out, err := e.teleread(ctx, "seed", "--demo")
	if err != nil {
		return err
	}
	var doc struct {
		Users []struct {
			Role   string `json:"role"`
			Token  string `json:"token"`
			UserID string `json:"user_id"`
		} `json:"users"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Errorf("teleread seed --demo: unexpected output: %w", err)
	}
	for _, u := range doc.Users {
		switch u.Role {
		case "site_staff":
			e.staffToken = u.Token
		case "referring_physician":
			e.gpUserID = u.UserID
		}
	}
	if e.staffToken == "" || e.gpUserID == "" {
		return errors.New("teleread seed --demo: no site_staff token or referring_physician user in its output")
	}
	return nil
}

// startServer starts `teleread serve` and waits until it is ready. The
// server is stopped at cleanup, -keep or not.
func (e *benchEnv) startServer(ctx context.Context, workers bool) error {
	e.logPath = filepath.Join(e.tmpDir, "server.log")
	logFile, err := os.Create(e.logPath)
	if err != nil {
		return err
	}
	// Not CommandContext: on Ctrl-C the server gets a graceful SIGTERM at
	// cleanup, not a SIGKILL.
	cmd := exec.Command(e.bin, "serve", fmt.Sprintf("--workers=%t", workers))
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
	e.logf("server pid %d on %s (workers %t)", cmd.Process.Pid, e.baseURL, workers)
	return e.waitReady(ctx)
}

// waitReady polls /readyz until it answers 200.
func (e *benchEnv) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.baseURL+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
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

// logTail returns the end of the server's log, for error messages.
func (e *benchEnv) logTail() string {
	b, _ := os.ReadFile(e.logPath)
	if len(b) > 4<<10 {
		b = b[len(b)-4<<10:]
	}
	return "server log (" + e.logPath + "):\n" + string(b)
}

// createCases creates one radiology case per study, and one for warm-up.
func (e *benchEnv) createCases(ctx context.Context, set *instanceSet) error {
	for i := range set.studies + 1 {
		body, _ := json.Marshal(map[string]any{
			"referring_physician_id": e.gpUserID,
			"specialty":              "radiology",
			"priority":               "routine",
			"patient": map[string]string{
				"name": set.patientName, "birth_date": "1970-01-01", "sex": "F", "mrn": set.patientID,
			},
			"clinical_question": fmt.Sprintf("Ingest benchmark study %d", i+1),
		})
		var out struct {
			ID string `json:"id"`
		}
		if err := e.apiJSON(ctx, http.MethodPost, "/api/v1/cases", body, http.StatusCreated, &out); err != nil {
			return fmt.Errorf("create case: %w", err)
		}
		if i == set.studies {
			e.warmCaseID = out.ID
		} else {
			e.caseIDs = append(e.caseIDs, out.ID)
		}
	}
	return nil
}

// apiJSON sends a JSON request as site staff and decodes the answer.
func (e *benchEnv) apiJSON(ctx context.Context, method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, e.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.staffToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}
