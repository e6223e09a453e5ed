//go:build faults

package scaleout_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/testenv"
)

// binary is the teleread binary TestMain builds.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "teleread-scaleout-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		return 1
	}
	binary = filepath.Join(dir, "teleread")
	build := exec.Command("go", "build", "-o", binary, "./cmd/teleread")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "scaleout: go build ./cmd/teleread: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// cluster is the system under test: two API servers without workers, two
// workers, one PostgreSQL and one erasure-coded MinIO, and a round-robin
// proxy in front of the servers.
type cluster struct {
	stack   *testenv.Stack
	pool    *pgxpool.Pool
	proxy   *httptest.Server
	servers []string          // the API servers' URLs
	hits    []atomic.Int64    // requests the proxy sent to each server
	procs   []*proc           // every teleread process
	users   map[string]seeded // the demo users by e-mail
	// workersUp is when both workers had started.
	workersUp time.Time
	env       map[string]string
}

// seeded is one user `teleread seed --demo` printed.
type seeded struct {
	Role     string `json:"role"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Token    string `json:"token"`
	Org      string `json:"org"`
	OrgID    string `json:"org_id"`
	UserID   string `json:"user_id"`
}

// proc is one teleread child process, its log in a file.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{} // closed when it has exited, err then set
	err    error
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// serverEnv are the settings of every process: sign-in and token
// creation rates high enough for the test's set-up (the sign-in lockout,
// in PostgreSQL, is what is tested), and a search rate small enough to
// count.
var serverEnv = map[string]string{
	"TELEREAD_LISTEN":                 "127.0.0.1:0",
	"TELEREAD_LOG_LEVEL":              "warn",
	"TELEREAD_AUTH_RATE_PER_MINUTE":   "6000",
	"TELEREAD_AUTH_RATE_BURST":        "1000",
	"TELEREAD_SEARCH_RATE_PER_MINUTE": "6",
	"TELEREAD_SEARCH_RATE_BURST":      strconv.Itoa(searchBurst),
	"TELEREAD_WORKER_CONCURRENCY":     "4",
	"TELEREAD_WEBHOOK_ALLOW_PRIVATE":  "true",
	"TELEREAD_SHUTDOWN_TIMEOUT":       "10s",
	"TELEREAD_UPLOADS_PER_ORG":        "64",
	"TELEREAD_PUBLIC_URL":             "", // set to the proxy's
}

// searchBurst is each server's burst of searches per credential.
const searchBurst = 10

// startCluster starts the stack, migrates and seeds it, and starts the
// processes and the proxy.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	ctx := context.Background()
	c := &cluster{stack: testenv.NewStack(t, testenv.StackOptions{MinIODrives: 4}), users: map[string]seeded{}}
	if c.stack.Env["TELEREAD_DATABASE_URL"] == os.Getenv("TELEREAD_DATABASE_URL") {
		t.Fatal("the private stack uses the shared database")
	}

	// The proxy first, so that every server's public URL is its address.
	c.hits = make([]atomic.Int64, 2)
	var next atomic.Uint64
	var targets atomic.Pointer[[]*url.URL]
	c.proxy = httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			ts := *targets.Load()
			i := int(next.Add(1)-1) % len(ts)
			c.hits[i].Add(1)
			r.SetURL(ts[i])
			r.Out.Host = r.In.Host
		},
	})
	t.Cleanup(c.proxy.Close)
	c.env = map[string]string{}
	for k, v := range serverEnv {
		c.env[k] = v
	}
	c.env["TELEREAD_PUBLIC_URL"] = c.proxy.URL

	out := c.run(t, "migrate")
	t.Logf("migrate: %s", strings.TrimSpace(out))
	var seed struct {
		Users []seeded `json:"users"`
	}
	require.NoError(t, json.Unmarshal([]byte(c.run(t, "seed", "--demo")), &seed))
	for _, u := range seed.Users {
		c.users[u.Email] = u
	}

	pool, err := pgxpool.New(ctx, c.stack.Env["TELEREAD_DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c.pool = pool

	var urls []*url.URL
	for i := range 2 {
		p, addr := c.start(t, fmt.Sprintf("serve-%d", i+1), "serve", "--workers=false")
		c.procs = append(c.procs, p)
		u, err := url.Parse(addr)
		require.NoError(t, err)
		urls = append(urls, u)
		c.servers = append(c.servers, addr)
	}
	targets.Store(&urls)
	for i := range 2 {
		p, _ := c.start(t, fmt.Sprintf("worker-%d", i+1), "worker")
		c.procs = append(c.procs, p)
	}
	// A worker runs when River has elected a leader among them; both
	// must still be running a moment later.
	require.Eventually(t, func() bool {
		var n int
		err := c.pool.QueryRow(ctx, `SELECT count(*) FROM river_leader`).Scan(&n)
		return err == nil && n == 1
	}, 60*time.Second, 200*time.Millisecond, "no River leader was elected:\n%s", c.logs())
	time.Sleep(2 * time.Second)
	for _, p := range c.procs {
		if !p.running() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, c.logs())
		}
	}
	c.workersUp = time.Now()
	for _, s := range c.servers {
		require.Eventually(t, func() bool {
			resp, err := http.Get(s + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 60*time.Second, 200*time.Millisecond, "%s not ready:\n%s", s, c.logs())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process logs:\n%s", c.logs())
		}
	})
	return c
}

// run runs a one-shot teleread subcommand against the stack.
func (c *cluster) run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = c.stack.Environ(c.env)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "teleread %s: %s", strings.Join(args, " "), stderr.String())
	return string(out)
}

// start starts a long-running teleread process; for serve it waits for
// the address it listens on.
func (c *cluster) start(t *testing.T, name string, args ...string) (*proc, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(binary, args...)
	cmd.Env = c.stack.Environ(c.env)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &proc{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "teleread listening on "); ok {
				addr <- rest
			}
		}
		p.err = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	if args[0] != "serve" {
		return p, ""
	}
	select {
	case a := <-addr:
		return p, a
	case <-p.exited:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%s exited before listening: %v\n%s", name, p.err, b)
	case <-time.After(60 * time.Second):
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%s did not listen within 60 s\n%s", name, b)
	}
	return nil, ""
}

// stop ends the process with SIGTERM (SIGKILL after 20 s). Calling it
// again does nothing.
func (p *proc) stop(t *testing.T) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Logf("%s stopped: %v", p.name, p.err)
		}
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s did not stop within 20 s of SIGTERM", p.name)
	}
}

// logs returns the last lines of every process's log.
func (c *cluster) logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		data, _ := os.ReadFile(p.log)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", p.name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// call sends a JSON request through the proxy with token and returns the
// status and body.
func (c *cluster) call(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, c.proxy.URL+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// must sends a JSON request and decodes the answer into out, failing
// unless the status is want.
func (c *cluster) must(t *testing.T, token, method, path string, body any, want int, out any) {
	t.Helper()
	status, b := c.call(t, token, method, path, body)
	require.Equal(t, want, status, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), "%s %s: %s", method, path, b)
	}
}
