package uploader_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

// bundle is a real server (the REST handler on the real services) with a
// site whose staff sends files.
type bundle struct {
	env    *testenv.Env
	srv    *httptest.Server
	site   *testenv.Tenant
	token  string
	client *client.Client
}

func setup(t *testing.T) *bundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	cs := cases.NewService(env.Pool, river)
	in := intake.New(env.Pool, env.Blob, cs, river, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 30, Pool: env.Pool,
		Identity: identity.NewService(env.Pool), Cases: cs, Intake: in, Jobs: river})
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	fx := testenv.NewFixtures(t, env)
	site := fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	tok := site.Tokens[identity.RoleSiteStaff]
	c, err := client.New(srv.URL, tok)
	require.NoError(t, err)
	return &bundle{env: env, srv: srv, site: site, token: tok, client: c}
}

// newCase opens a draft of the given specialty through the client.
func (b *bundle) newCase(t *testing.T, specialty string) uuid.UUID {
	t.Helper()
	cs, err := b.client.CreateCase(context.Background(), api.CreateCaseRequest{
		ReferringPhysicianID: b.site.Users[identity.RoleReferringPhysician].ID, Specialty: specialty,
		Priority: "routine", ClinicalQuestion: "Fracture?",
		Patient: api.Patient{Name: "Archibald Doe", BirthDate: "1950-01-01", Sex: "M", MRN: "77654033"}})
	require.NoError(t, err)
	return cs.ID
}

// files counts the files of a case, and how many distinct SHA-256 values.
func (b *bundle) files(t *testing.T, caseID uuid.UUID) (n, distinct int) {
	t.Helper()
	err := b.env.Pool.QueryRow(context.Background(),
		"SELECT count(*), count(DISTINCT sha256) FROM files WHERE case_id = $1", caseID).Scan(&n, &distinct)
	require.NoError(t, err)
	return n, distinct
}

// study writes n instances of one study (two series) under dir, made from
// a testdata file with new UIDs, and a DICOMDIR that lists them; it returns
// their paths. Each instance has its own bytes.
func study(t *testing.T, dir string, n int) []string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "intake", "testdata", "CT_small.dcm"))
	require.NoError(t, err)
	var ddir bytes.Buffer
	w := dicomfile.NewDICOMDIRWriter(&ddir)
	studyUID := dicomfile.NewUID()
	series := []string{dicomfile.NewUID(), dicomfile.NewUID()}
	var paths []string
	for i := range n {
		sd := fmt.Sprintf("SE%d", i%2+1)
		name := fmt.Sprintf("IM%05d", i+1)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, sd), 0o755))
		p := filepath.Join(dir, sd, name)
		var out bytes.Buffer
		sop := dicomfile.NewUID()
		require.NoError(t, dicomfile.RewriteUIDs(&out, bytes.NewReader(src), studyUID, series[i%2], sop))
		require.NoError(t, os.WriteFile(p, out.Bytes(), 0o644))
		require.NoError(t, w.Add(dicomfile.DirRecord{FileID: []string{sd, name}, SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
			SOPInstanceUID: sop, TransferSyntax: "1.2.840.10008.1.2.1"}))
		paths = append(paths, p)
	}
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "DICOMDIR"), ddir.Bytes(), 0o644))
	return paths
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// binary builds the teleread command once per test binary.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "teleread-upload-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "teleread")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/teleread/teleread/cmd/teleread").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// command is `teleread upload args...` with the site's token in the environment.
func (b *bundle) command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"upload", "--server", b.srv.URL}, args...)...)
	cmd.Env = append(os.Environ(), "TELEREAD_TOKEN="+b.token)
	return cmd
}

// proxy forwards to the server but answers the first fail requests that
// match with 503.
type proxy struct {
	mu     sync.Mutex
	fail   int
	failed int
	target http.Handler
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.failed < p.fail {
		p.failed++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<html>503 Service Temporarily Unavailable</html>")
		return
	}
	p.mu.Unlock()
	p.target.ServeHTTP(w, r)
}
