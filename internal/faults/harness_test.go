//go:build faults

package faults_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/testenv"
)

// binary is the teleread binary TestMain builds for the drills that
// SIGKILL it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "teleread-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "teleread")
	build := exec.Command("go", "build", "-o", binary, "./cmd/teleread")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build teleread:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// drill is one drill's private stack, migrated and seeded with the demo
// organisations, with a pool and a blob store of its own to look at the
// state the server leaves.
type drill struct {
	stack *testenv.Stack
	// vars are the overrides every server of the drill gets.
	vars   map[string]string
	pool   *pgxpool.Pool
	store  *blob.Store
	tokens map[string]string // demo user e-mail → token
	users  map[string]string // demo user e-mail → user id
	orgs   map[string]string // demo org slug → org id
}

// newDrill starts a private stack, migrates it and seeds the demo.
func newDrill(t *testing.T, extra map[string]string) *drill {
	t.Helper()
	ctx := context.Background()
	st := testenv.NewStack(t, testenv.StackOptions{})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	d := &drill{stack: st, vars: map[string]string{
		"TELEREAD_S3_BUCKET":             "faults",
		"TELEREAD_LISTEN":                "127.0.0.1:0",
		"TELEREAD_LOG_LEVEL":             "warn",
		"TELEREAD_SECRET_KEY":            base64.StdEncoding.EncodeToString(key),
		"TELEREAD_WEBHOOK_ALLOW_PRIVATE": "true",
		"TELEREAD_RATE_LIMIT_PER_MINUTE": "100000",
		"TELEREAD_SHUTDOWN_TIMEOUT":      "5s",
	}, tokens: map[string]string{}, users: map[string]string{}, orgs: map[string]string{}}
	for k, v := range extra {
		d.vars[k] = v
	}
	var out bytes.Buffer
	require.NoError(t, app.Run(ctx, []string{"migrate"}, d.getenv(), &out, &out, "test"), out.String())
	out.Reset()
	require.NoError(t, app.Run(ctx, []string{"seed", "--demo"}, d.getenv(), &out, io.Discard, "test"))
	var doc struct {
		Users []struct {
			Email, Token, Org string
			OrgID             string `json:"org_id"`
			UserID            string `json:"user_id"`
		} `json:"users"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc), out.String())
	for _, u := range doc.Users {
		d.tokens[u.Email], d.users[u.Email], d.orgs[u.Org] = u.Token, u.UserID, u.OrgID
	}
	pool, err := postgres.Open(ctx, st.Env["TELEREAD_DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	d.pool = pool
	d.store, err = blob.New(blob.Config{Endpoint: st.Env["TELEREAD_S3_ENDPOINT"], AccessKey: st.Env["TELEREAD_S3_ACCESS_KEY"],
		SecretKey: st.Env["TELEREAD_S3_SECRET_KEY"], Bucket: d.vars["TELEREAD_S3_BUCKET"]})
	require.NoError(t, err)
	return d
}

func (d *drill) getenv() func(string) string { return d.stack.Getenv(d.vars) }

// The demo users the drills act as.
const (
	staffEmail = "staff@demo-site.example"
	gpEmail    = "gp@demo-site.example"
	adminEmail = "admin@demo-site.example"
	radEmail   = "rad@demo-rad.example"
)

// serve runs `teleread serve` in the test process until the test ends.
func (d *drill) serve(t *testing.T, log io.Writer) *testenv.Server {
	t.Helper()
	return testenv.Serve(t, app.Run, d.getenv(), log, "serve")
}

// proc is a `teleread serve` child process, to be SIGKILLed.
type proc struct {
	cmd  *exec.Cmd
	URL  string
	done chan error
}

// spawn starts the built binary as `teleread serve` and waits for its
// address.
func (d *drill) spawn(t *testing.T, log io.Writer) *proc {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = d.stack.Environ(d.vars)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var acc []byte
		sent := false
		for {
			n, err := stdout.Read(buf)
			acc = append(acc, buf[:n]...)
			if !sent {
				if i := bytes.Index(acc, []byte("teleread listening on ")); i >= 0 {
					if j := bytes.IndexByte(acc[i:], '\n'); j >= 0 {
						got <- strings.TrimPrefix(string(acc[i:i+j]), "teleread listening on ")
						sent = true
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.URL = <-got:
	case err := <-p.done:
		t.Fatalf("teleread serve exited at start: %v", err)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("teleread serve did not start within 60s")
	}
	t.Cleanup(func() { p.kill() })
	return p
}

// kill SIGKILLs the process and waits for it.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// api returns a client of the server at base as the demo user email,
// retrying nothing: the drills look at every answer.
func (d *drill) api(t *testing.T, base, email string) *client.Client {
	t.Helper()
	c, err := client.New(base, d.tokens[email], client.WithRetry(client.Retry{Attempts: 1}))
	require.NoError(t, err)
	return c
}

// newCase creates a draft radiology case of the demo site.
func (d *drill) newCase(t *testing.T, base string, critical bool) uuid.UUID {
	t.Helper()
	gp, err := uuid.Parse(d.users[gpEmail])
	require.NoError(t, err)
	cs, err := d.api(t, base, staffEmail).CreateCase(context.Background(), api.CreateCaseRequest{ReferringPhysicianID: gp,
		Specialty: "radiology", Priority: "stat", Patient: api.Patient{Name: "Doe^Archibald", BirthDate: "1970-02-03",
			Sex: "M", MRN: "77654033"}, ClinicalQuestion: "Fracture?"})
	require.NoError(t, err)
	return cs.ID
}

// dicom returns a DICOM file of about size bytes (8-bit frames of
// 512 x 512) with a fresh SOP Instance UID.
func dicom(size int) []byte {
	frames := max(1, size/(512*512))
	px := frames * 512 * 512
	u := uuid.New()
	sop := "2.25." + new(big.Int).SetBytes(u[:]).String()
	b := testenv.DICOMHeader(sop, 512, 512, frames, uint32(px))
	pix := make([]byte, px)
	_, _ = rand.Read(pix[:min(len(pix), 4096)])
	return append(b, pix...)
}

// answer is an HTTP answer read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

// do sends a request with the demo user's token and reads the answer.
func (d *drill) do(t *testing.T, method, url, email, contentType string, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+d.tokens[email])
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// rawUpload POSTs one DICOM file as the raw body of .../files.
func (d *drill) rawUpload(t *testing.T, base string, caseID uuid.UUID, name string, data []byte) answer {
	t.Helper()
	return d.do(t, http.MethodPost, fmt.Sprintf("%s/api/v1/cases/%s/files?filename=%s", base, caseID, name),
		staffEmail, "application/dicom", bytes.NewReader(data))
}

// formBody is a multipart/form-data body of one file.
func formBody(name string, data []byte) (string, io.Reader) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("file", name)
	_, _ = w.Write(data)
	_ = mw.Close()
	return mw.FormDataContentType(), &buf
}

// formUpload POSTs one file as multipart/form-data to .../files.
func (d *drill) formUpload(t *testing.T, base string, caseID uuid.UUID, name string, data []byte) answer {
	t.Helper()
	ct, body := formBody(name, data)
	return d.do(t, http.MethodPost, fmt.Sprintf("%s/api/v1/cases/%s/files", base, caseID), staffEmail, ct, body)
}

// stowBody is a multipart/related STOW-RS body of instances.
func stowBody(instances ...[]byte) (string, io.Reader) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, in := range instances {
		w, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		_, _ = w.Write(in)
	}
	_ = mw.Close()
	return `multipart/related; type="application/dicom"; boundary=` + mw.Boundary(), &buf
}

// stow POSTs instances to the case's STOW-RS endpoint.
func (d *drill) stow(t *testing.T, base string, caseID uuid.UUID, instances ...[]byte) answer {
	t.Helper()
	ct, body := stowBody(instances...)
	return d.do(t, http.MethodPost, fmt.Sprintf("%s/dicomweb/cases/%s/studies", base, caseID), staffEmail, ct, body)
}

// presign opens a presigned upload of data (multipart in 5 MiB parts
// when larger than that) and PUTs every part, or only the first parts
// of them when parts >= 0.
func (d *drill) presign(t *testing.T, base string, caseID uuid.UUID, name string, data []byte, parts int) api.Upload {
	t.Helper()
	ctx := context.Background()
	c := d.api(t, base, staffEmail)
	sum := sha256.Sum256(data)
	req := api.CreateUploadRequest{Filename: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		ContentType: "application/dicom"}
	if len(data) > blob.MinPartSize {
		req.PartSize = blob.MinPartSize
	}
	up, err := c.CreateUpload(ctx, caseID, req, "")
	require.NoError(t, err)
	body := func(b []byte) client.Body {
		return client.Body{Size: int64(len(b)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
	}
	if up.Multipart == nil {
		if parts != 0 {
			_, err := c.PutPresigned(ctx, up.URL, body(data))
			require.NoError(t, err)
		}
		return up
	}
	for i, p := range up.Multipart.Missing {
		if parts >= 0 && i >= parts {
			break
		}
		off := int64(p.PartNumber-1) * req.PartSize
		end := min(off+req.PartSize, int64(len(data)))
		_, err := c.PutPresigned(ctx, p.URL, body(data[off:end]))
		require.NoError(t, err)
	}
	return up
}

// complete POSTs the completion of a presigned upload.
func (d *drill) complete(t *testing.T, base string, caseID, uploadID uuid.UUID) answer {
	t.Helper()
	return d.do(t, http.MethodPost, fmt.Sprintf("%s/api/v1/cases/%s/uploads/%s/complete", base, caseID, uploadID),
		staffEmail, "", nil)
}

// requireUnavailable asserts a 503 problem+json with a Retry-After.
func requireUnavailable(t *testing.T, a answer, what string) {
	t.Helper()
	require.Equal(t, http.StatusServiceUnavailable, a.status, "%s: %s", what, a)
	require.Equal(t, "application/problem+json", a.header.Get("Content-Type"), what)
	require.NotEmpty(t, a.header.Get("Retry-After"), "%s: Retry-After", what)
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	require.NoError(t, json.Unmarshal(a.body, &p), what)
	require.Equal(t, "unavailable", p.Code, what)
	require.NotEmpty(t, p.Detail, what)
}

// caseState is what a case holds: its status, updated_at and files.
type caseState struct {
	Status  string
	Updated time.Time
	Files   int
	Events  int
}

func (d *drill) caseState(t *testing.T, id uuid.UUID) caseState {
	t.Helper()
	var s caseState
	require.NoError(t, d.pool.QueryRow(context.Background(), `SELECT status, updated_at,
		(SELECT count(*) FROM files WHERE case_id = c.id), (SELECT count(*) FROM case_events WHERE case_id = c.id)
		FROM cases c WHERE id = $1`, id).Scan(&s.Status, &s.Updated, &s.Files, &s.Events))
	return s
}

// objects lists the bucket (objects, not multipart uploads in progress).
func (d *drill) objects(t *testing.T) map[string]bool {
	t.Helper()
	keys, err := d.store.List(context.Background(), "")
	require.NoError(t, err)
	out := map[string]bool{}
	for _, k := range keys {
		out[k] = true
	}
	return out
}

// uploadsInProgress lists the multipart uploads object storage holds.
func (d *drill) uploadsInProgress(t *testing.T) map[string]bool {
	t.Helper()
	ups, err := d.store.ListUploads(context.Background(), "")
	require.NoError(t, err)
	out := map[string]bool{}
	for _, u := range ups {
		out[u.Key] = true
	}
	return out
}

// requireNoDanglingFiles asserts that every file row's object (and
// preview, when it has one) is in the bucket.
func (d *drill) requireNoDanglingFiles(t *testing.T) {
	t.Helper()
	objs := d.objects(t)
	rows, err := d.pool.Query(context.Background(), `SELECT id, blob_key FROM files`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id uuid.UUID
		var key string
		require.NoError(t, rows.Scan(&id, &key))
		require.True(t, objs[key], "file %s points at %s, which is not in the bucket", id, key)
		n++
	}
	require.NoError(t, rows.Err())
	t.Logf("%d file rows, every one with its object", n)
}

// eventually polls ok every 200 ms until it holds or within fails.
func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// syncBuffer collects a server's log.
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
