package viewer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/browsertest"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/web/viewer"
)

// ohifDir is the real OHIF build: TELEREAD_OHIF_DIR, else where
// scripts/ohif.sh keeps it. Without one the test skips (fails under
// CI=true, where scripts/test-tools.sh must have fetched it).
func ohifDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TELEREAD_OHIF_DIR")
	if dir == "" {
		out, err := exec.Command("../../../scripts/ohif.sh", "--path").Output()
		require.NoError(t, err)
		dir = strings.TrimSpace(string(out))
	}
	if !viewer.Available(dir) {
		browsertest.Require(t, "the OHIF build (scripts/ohif.sh)", fmt.Errorf("no index.html in %s", dir))
	}
	return dir
}

// TestOHIFShowsTheStudy is the viewer end to end: the real server (serve
// with its workers) and the pinned OHIF build; a site uploads a CT and a
// CT series through the REST API and submits; the case is routed to the
// radiology group; the radiologist, signed in through the API, opens the
// viewer on both studies in headless Chromium, OHIF draws the first image
// (the canvas is not blank), and a study of a case that was not routed to
// the radiologist is 404 from /dicomweb in the same session.
func TestOHIFShowsTheStudy(t *testing.T) {
	t.Parallel()
	dir := ohifDir(t)
	start := time.Now()
	step := func(what string) { t.Logf("%s after %s", what, time.Since(start).Round(100*time.Millisecond)) }
	br := browsertest.New(t)
	env := testenv.New(t)
	base := serve(t, env.Getenv(map[string]string{"TELEREAD_OHIF_DIR": dir}))
	api := rest{t: t, base: base}
	fx := testenv.NewFixtures(t, env)
	platform := fx.Tenant(t, identity.OrgPlatform, "platform", nil, identity.RolePlatformAdmin).Tokens[identity.RolePlatformAdmin]
	site := fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	staff, gp := site.Tokens[identity.RoleSiteStaff], site.Tokens[identity.RoleReferringPhysician]
	group := fx.Tenant(t, identity.OrgReadingGroup, "radiology", []string{"radiology"}, identity.RoleOrgAdmin)
	const radEmail, radPassword = "radiologist@radiology.example", "a radiologist's long password"
	_, err := fx.Service.CreateUser(context.Background(), fx.Root(), identity.NewUser{OrgID: group.Org.ID, Email: radEmail,
		Name: "Radiologist", Roles: []identity.Role{identity.RoleSpecialist}, Specialties: []string{"radiology"}, Password: radPassword})
	require.NoError(t, err)
	step("started")

	// Radiology goes to the radiology group.
	api.do(platform, http.MethodPost, "/routing-rules", map[string]any{"name": "radiology",
		"specialty": "radiology", "reading_group_id": group.Org.ID, "is_default": true}, http.StatusCreated)

	// The site: a case with a CT and a CT series, submitted; another case
	// with another study, left in draft (no reading group may see it).
	me := api.do(gp, http.MethodGet, "/me", nil, http.StatusOK)
	newCase := func(mrn string) string {
		cs := api.do(staff, http.MethodPost, "/cases", map[string]any{
			"referring_physician_id": me["user_id"], "specialty": "radiology", "priority": "routine",
			"patient":           map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": mrn},
			"clinical_question": "Fracture?"}, http.StatusCreated)
		return cs["id"].(string)
	}
	caseID := newCase("77654033")
	testdata := "../../intake/testdata/"
	api.upload(staff, caseID, testdata+"CT_small.dcm")
	series, err := filepath.Glob(testdata + "dicomdir/77654033/CT2/*")
	require.NoError(t, err)
	require.Len(t, series, 4)
	api.upload(staff, caseID, series...)
	api.do(staff, http.MethodPost, "/cases/"+caseID+"/submit", nil, http.StatusOK)
	other := newCase("98890234")
	api.upload(staff, other, testdata+"dicomdir/98892001/CT2N/6293")

	studies := map[string]string{} // patient ID -> study UID
	for _, s := range api.qido(staff, "/dicomweb/studies") {
		studies[s["00100020"]] = s["0020000D"]
	}
	ct, prior, hidden := studies["1CT1"], studies["77654033"], studies["98890234"]
	require.NotEmpty(t, ct)
	require.NotEmpty(t, prior)
	require.NotEmpty(t, hidden)
	deadline := time.Now().Add(30 * time.Second)
	for api.do(staff, http.MethodGet, "/cases/"+caseID, nil, http.StatusOK)["status"] != "routed" {
		require.True(t, time.Now().Before(deadline), "the case was not routed within 30s")
		time.Sleep(100 * time.Millisecond)
	}

	step("routed")
	// The radiologist signs in (REST) and opens the viewer on the studies.
	cookie := api.login(radEmail, radPassword)
	tab := br.Tab(t)
	tab.SetCookie(base, edge.SessionCookie, cookie)
	// OHIF is about 60 MB of scripts: the limits allow for a busy machine
	// (unloaded, the page draws within 30 s of the start).
	tab.OpenFor(base+viewer.StudyURL(ct, prior), 2*time.Minute)
	tab.WaitJSFor("OHIF's viewport canvas", 2*time.Minute, `document.querySelector('canvas.cornerstone-canvas') !== null`)
	tab.WaitJSFor("the first image drawn (a canvas that is not blank)", time.Minute, canvasNotBlank)
	tab.WaitText("03-Sep-1995") // the prior in the study browser
	step("drawn")
	tab.Screenshot("ohif-ct-with-prior")

	// The same session reads nothing of a case it was not routed: 404.
	status := browsertest.Eval[float64](tab, "fetch a hidden study", `fetch('/dicomweb/studies/`+hidden+
		`/series', {headers: {Accept: 'application/dicom+json'}}).then(r => r.status)`)
	require.EqualValues(t, http.StatusNotFound, status, "a study of a case not routed to the radiologist")
	status = browsertest.Eval[float64](tab, "fetch the shown study", `fetch('/dicomweb/studies/`+ct+`/series').then(r => r.status)`)
	require.EqualValues(t, http.StatusOK, status)
}

// canvasNotBlank is true once OHIF's viewport canvas has pixels of more
// than one value (an image, not a cleared viewport).
const canvasNotBlank = `(function() {
  const c = document.querySelector('canvas.cornerstone-canvas');
  if (!c || !c.width || !c.height) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lo = 255, hi = 0, n = 0, sum = 0, sq = 0;
  for (let i = 0; i < d.length; i += 16) {
    const v = (d[i] + d[i+1] + d[i+2]) / 3;
    lo = Math.min(lo, v); hi = Math.max(hi, v); n++; sum += v; sq += v * v;
  }
  const variance = sq / n - (sum / n) * (sum / n);
  return hi > lo && variance > 1;
})()`

// serve runs `teleread serve` (HTTP and workers) for t and returns its URL.
func serve(t *testing.T, getenv func(string) string) string {
	t.Helper()
	return testenv.Serve(t, app.Run, getenv, nil, "serve").URL
}

// rest is a small client of the REST API.
type rest struct {
	t    *testing.T
	base string
}

// do sends a JSON request with a bearer token; want 0 takes any 2xx or 409.
func (r rest) do(token, method, path string, body any, want int) map[string]any {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(r.t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, r.base+"/api/v1"+path, rd)
	require.NoError(r.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return r.send(req, want)
}

func (r rest) send(req *http.Request, want int) map[string]any {
	r.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if want == 0 {
		require.True(r.t, resp.StatusCode < 300 || resp.StatusCode == http.StatusConflict, "%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	} else {
		require.Equal(r.t, want, resp.StatusCode, "%s %s: %s", req.Method, req.URL.Path, raw)
	}
	out := map[string]any{}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && len(raw) > 0 && raw[0] == '{' {
		require.NoError(r.t, json.Unmarshal(raw, &out), string(raw))
	}
	return out
}

// upload sends files to a case in one multipart request.
func (r rest) upload(token, caseID string, paths ...string) {
	r.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range paths {
		w, err := mw.CreateFormFile("file", filepath.Base(p))
		require.NoError(r.t, err)
		b, err := os.ReadFile(p)
		require.NoError(r.t, err)
		_, _ = w.Write(b)
	}
	require.NoError(r.t, mw.Close())
	req, _ := http.NewRequest(http.MethodPost, r.base+"/api/v1/cases/"+caseID+"/files", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	r.send(req, http.StatusCreated)
}

// qido searches and returns each answer's first values by tag.
func (r rest) qido(token, path string) []map[string]string {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	require.Equal(r.t, http.StatusOK, resp.StatusCode)
	var ans []map[string]struct{ Value []any }
	require.NoError(r.t, json.NewDecoder(resp.Body).Decode(&ans))
	var out []map[string]string
	for _, a := range ans {
		m := map[string]string{}
		for tag, v := range a {
			if len(v.Value) > 0 {
				m[tag] = fmt.Sprint(v.Value[0])
			}
		}
		out = append(out, m)
	}
	return out
}

// login signs in through POST /api/v1/auth/login and returns the session
// cookie's value.
func (r rest) login(email, password string) string {
	r.t.Helper()
	js, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(r.base+"/api/v1/auth/login", "application/json", bytes.NewReader(js))
	require.NoError(r.t, err)
	defer resp.Body.Close()
	require.Equal(r.t, http.StatusOK, resp.StatusCode)
	for _, c := range resp.Cookies() {
		if c.Name == edge.SessionCookie {
			return c.Value
		}
	}
	r.t.Fatal("no session cookie")
	return ""
}
