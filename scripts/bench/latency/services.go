package main

// The services helpers follow scripts/bench/ingest/services.go; the two
// benchmarks are separate main packages, so each has its copy.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const servicesHint = "run `make bench-latency`, or eval \"$(scripts/services.sh env)\" first"

// services is where the local PostgreSQL and MinIO are, from the
// TELEREAD_* environment that scripts/services.sh prints.
type services struct {
	databaseURL string
	s3Endpoint  string
	s3Access    string
	s3Secret    string
	s3TLS       bool
	s3Region    string
}

func loadServices(getenv func(string) string) (services, error) {
	s := services{
		databaseURL: getenv("TELEREAD_DATABASE_URL"),
		s3Endpoint:  getenv("TELEREAD_S3_ENDPOINT"),
		s3Access:    getenv("TELEREAD_S3_ACCESS_KEY"),
		s3Secret:    getenv("TELEREAD_S3_SECRET_KEY"),
		s3Region:    getenv("TELEREAD_S3_REGION"),
	}
	var missing []string
	for k, v := range map[string]string{
		"TELEREAD_DATABASE_URL": s.databaseURL, "TELEREAD_S3_ENDPOINT": s.s3Endpoint,
		"TELEREAD_S3_ACCESS_KEY": s.s3Access, "TELEREAD_S3_SECRET_KEY": s.s3Secret,
	} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		return s, fmt.Errorf("%s not set; the benchmark needs the real PostgreSQL and MinIO: %s", strings.Join(missing, ", "), servicesHint)
	}
	if v := getenv("TELEREAD_S3_USE_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("TELEREAD_S3_USE_TLS=%q is not a boolean", v)
		}
		s.s3TLS = b
	}
	if s.s3Region == "" {
		s.s3Region = "us-east-1"
	}
	return s, nil
}

// connectAdmin connects to the services' own database, to create and drop
// the benchmark's.
func (s services) connectAdmin(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, s.databaseURL)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s does not answer (%w): %s", redactURL(s.databaseURL), err, servicesHint)
	}
	return c, nil
}

// minioClient returns a client for the services' MinIO after checking that
// it answers.
func (s services) minioClient(ctx context.Context) (*minio.Client, error) {
	mc, err := minio.New(s.s3Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.s3Access, s.s3Secret, ""),
		Secure: s.s3TLS,
		Region: s.s3Region,
	})
	if err != nil {
		return nil, fmt.Errorf("MinIO client for %s: %w", s.s3Endpoint, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := mc.ListBuckets(cctx); err != nil {
		return nil, fmt.Errorf("MinIO at %s does not answer (%w): %s", s.s3Endpoint, err, servicesHint)
	}
	return mc, nil
}

// withDatabase returns the URL raw pointing at database db.
func withDatabase(raw, db string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("TELEREAD_DATABASE_URL is not a URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// moduleRoot returns the directory of Teleread's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == "/dev/null" {
		return "", errors.New("not inside the teleread module: run from the repository (make bench-latency)")
	}
	return filepath.Dir(mod), nil
}

// goTool returns the go command: from PATH, else the standard install.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}
