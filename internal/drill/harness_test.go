//go:build drill

package drill_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/testenv"
)

// flagCases is how many cases TestDrill drives (make drill DRILLFLAGS="-cases N").
var flagCases = flag.Int("cases", 1000, "cases the clinical-loop drill drives through the loop")

// binary is the teleread binary TestMain builds; root is the repository.
var binary, root string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "teleread-drill-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if root, err = testenv.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binary = filepath.Join(dir, "teleread")
	build := exec.Command("go", "build", "-o", binary, "./cmd/teleread")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build teleread:", err)
		return 1
	}
	return m.Run()
}

// rig is a private stack, migrated and seeded with the demo organisations
// by the teleread binary, with a pool and a blob store of the test's own to
// look at the state the processes leave.
type rig struct {
	stack  *testenv.Stack
	vars   map[string]string // what every teleread process of the rig gets
	pool   *pgxpool.Pool
	store  *blob.Store
	tokens map[string]string // demo user e-mail → token
	users  map[string]string // demo user e-mail → user id
	orgs   map[string]string // demo org slug → org id
	logDir string
}

// The demo users the drills act as.
const (
	staffEmail = "staff@demo-site.example"
	gpEmail    = "gp@demo-site.example"
	adminEmail = "admin@demo-site.example"
	radEmail   = "rad@demo-rad.example"
	dermEmail  = "derm@demo-derm.example"
)

func newRig(t *testing.T, bucket string) *rig {
	t.Helper()
	ctx := context.Background()
	st := testenv.NewStack(t, testenv.StackOptions{})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	r := &rig{stack: st, vars: map[string]string{
		"TELEREAD_S3_BUCKET":             bucket,
		"TELEREAD_LOG_LEVEL":             "warn",
		"TELEREAD_SECRET_KEY":            base64.StdEncoding.EncodeToString(key),
		"TELEREAD_WEBHOOK_ALLOW_PRIVATE": "true",
		"TELEREAD_SHUTDOWN_TIMEOUT":      "5s",
		"TELEREAD_WORKER_CONCURRENCY":    "16",
	}, tokens: map[string]string{}, users: map[string]string{}, orgs: map[string]string{}, logDir: t.TempDir()}
	out, err := r.run(ctx, "migrate")
	require.NoError(t, err, out)
	out, err = r.run(ctx, "seed", "--demo")
	require.NoError(t, err, out)
	var doc struct {
		Users []struct {
			Email, Token, Org string
			OrgID             string `json:"org_id"`
			UserID            string `json:"user_id"`
		} `json:"users"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	for _, u := range doc.Users {
		r.tokens[u.Email], r.users[u.Email], r.orgs[u.Org] = u.Token, u.UserID, u.OrgID
	}
	require.NotEmpty(t, r.tokens[staffEmail], out)
	r.pool, err = postgres.Open(ctx, st.Env["TELEREAD_DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(r.pool.Close)
	r.store, err = blob.New(blob.Config{Endpoint: st.Env["TELEREAD_S3_ENDPOINT"], AccessKey: st.Env["TELEREAD_S3_ACCESS_KEY"],
		SecretKey: st.Env["TELEREAD_S3_SECRET_KEY"], Bucket: bucket})
	require.NoError(t, err)
	return r
}

// run runs `teleread args...` against the rig to its end and returns its
// standard output (standard error too, on failure).
func (r *rig) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = r.stack.Environ(r.vars)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("teleread %v: %w", args, err)
	}
	return stdout.String(), nil
}

// logFile opens (appending) the log file of one process slot.
func (r *rig) logFile(name string) (io.WriteCloser, error) {
	return os.OpenFile(filepath.Join(r.logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}
