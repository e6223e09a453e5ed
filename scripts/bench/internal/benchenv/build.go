package benchenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build makes a temporary directory (named after pattern, as in
// os.MkdirTemp), removed at cleanup, and builds ./cmd/teleread into it.
func (e *Env) Build(ctx context.Context, pattern string) error {
	var err error
	if e.TmpDir, err = os.MkdirTemp("", pattern); err != nil {
		return err
	}
	e.OnCleanup(false, func() error { return os.RemoveAll(e.TmpDir) })
	e.Bin = filepath.Join(e.TmpDir, "teleread")
	e.Logf("building ./cmd/teleread")
	build := exec.CommandContext(ctx, GoTool(), "build", "-trimpath", "-o", e.Bin, "./cmd/teleread")
	build.Dir = e.Root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/teleread: %w\n%s", err, out)
	}
	return nil
}

// ServerEnv is the environment of every teleread process: this process's
// environment without TELEREAD_*, then the benchmark's database and
// bucket, then ExtraEnv.
func (e *Env) ServerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TELEREAD_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"TELEREAD_DATABASE_URL="+e.DBURL,
		"TELEREAD_S3_ENDPOINT="+e.Services.S3Endpoint,
		"TELEREAD_S3_ACCESS_KEY="+e.Services.S3AccessKey,
		"TELEREAD_S3_SECRET_KEY="+e.Services.S3SecretKey,
		fmt.Sprintf("TELEREAD_S3_USE_TLS=%t", e.Services.S3TLS),
		"TELEREAD_S3_REGION="+e.Services.S3Region,
		"TELEREAD_S3_BUCKET="+e.Bucket,
		"TELEREAD_LISTEN=127.0.0.1:0",
		"TELEREAD_LOG_LEVEL=warn",
		"TELEREAD_SECRET_KEY="+e.secret(),
	)
	return append(env, e.ExtraEnv...)
}

// secret is the key that encrypts webhook secrets at rest in the run's
// database: this process's TELEREAD_SECRET_KEY, else one made for the run.
func (e *Env) secret() string {
	if e.secretKey == "" {
		if e.secretKey = os.Getenv("TELEREAD_SECRET_KEY"); e.secretKey == "" {
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			e.secretKey = base64.StdEncoding.EncodeToString(b)
		}
	}
	return e.secretKey
}

// Teleread runs a one-shot teleread subcommand and returns its stdout.
func (e *Env) Teleread(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, e.Bin, args...)
	cmd.Env = e.ServerEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("teleread %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// DemoUser is one user that `teleread seed --demo` prints.
type DemoUser struct {
	Role   string `json:"role"`
	Token  string `json:"token"`
	UserID string `json:"user_id"`
	Org    string `json:"org"`
	OrgID  string `json:"org_id"`
}

// Seed creates the demo users and returns them.
func (e *Env) Seed(ctx context.Context) ([]DemoUser, error) {
	out, err := e.Teleread(ctx, "seed", "--demo")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Users []DemoUser `json:"users"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("teleread seed --demo: unexpected output: %w", err)
	}
	return doc.Users, nil
}
