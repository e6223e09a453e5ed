// Package testenv gives tests a fresh PostgreSQL database, cloned from a
// migrated template, and a fresh bucket, on the real services that
// scripts/services.sh starts. A test that needs them calls New; nothing here
// is a mock.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/config"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/migrations"
)

// Env is one test's database and bucket.
type Env struct {
	// Pool is connected to the test's own database.
	Pool *pgxpool.Pool
	// DatabaseURL points at the test's own database.
	DatabaseURL string
	// Blob is the test's own bucket.
	Blob *blob.Store
	// Config is a valid configuration for this database and bucket.
	Config config.Config
	vars   map[string]string
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// New returns a fresh database and bucket, removed when the test ends. It
// fails the test, with instructions, when the services are not running;
// under CI=true that is a failure of the run, never a skip.
func New(t testing.TB) *Env {
	t.Helper()
	return newEnv(t, true)
}

// NewUnmigrated is New with an empty database, for tests of migrations.
func NewUnmigrated(t testing.TB) *Env {
	t.Helper()
	return newEnv(t, false)
}

func newEnv(t testing.TB, migrated bool) *Env {
	t.Helper()
	base := baseVars(t)
	ctx := context.Background()

	create := "CREATE DATABASE %s"
	if migrated {
		templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, base["TELEREAD_DATABASE_URL"]) })
		if templateErr != nil {
			t.Fatalf("testenv: prepare template database: %v", templateErr)
		}
		create += " TEMPLATE " + templateName
	}

	name := "teleread_test_" + randomHex(8)
	admin, err := pgx.Connect(ctx, base["TELEREAD_DATABASE_URL"])
	if err != nil {
		t.Fatalf("testenv: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, fmt.Sprintf(create, name)); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	dbURL := withDatabase(base["TELEREAD_DATABASE_URL"], name)
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("testenv: open test database: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), base["TELEREAD_DATABASE_URL"])
		if err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
		}
	})

	vars := map[string]string{}
	for k, v := range base {
		vars[k] = v
	}
	vars["TELEREAD_DATABASE_URL"] = dbURL
	vars["TELEREAD_S3_BUCKET"] = "test-" + randomHex(10)
	vars["TELEREAD_LISTEN"] = "127.0.0.1:0"
	vars["TELEREAD_LOG_LEVEL"] = "warn"
	// A fresh key per test: webhook secrets are sealed at rest under it.
	vars["TELEREAD_SECRET_KEY"] = base64.StdEncoding.EncodeToString([]byte(randomHex(16)))
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("testenv: config: %v", err)
	}
	store, err := blob.New(blob.Config{Endpoint: cfg.S3.Endpoint, AccessKey: cfg.S3.AccessKey,
		SecretKey: cfg.S3.SecretKey, Bucket: cfg.S3.Bucket, UseTLS: cfg.S3.UseTLS, Region: cfg.S3.Region})
	if err != nil {
		t.Fatalf("testenv: blob store: %v", err)
	}
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatalf("testenv: create bucket (is MinIO running? run `make test` or `scripts/services.sh up`): %v", err)
	}
	t.Cleanup(func() {
		if err := store.RemoveBucket(context.Background()); err != nil {
			t.Logf("testenv: remove bucket: %v", err)
		}
	})
	return &Env{Pool: pool, DatabaseURL: dbURL, Blob: store, Config: cfg, vars: vars}
}

// Getenv returns a getenv function for app.Run that points at this Env's
// database and bucket, with overrides on top.
func (e *Env) Getenv(overrides map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		return e.vars[k]
	}
}

// Logger returns a logger that writes to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

var serviceVars = []string{
	"TELEREAD_DATABASE_URL", "TELEREAD_S3_ENDPOINT", "TELEREAD_S3_ACCESS_KEY",
	"TELEREAD_S3_SECRET_KEY", "TELEREAD_S3_USE_TLS", "TELEREAD_S3_REGION",
}

// baseVars reads the services' environment and fails the test, saying what
// to do, when it is missing or the services do not answer.
func baseVars(t testing.TB) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, k := range serviceVars {
		vars[k] = os.Getenv(k)
	}
	hint := "run `make test`, or `eval \"$(scripts/services.sh up)\"` and then go test"
	if os.Getenv("CI") == "true" {
		hint = "CI=true: a missing service fails the run; .ci/run must start them with scripts/services.sh"
	}
	for _, k := range []string{"TELEREAD_DATABASE_URL", "TELEREAD_S3_ENDPOINT", "TELEREAD_S3_ACCESS_KEY", "TELEREAD_S3_SECRET_KEY"} {
		if vars[k] == "" {
			t.Fatalf("testenv: %s is not set; the tests need the real PostgreSQL and MinIO: %s", k, hint)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, vars["TELEREAD_DATABASE_URL"])
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s does not answer (%v): %s", config.RedactURL(vars["TELEREAD_DATABASE_URL"]), err, hint)
	}
	c.Close(ctx)
	return vars
}

// ensureTemplate creates, once per schema version, a migrated database that
// every test database is cloned from. Test binaries of several packages run
// at once, so the work happens under an advisory lock.
func ensureTemplate(ctx context.Context, adminURL string) (string, error) {
	sum, err := schemaHash()
	if err != nil {
		return "", err
	}
	name := "teleread_tpl_" + sum[:16]
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7413001)"); err != nil {
		return "", err
	}
	defer admin.Exec(ctx, "SELECT pg_advisory_unlock(7413001)") //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building)); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s", building)); err != nil {
		return "", err
	}
	pool, err := postgres.Open(ctx, withDatabase(adminURL, building))
	if err != nil {
		return "", err
	}
	_, err = postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	return name, nil
}

// schemaHash identifies the migrations, so a changed migration gets a new
// template.
func schemaHash() (string, error) {
	h := sha256.New()
	// River's migrations come with its version.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/riverqueue/river" {
				fmt.Fprintf(h, "river %s\x00", m.Version)
			}
		}
	}
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
