package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/migrations"
)

// server is a running `teleread serve` started through app.Run.
type server struct {
	URL    string
	stderr *syncBuffer
	srv    *testenv.Server
}

// startServe runs `teleread serve` with getenv on a free port and waits for
// it to print its address.
func startServe(t *testing.T, getenv func(string) string, args ...string) *server {
	t.Helper()
	s := &server{stderr: &syncBuffer{}}
	s.srv = testenv.Serve(t, app.Run, getenv, s.stderr, append([]string{"serve"}, args...)...)
	s.URL = s.srv.URL
	return s
}

func (s *server) stop(t *testing.T) { s.srv.Stop(t) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type readyAnswer struct {
	Status string   `json:"status"`
	Failed []string `json:"failed"`
	Checks map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
}

func getReady(t *testing.T, base string) (int, readyAnswer) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var a readyAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	return resp.StatusCode, a
}

func TestServeReadyAndMetrics(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	srv := startServe(t, env.Getenv(map[string]string{"TELEREAD_LOG_LEVEL": "info"}))

	resp, err := http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, resp.Header.Get("X-Request-Id"), 24)

	status, ready := getReady(t, srv.URL)
	require.Equal(t, http.StatusOK, status, "%+v", ready)
	require.Equal(t, "ok", ready.Status)
	for _, name := range []string{"postgres", "object_storage", "river"} {
		require.Equal(t, "ok", ready.Checks[name].Status, name)
	}

	// An unknown route is a problem document, and the request id comes back.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/nothing-here", nil)
	req.Header.Set("X-Request-Id", "test-request-0001")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.Equal(t, "test-request-0001", resp.Header.Get("X-Request-Id"))
	require.Contains(t, string(body), `"request_id":"test-request-0001"`)

	resp, err = http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(metrics), `teleread_http_requests_total{method="GET",route="/readyz",status="200"} 1`)
	require.Contains(t, string(metrics), `teleread_http_request_duration_seconds_bucket`)
	require.Contains(t, string(metrics), `teleread_river_jobs_scrape_error 0`)
	// The periodic sweep runs on start, so River has at least one job.
	require.Eventually(t, func() bool {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `teleread_river_jobs{kind="sweep"`)
	}, 10*time.Second, 100*time.Millisecond)

	// Every log line of a request carries its id, in JSON.
	srv.stop(t)
	var sawRequest bool
	for _, line := range strings.Split(strings.TrimSpace(srv.stderr.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "%q", line)
		if rec["msg"] == "http request" {
			require.NotEmpty(t, rec["request_id"], line)
			sawRequest = true
		}
	}
	require.True(t, sawRequest)
}

// TestReadyzNamesFailedDependency cuts the network to PostgreSQL, then to
// MinIO, and checks that /readyz answers 503 naming the one that failed and
// recovers when it is back.
func TestReadyzNamesFailedDependency(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	dbURL, err := url.Parse(env.DatabaseURL)
	require.NoError(t, err)
	pgProxy := testenv.NewProxy(t, dbURL.Host)
	dbURL.Host = pgProxy.Addr()
	s3Proxy := testenv.NewProxy(t, env.Config.S3.Endpoint)
	srv := startServe(t, env.Getenv(map[string]string{
		"TELEREAD_DATABASE_URL": dbURL.String(),
		"TELEREAD_S3_ENDPOINT":  s3Proxy.Addr(),
	}), "--workers=false")

	status, _ := getReady(t, srv.URL)
	require.Equal(t, http.StatusOK, status)

	pgProxy.Cut()
	status, ready := getReady(t, srv.URL)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "unavailable", ready.Status)
	require.Contains(t, ready.Failed, "postgres")
	require.NotContains(t, ready.Failed, "object_storage")
	require.NotEmpty(t, ready.Checks["postgres"].Error)

	pgProxy.Restore()
	require.Eventually(t, func() bool { s, _ := getReady(t, srv.URL); return s == http.StatusOK },
		15*time.Second, 200*time.Millisecond)

	s3Proxy.Cut()
	status, ready = getReady(t, srv.URL)
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, []string{"object_storage"}, ready.Failed)
	s3Proxy.Restore()
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	env := testenv.NewUnmigrated(t)
	getenv := env.Getenv(nil)

	// The server refuses to start on an unmigrated database.
	err := app.Run(context.Background(), []string{"serve"}, getenv, io.Discard, io.Discard, "test")
	require.ErrorContains(t, err, "run `teleread migrate`")

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = app.Run(context.Background(), []string{"migrate"}, getenv, io.Discard, io.Discard, "test")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var out bytes.Buffer
	require.NoError(t, app.Run(context.Background(), []string{"migrate"}, getenv, &out, io.Discard, "test"))
	require.Contains(t, out.String(), "(0 applied now, 0 River migrations)")
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	getenv := func(k string) string {
		return map[string]string{
			"TELEREAD_DATABASE_URL": "mysql://nope",
			"TELEREAD_S3_ENDPOINT":  "http://127.0.0.1:9000",
			"TELEREAD_LISTEN":       "nonsense",
		}[k]
	}
	err := app.Run(context.Background(), []string{"serve"}, getenv, io.Discard, io.Discard, "test")
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"TELEREAD_DATABASE_URL must be a URL like postgres://",
		"TELEREAD_S3_ENDPOINT must be host:port without a scheme",
		"TELEREAD_S3_ACCESS_KEY is required",
		"TELEREAD_S3_SECRET_KEY is required",
		"TELEREAD_LISTEN must be host:port",
	} {
		require.Contains(t, msg, want)
	}
	require.Equal(t, 1, app.ExitCode(err))

	err = app.Run(context.Background(), []string{"frobnicate"}, getenv, io.Discard, io.Discard, "test")
	require.Equal(t, 2, app.ExitCode(err))
}

// TestMigrateOutOfOrder: a migration that landed with a lower number than
// ones a database already has (work merged in parallel) is applied.
func TestMigrateOutOfOrder(t *testing.T) {
	t.Parallel()
	env := testenv.NewUnmigrated(t)
	getenv := env.Getenv(nil)
	require.NoError(t, app.Run(context.Background(), []string{"migrate"}, getenv, io.Discard, io.Discard, "test"))
	ctx := context.Background()
	// As if 00014 had not been there when this database was migrated:
	// its Down section undone, its version forgotten.
	src, err := migrations.FS.ReadFile("00014_qido_indexes.sql")
	require.NoError(t, err)
	down := strings.SplitN(string(src), "-- +goose Down", 2)
	require.Len(t, down, 2)
	_, err = env.Pool.Exec(ctx, down[1])
	require.NoError(t, err)
	_, err = env.Pool.Exec(ctx, `DELETE FROM goose_db_version WHERE version_id = 14`)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, app.Run(ctx, []string{"migrate"}, getenv, &out, io.Discard, "test"))
	require.Contains(t, out.String(), "(1 applied now")
	var n int
	require.NoError(t, env.Pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id = 14`).Scan(&n))
	require.Equal(t, 1, n)
}
