package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Stack is a private PostgreSQL and MinIO, started by scripts/services.sh in
// a temporary data folder on ports of its own, for the tests that stop,
// break or wipe the services (fault drills, the clinical-loop drill,
// scale-out, backup and restore). The shared services the other tests use
// are never touched. The stack is stopped and deleted when the test ends.
type Stack struct {
	// Dir is the stack's data folder (TELEREAD_DATA_DIR).
	Dir string
	// Env holds the TELEREAD_* variables `services.sh up` printed.
	Env    map[string]string
	script string
	extra  []string
}

// StackOptions says what to start.
type StackOptions struct {
	// MinIODrives > 1 runs MinIO in erasure-coded mode on that many drives
	// (Dir/minio/d1 ... dN).
	MinIODrives int
	// DurablePostgres starts PostgreSQL with fsync and synchronous_commit on.
	DurablePostgres bool
}

// NewStack starts a private stack. Like New, it fails the test (never
// skips) when the services cannot be started.
func NewStack(t testing.TB, opts StackOptions) *Stack {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "teleread-stack-")
	if err != nil {
		t.Fatal(err)
	}
	// The postgres OS user (services.sh runs PostgreSQL as it when root)
	// must reach the folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	// Below the kernel's ephemeral range (32768 on), so that outgoing
	// connections are never given these ports while the stack starts.
	base := 20000 + int(binary.BigEndian.Uint16(b[:])%1200)*10
	s := &Stack{
		Dir:    dir,
		script: filepath.Join(root, "scripts", "services.sh"),
		extra: []string{
			"TELEREAD_DATA_DIR=" + dir,
			fmt.Sprintf("TELEREAD_PG_PORT_FIRST=%d", base),
			fmt.Sprintf("TELEREAD_MINIO_PORT_FIRST=%d", base+5),
		},
	}
	if opts.MinIODrives > 1 {
		s.extra = append(s.extra, fmt.Sprintf("TELEREAD_MINIO_DRIVES=%d", opts.MinIODrives))
	}
	if opts.DurablePostgres {
		s.extra = append(s.extra, "TELEREAD_PG_DURABLE=1")
	}
	t.Cleanup(func() {
		if _, err := s.run("reset"); err != nil {
			t.Errorf("stack reset: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	s.Up(t, "")
	return s
}

// Up starts the stack, or only "postgres" or "minio", and waits until it
// answers. Starting what already runs does nothing.
func (s *Stack) Up(t testing.TB, service string) {
	t.Helper()
	args := []string{"up"}
	if service != "" {
		args = append(args, service)
	}
	out, err := s.run(args...)
	if err != nil {
		t.Fatalf("services.sh %s: %v", strings.Join(args, " "), err)
	}
	env, err := parseExports(out)
	if err != nil {
		t.Fatal(err)
	}
	s.Env = env
}

// Down stops the stack, or only "postgres" or "minio". Its data stays.
func (s *Stack) Down(t testing.TB, service string) {
	t.Helper()
	args := []string{"down"}
	if service != "" {
		args = append(args, service)
	}
	if _, err := s.run(args...); err != nil {
		t.Fatalf("services.sh %s: %v", strings.Join(args, " "), err)
	}
}

// MinIODrive is the folder of drive i (1-based) of an erasure-coded stack.
func (s *Stack) MinIODrive(i int) string {
	return filepath.Join(s.Dir, "minio", fmt.Sprintf("d%d", i))
}

// Getenv returns a getenv function for app.Run pointing at the stack, with
// overrides on top; anything else comes from the process environment
// except the TELEREAD_* service variables of the shared stack.
func (s *Stack) Getenv(overrides map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := overrides[k]; ok {
			return v
		}
		if v, ok := s.Env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
}

// Environ is the process environment for a `teleread` child process
// pointing at the stack, with overrides on top.
func (s *Stack) Environ(overrides map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := s.Env[k]; ok {
			continue
		}
		if _, ok := overrides[k]; ok {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range s.Env {
		if _, ok := overrides[k]; !ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range overrides {
		env = append(env, k+"="+v)
	}
	return env
}

func (s *Stack) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{s.script}, args...)...)
	// The shared stack's variables would make services.sh treat it as an
	// external service and start nothing.
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TELEREAD_DATABASE_URL=") || strings.HasPrefix(kv, "TELEREAD_S3_") ||
			strings.HasPrefix(kv, "TELEREAD_SECRET_KEY=") || strings.HasPrefix(kv, "TELEREAD_DATA_DIR=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, s.extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, stderr.String())
	}
	return stdout.String(), nil
}

// parseExports reads the `export K='v'` lines services.sh prints.
func parseExports(out string) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
		}
		env[k] = v
	}
	if env["TELEREAD_DATABASE_URL"] == "" || env["TELEREAD_S3_ENDPOINT"] == "" {
		return nil, fmt.Errorf("services.sh printed no TELEREAD_DATABASE_URL or TELEREAD_S3_ENDPOINT:\n%s", out)
	}
	return env, nil
}

// RepoRoot is the folder holding go.mod, found upwards from the working
// directory (a package's folder under go test).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
