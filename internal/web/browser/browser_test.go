// Package browser_test walks the web pages in headless Chromium as people
// use them (issue 12 point 6): the real server (`teleread serve` with its
// workers) on the real PostgreSQL and MinIO, people signing in through
// /login, and assertions on the text they see. Each main page is kept as a
// screenshot under $TELEREAD_ARTEFACTS/<test>/ (else
// /tmp/teleread-artefacts/<test>/); docs/screenshots/ holds copies.
package browser_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/browsertest"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/web/viewer"
)

const testdata = "../../intake/testdata/"

// person is one user who signs in with a password.
type person struct{ email, password string }

// world is a running server with a site (staff and a referring physician
// with passwords), a dermatology reading group with a specialist, another
// group with its own specialist, and a rule routing dermatology to the
// first group.
type world struct {
	t                      *testing.T
	base                   string
	br                     *browsertest.Browser
	ohif                   bool
	staffToken             string
	staff, gp, derm, other person
	// admin is a platform admin.
	admin person
}

func newWorld(t *testing.T) *world {
	t.Helper()
	br := browsertest.New(t)
	env := testenv.New(t)
	overrides := map[string]string{}
	ohif := false
	if dir := ohifDir(); dir != "" {
		overrides["TELEREAD_OHIF_DIR"] = dir
		ohif = true
	}
	base := serve(t, env.Getenv(overrides))
	fx := testenv.NewFixtures(t, env)
	platformOrg := fx.Tenant(t, identity.OrgPlatform, "platform", nil, identity.RolePlatformAdmin)
	platform := platformOrg.Tokens[identity.RolePlatformAdmin]
	site := fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff)
	derm := fx.Tenant(t, identity.OrgReadingGroup, "dermatology", []string{"dermatology"}, identity.RoleOrgAdmin)
	other := fx.Tenant(t, identity.OrgReadingGroup, "elsewhere", []string{"dermatology"}, identity.RoleOrgAdmin)
	w := &world{t: t, base: base, br: br, ohif: ohif, staffToken: site.Tokens[identity.RoleSiteStaff],
		staff: person{"site_staff@site-a.example", testenv.PasswordFor(identity.RoleSiteStaff)},
		gp:    person{"gp@site-a.example", "the referring physician's long password"},
		derm:  person{"reader@dermatology.example", "the dermatologist's long password"},
		other: person{"reader@elsewhere.example", "the other dermatologist's password"},
		admin: person{"admin@platform.example", "the platform admin's long password"},
	}
	mk := func(org identity.Org, p person, name string, role identity.Role, sp []string) {
		_, err := fx.Service.CreateUser(context.Background(), fx.Root(), identity.NewUser{OrgID: org.ID, Email: p.email,
			Name: name, Roles: []identity.Role{role}, Specialties: sp, Password: p.password})
		require.NoError(t, err)
	}
	mk(site.Org, w.gp, "Dr Gillian Parker", identity.RoleReferringPhysician, nil)
	mk(derm.Org, w.derm, "Dr Dana Reed", identity.RoleSpecialist, []string{"dermatology"})
	mk(other.Org, w.other, "Dr Otto Else", identity.RoleSpecialist, []string{"dermatology"})
	mk(platformOrg.Org, w.admin, "Pat Admin", identity.RolePlatformAdmin, nil)
	api(t, base, platform, http.MethodPost, "/routing-rules", map[string]any{"name": "dermatology",
		"specialty": "dermatology", "reading_group_id": derm.Org.ID, "is_default": true}, http.StatusCreated)
	return w
}

// ohifDir is the OHIF build when there is one (TELEREAD_OHIF_DIR, else
// where scripts/ohif.sh keeps it), else "".
func ohifDir() string {
	dir := os.Getenv("TELEREAD_OHIF_DIR")
	if dir == "" {
		out, err := exec.Command("../../../scripts/ohif.sh", "--path").Output()
		if err != nil {
			return ""
		}
		dir = strings.TrimSpace(string(out))
	}
	if !viewer.Available(dir) {
		return ""
	}
	return dir
}

// signIn opens a tab and signs p in through the sign-in page.
func (w *world) signIn(p person) *browsertest.Tab {
	w.t.Helper()
	tab := w.br.Tab(w.t)
	tab.Login(w.base, p.email, p.password)
	require.False(w.t, strings.Contains(tab.Location(), "/login"), "%s is still on the sign-in page", p.email)
	return tab
}

// signOut signs the person of tab out through the page (the people of a
// test share one browser, as people share a workstation).
func signOut(tab *browsertest.Tab) {
	tab.Click("Sign out")
	tab.WaitJS("signed out", `location.pathname.startsWith('/login')`)
}

// choose sets the field labelled label (a select, or an input a person
// picks a value in, such as a date) to value, or for a select with value
// "" to its first option with a value, as a person picking from it.
func choose(tab *browsertest.Tab, label, value string) {
	js := `(function(label, value) {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  for (const l of document.querySelectorAll('label')) {
    if (!norm(l.innerText).includes(norm(label))) continue;
    const c = l.control; if (!c) continue;
    if (c.tagName === 'SELECT') {
      const o = Array.from(c.options).find(o => value ? (o.value === value || norm(o.text) === norm(value)) : o.value !== '');
      if (!o) return false;
      c.value = o.value;
    } else { c.value = value; }
    c.dispatchEvent(new Event('input', {bubbles: true}));
    c.dispatchEvent(new Event('change', {bubbles: true}));
    return true;
  }
  return false;
})(` + jsq(label) + `, ` + jsq(value) + `)`
	tab.WaitJS("choose "+label, js)
}

// fill types value into the field labelled label, emptying it first.
// (browsertest's Fill cannot clear an empty textarea: chromedp.Clear wants
// a text node in it.)
func fill(tab *browsertest.Tab, label, value string) {
	js := `(function(label) {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  document.querySelectorAll('[data-bw-field]').forEach(e => e.removeAttribute('data-bw-field'));
  const labels = Array.from(document.querySelectorAll('label'));
  const l = labels.find(l => norm(l.innerText) === norm(label)) || labels.find(l => norm(l.innerText).includes(norm(label)));
  if (!l || !l.control) return false;
  l.control.value = '';
  l.control.setAttribute('data-bw-field', '1');
  return true;
})(` + jsq(label) + `)`
	tab.WaitJS("field "+label, js)
	tab.Run("type into "+label, chromedp.SendKeys(chromedp.CSS(`[data-bw-field="1"]`), value))
}

func jsq(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestBrowserWholeFlow walks the whole flow as three people: the site
// staff opens a case on the new-case form, uploads the shared test photo
// and a small CT series through the upload page and submits; the
// dermatologist finds it on the worklist, claims it, opens the photo
// viewer (and OHIF on the series, when it is installed: the first image is
// drawn, the canvas is not blank), writes the report and signs it through
// the confirmation dialog; the referring physician finds the report in the
// inbox and acknowledges it.
func TestBrowserWholeFlow(t *testing.T) {
	w := newWorld(t)

	// The site.
	site := w.signIn(w.staff)
	site.Open(w.base + "/cases/new")
	site.WaitText("New case")
	choose(site, "Specialty", "dermatology")
	choose(site, "Priority", "urgent")
	choose(site, "Referring physician", "Dr Gillian Parker")
	fill(site, "Clinical question", "Pigmented lesion that grew this spring: melanoma?")
	fill(site, "History", "Fair skin, two sunburns a year.")
	choose(site, "Body site of the lesion", "")
	fill(site, "How long has it been there?", "4 months")
	fill(site, "Name", "Archibald Doe")
	choose(site, "Birth date", "1950-01-01")
	choose(site, "Sex", "M")
	fill(site, "Medical record number", "77654033")
	site.Screenshot("new-case")
	site.Click("Open the case")
	site.WaitText("Case opened as a draft")
	caseURL := site.Location()
	caseID := caseURL[strings.LastIndex(caseURL, "/")+1:]
	require.Len(t, caseID, 36, caseURL)
	short := caseID[:8]

	series, err := filepath.Glob(testdata + "dicomdir/77654033/CT2/*")
	require.NoError(t, err)
	require.Len(t, series, 4)
	files := []string{abs(t, testdata+"retina.jpg")}
	for _, s := range series {
		files = append(files, abs(t, s))
	}
	site.Run("choose the files", chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][multiple]:not([webkitdirectory])`), files))
	site.WaitJSFor("uploads finished", 2*time.Minute, `(function(){const t=document.body.innerText;return t.includes('Uploads finished')&&t.includes('All files: 100%')})()`)
	for _, f := range files {
		name := filepath.Base(f)
		require.True(t, site.HasText(name), "the upload list shows %s", name)
	}
	require.False(t, site.HasText("refused"), "a file was refused")
	site.Screenshot("upload")
	site.Open(caseURL)
	site.WaitText("retina.jpg")
	site.WaitText("1 series")
	site.Click("Submit for reading")
	site.WaitText("Submitted")
	site.Screenshot("case-submitted")
	signOut(site)

	deadline := time.Now().Add(60 * time.Second)
	for api(t, w.base, w.staffToken, http.MethodGet, "/cases/"+caseID, nil, http.StatusOK)["status"] != "routed" {
		require.True(t, time.Now().Before(deadline), "the case was not routed within 60s")
		time.Sleep(200 * time.Millisecond)
	}

	// The dermatologist.
	reader := w.signIn(w.derm)
	reader.WaitText("Worklist")
	reader.WaitText("Case " + short)
	reader.WaitText("Pigmented lesion that grew this spring")
	reader.Screenshot("worklist")
	reader.Click("Claim")
	reader.WaitText("You have claimed the case")
	reader.WaitText("Clinical question")
	reader.WaitText("Archibald Doe")
	reader.Screenshot("case-view")
	if w.ohif {
		href := browsertest.Eval[string](reader, "the viewer link", `(Array.from(document.querySelectorAll('a')).find(a => a.innerText.trim() === 'Open in viewer') || {}).href || ''`)
		require.NotEmpty(t, href, "the case view links to OHIF")
		ohif := w.br.Tab(t)
		ohif.OpenFor(href, 2*time.Minute)
		ohif.WaitJSFor("OHIF's viewport canvas", 2*time.Minute, `document.querySelector('canvas.cornerstone-canvas') !== null`)
		ohif.WaitJSFor("the first image drawn (a canvas that is not blank)", time.Minute, canvasNotBlank)
		ohif.Screenshot("ohif")
	} else {
		reader.WaitText("The OHIF viewer is not installed")
		t.Log("OHIF is not installed: the case view says so; the OHIF step is skipped")
	}
	reader.Click("Open retina.jpg in the photo viewer")
	reader.WaitText("Photo viewer")
	reader.WaitJS("the photo loaded", `(function(){const i=document.querySelector('img[alt^="Photo retina.jpg"]');return !!i&&i.complete&&i.naturalWidth>0})()`)
	reader.Click("Zoom in")
	reader.Screenshot("photo-viewer")
	reader.Click("Back to case")
	reader.Click("Write the report")
	reader.WaitText("Report on case " + short)
	fill(reader, "Findings", "Asymmetric pigmented macule, 7 mm, irregular border, two colours.")
	fill(reader, "Impression", "Atypical naevus; melanoma cannot be excluded.")
	fill(reader, "Recommendations", "Excision biopsy within four weeks.")
	reader.Click("Save the draft now")
	reader.WaitText("saved")
	reader.Screenshot("report-editor")
	reader.Click("Sign the report")
	reader.WaitText("Sign the report?")
	reader.WaitJS("the confirmation dialog", `!!document.querySelector('dialog[open]')`)
	reader.Click("Sign")
	reader.WaitText("Signed report")
	reader.WaitText("Dr Dana Reed")
	reader.Screenshot("report-signed")
	signOut(reader)

	// The referring physician.
	gp := w.signIn(w.gp)
	gp.WaitText("Inbox")
	gp.WaitText("Report on case " + short)
	gp.WaitText("Unread")
	gp.Screenshot("inbox")
	gp.Click("Report on case " + short)
	gp.WaitText("Atypical naevus; melanoma cannot be excluded.")
	gp.WaitText("Excision biopsy within four weeks.")
	gp.WaitText("Download the PDF")
	gp.Screenshot("report")
	gp.Click("Acknowledge")
	gp.WaitText("Acknowledged")
	gp.Open(w.base + "/inbox")
	gp.WaitText("Report on case " + short)
	require.False(t, gp.HasText("not yet"), "the inbox still shows the report unacknowledged")
}

// TestBrowserLoginFailure: a wrong password says so on the sign-in page;
// after repeated failures the page says sign-in is locked, even with the
// right password.
func TestBrowserLoginFailure(t *testing.T) {
	w := newWorld(t)
	tab := w.br.Tab(t)
	tab.Login(w.base, w.staff.email, "not the password")
	tab.WaitText("The e-mail address or the password is wrong")
	tab.Screenshot("wrong-password")
	for i := 0; i < 5; i++ {
		tab.Login(w.base, w.staff.email, fmt.Sprintf("still wrong %d", i))
	}
	tab.Login(w.base, w.staff.email, w.staff.password)
	tab.WaitText("Too many failed sign-ins")
	tab.WaitText("Sign-in is locked for now")
	require.Contains(t, tab.Location(), "/login")
	tab.Screenshot("locked")
}

// openCase opens a dermatology case on the new-case form as site (signed
// in as staff) and returns its address and id.
func (w *world) openCase(site *browsertest.Tab, question string) (string, string) {
	w.t.Helper()
	site.Open(w.base + "/cases/new")
	site.WaitText("New case")
	choose(site, "Referring physician", "Dr Gillian Parker")
	fill(site, "Clinical question", question)
	choose(site, "Body site of the lesion", "")
	fill(site, "Name", "Archibald Doe")
	choose(site, "Birth date", "1950-01-01")
	choose(site, "Sex", "M")
	fill(site, "Medical record number", "77654033")
	site.Click("Open the case")
	site.WaitText("Case opened as a draft")
	caseURL := site.Location()
	return caseURL, caseURL[strings.LastIndex(caseURL, "/")+1:]
}

// TestBrowserOtherGroup404: a specialist of another reading group who
// opens the case's address sees the not-found page, not the case.
func TestBrowserOtherGroup404(t *testing.T) {
	w := newWorld(t)
	site := w.signIn(w.staff)
	caseURL, caseID := w.openCase(site, "Melanoma?")
	site.Run("choose the photo", chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][multiple]:not([webkitdirectory])`),
		[]string{abs(t, testdata+"retina.jpg")}))
	site.WaitText("Uploads finished")
	site.Open(caseURL)
	site.Click("Submit for reading")
	site.WaitText("Submitted")
	deadline := time.Now().Add(60 * time.Second)
	for api(t, w.base, w.staffToken, http.MethodGet, "/cases/"+caseID, nil, http.StatusOK)["status"] != "routed" {
		require.True(t, time.Now().Before(deadline), "the case was not routed within 60s")
		time.Sleep(200 * time.Millisecond)
	}

	signOut(site)
	other := w.signIn(w.other)
	other.WaitText("Worklist")
	require.False(t, other.HasText("Case "+caseID[:8]), "the other group's worklist shows the case")
	for _, path := range []string{"/worklist/" + caseID, "/worklist/" + caseID + "/report"} {
		other.Open(w.base + path)
		other.WaitText("Error 404")
		require.False(t, other.HasText("Archibald Doe"), "%s shows the patient", path)
		require.False(t, other.HasText("Melanoma?"), "%s shows the question", path)
	}
	other.Screenshot("not-found")

	// The group it was routed to opens it.
	signOut(other)
	reader := w.signIn(w.derm)
	reader.Open(w.base + "/worklist/" + caseID)
	reader.WaitText("Melanoma?")
}

// TestBrowserCSRF: a form post with the session cookie but without the
// CSRF token is refused, and the page says why; with the token it passes.
func TestBrowserCSRF(t *testing.T) {
	w := newWorld(t)
	cookie := sessionCookie(t, w.base, w.staff)
	post := func(form url.Values) (int, string) {
		req, err := http.NewRequest(http.MethodPost, w.base+"/cases", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.AddCookie(&http.Cookie{Name: edge.SessionCookie, Value: cookie})
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	form := url.Values{"specialty": {"dermatology"}, "priority": {"routine"}, "clinical_question": {"Melanoma?"},
		"patient_name": {"Archibald Doe"}, "patient_birth_date": {"1950-01-01"}, "patient_sex": {"M"}, "patient_mrn": {"77654033"}}
	status, body := post(form)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "CSRF", "the page says why the form was refused")
	require.NotContains(t, body, "goroutine", "a stack trace")
	form.Set("csrf_token", "not the token")
	status, body = post(form)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "CSRF")

	// The refusal as a person sees it: the browser posts a form without
	// the token.
	tab := w.br.Tab(t)
	tab.SetCookie(w.base, edge.SessionCookie, cookie)
	tab.Open(w.base + "/cases/new")
	tab.WaitText("New case")
	browsertest.Eval[bool](tab, "drop the token", `(document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove()), true)`)
	fill(tab, "Clinical question", "Melanoma?")
	tab.Click("Open the case")
	tab.WaitText("CSRF")
	require.False(t, tab.HasText("Case opened"))
	tab.Screenshot("csrf-refused")
}

// TestBrowserUpload50MB: a 50 MB DICOM file chosen on the upload page
// (the presigned path for large files) reaches 100% and is accepted.
func TestBrowserUpload50MB(t *testing.T) {
	w := newWorld(t)
	src, err := os.ReadFile(testdata + "CT_small.dcm")
	require.NoError(t, err)
	big := filepath.Join(t.TempDir(), "CT_large.dcm")
	f, err := os.Create(big)
	require.NoError(t, err)
	require.NoError(t, dicomfile.Resample(f, bytes.NewReader(src), 5120, 5120)) // 16-bit: 52 MB
	require.NoError(t, f.Close())
	st, err := os.Stat(big)
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(50<<20))

	site := w.signIn(w.staff)
	_, caseID := w.openCase(site, "Large CT")
	site.WaitText("Add photos and images")
	site.Run("choose the file", chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][multiple]:not([webkitdirectory])`), []string{big}))
	site.WaitJSFor("the upload at 100%", 5*time.Minute, `(function(){const t=document.body.innerText;return t.includes('Uploads finished')&&t.includes('All files: 100%')})()`)
	require.True(t, site.HasText("CT_large.dcm"))
	require.False(t, site.HasText("refused"), "the file was refused")
	require.True(t, browsertest.Eval[bool](site, "the file's bar", `Array.from(document.querySelectorAll('progress')).every(p => p.value === 100)`))
	site.Screenshot("upload-50mb")
	site.Open(w.base + "/cases/" + caseID)
	site.WaitText("1 series")
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

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

// serve runs `teleread serve` (HTTP and workers) for t and returns its URL.
func serve(t *testing.T, getenv func(string) string) string {
	t.Helper()
	return testenv.Serve(t, app.Run, getenv, nil, "serve").URL
}

// api sends a JSON request to the REST API with a bearer token.
func api(t *testing.T, base, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	raw := apiRaw(t, base, token, method, path, body, want)
	out := map[string]any{}
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return out
}

func apiRaw(t *testing.T, base, token, method, path string, body any, want int) []byte {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, base+"/api/v1"+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, raw)
	return raw
}

// sessionCookie signs p in through POST /api/v1/auth/login and returns
// the session cookie's value.
func sessionCookie(t *testing.T, base string, p person) string {
	t.Helper()
	js, _ := json.Marshal(map[string]string{"email": p.email, "password": p.password})
	resp, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(js))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, c := range resp.Cookies() {
		if c.Name == edge.SessionCookie {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}
