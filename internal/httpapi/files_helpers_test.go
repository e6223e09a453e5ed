package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

// filesBundle is the test bundle with a router that has the upload
// pipeline.
type filesBundle struct {
	*testBundle
	intake *intake.Service
	staffA string // tokens
	gpA    string
	staffB string
	adminB string
}

func setupFiles(t *testing.T) *filesBundle {
	t.Helper()
	base := setup(t, setupOpts{})
	river, err := jobs.NewClient(base.env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	cs := cases.NewService(base.env.Pool, river)
	in := intake.New(base.env.Pool, base.env.Blob, cs, river, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 30, Pool: base.env.Pool,
		Identity: identity.NewService(base.env.Pool), Cases: cs, Intake: in, Jobs: river})
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	b := *base
	b.engine, b.srv = engine, srv
	return &filesBundle{testBundle: &b, intake: in,
		staffA: b.siteA.Tokens[identity.RoleSiteStaff], gpA: b.siteA.Tokens[identity.RoleReferringPhysician],
		staffB: b.siteB.Tokens[identity.RoleSiteStaff], adminB: b.siteB.Tokens[identity.RoleOrgAdmin]}
}

// newCase creates a radiology draft at site A for the patient of the
// dicomdir test files, through the API, and returns its id.
func (b *filesBundle) newCase(t *testing.T) string {
	t.Helper()
	resp, body := b.call(t, http.MethodPost, "/api/v1/cases", b.staffA, map[string]any{
		"referring_physician_id": b.siteA.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
		"priority": "routine", "clinical_question": "Fracture?",
		"patient": map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
	})
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	return body["id"].(string)
}

// part is one part of a multipart/form-data body: a form field (no
// filename) or a file. disposition, when set, replaces the
// Content-Disposition header.
type part struct {
	field, filename string
	body            []byte
	disposition     string
}

func filePart(name string, body []byte) part { return part{field: "file", filename: name, body: body} }

func multipartBody(t *testing.T, parts ...part) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		switch {
		case p.disposition != "":
			h.Set("Content-Disposition", p.disposition)
		case p.filename != "":
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.field, p.filename))
			h.Set("Content-Type", "application/octet-stream")
		default:
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.field))
		}
		pw, err := w.CreatePart(h)
		require.NoError(t, err)
		_, err = pw.Write(p.body)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return &buf, w.FormDataContentType()
}

// upload posts files to a case as multipart/form-data.
func (b *filesBundle) upload(t *testing.T, token, caseID string, headers map[string]string, parts ...part) (*http.Response, map[string]any) {
	t.Helper()
	body, ct := multipartBody(t, parts...)
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/cases/"+caseID+"/files", body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

// get fetches a binary answer (not validated as JSON).
func (b *filesBundle) get(t *testing.T, path, token string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

func (b *filesBundle) objects(t *testing.T, org identity.Org, prefix string) []string {
	t.Helper()
	keys, err := b.env.Blob.List(context.Background(), "orgs/"+org.ID.String()+"/"+prefix)
	require.NoError(t, err)
	return keys
}

func (b *filesBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// results indexes the per-file results of an upload answer (or of the
// details of a problem) by file name.
func results(t *testing.T, body map[string]any) map[string]map[string]any {
	t.Helper()
	list, ok := body["files"].([]any)
	if !ok {
		list, ok = body["details"].([]any)
	}
	require.True(t, ok, "no per-file results in %v", body)
	out := map[string]map[string]any{}
	for _, r := range list {
		m := r.(map[string]any)
		out[m["filename"].(string)] = m
	}
	return out
}

func testfile(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "intake", "testdata", filepath.FromSlash(name)))
	require.NoError(t, err)
	return raw
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var dicomdirFiles = []string{
	"dicomdir/77654033/CR1/6154", "dicomdir/77654033/CR2/6247", "dicomdir/77654033/CR3/6278",
	"dicomdir/77654033/CT2/17106", "dicomdir/77654033/CT2/17136", "dicomdir/77654033/CT2/17166", "dicomdir/77654033/CT2/17196",
}

// synthDICOM is a valid DICOM file of 8-bit frames of rows x cols with
// pixels from a generator: it streams its bytes without holding them.
func synthDICOM(sop string, rows, cols, frames int) (io.Reader, int64) {
	n := int64(rows) * int64(cols) * int64(frames)
	head := testenv.DICOMHeader(sop, rows, cols, frames, uint32(n))
	return io.MultiReader(bytes.NewReader(head), io.LimitReader(&pattern{}, n)), int64(len(head)) + n
}

// pattern is an endless reader of a repeating byte ramp.
type pattern struct{ i byte }

func (p *pattern) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = p.i
		p.i++
	}
	return len(b), nil
}
