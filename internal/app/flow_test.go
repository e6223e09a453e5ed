package app_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/testenv"
)

// client is a tiny JSON client of the REST API for the flow test.
type client struct {
	t    *testing.T
	base string
}

func (c client) do(token, method, path string, body any, want int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+"/api/v1"+path, rd)
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return c.send(req, want)
}

func (c client) send(req *http.Request, want int) map[string]any {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(c.t, want, resp.StatusCode, "%s %s: %s", req.Method, req.URL.Path, raw)
	out := map[string]any{}
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		require.NoError(c.t, json.Unmarshal(raw, &out), string(raw))
	}
	return out
}

// upload sends files as one multipart request.
func (c client) upload(token, caseID string, paths ...string) map[string]any {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range paths {
		w, err := mw.CreateFormFile("file", filepath.Base(p))
		require.NoError(c.t, err)
		b, err := os.ReadFile(p)
		require.NoError(c.t, err)
		_, _ = w.Write(b)
	}
	require.NoError(c.t, mw.Close())
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1/cases/"+caseID+"/files", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	return c.send(req, http.StatusCreated)
}

// eventually polls get until ok says so.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// receiver is the site's EHR: a real HTTP server that verifies signatures.
type receiver struct {
	mu     sync.Mutex
	secret string
	got    []map[string]any
	ids    map[string]bool
	bad    int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := req.Header.Get("Teleread-Timestamp")
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(req.Header.Get("Teleread-Signature"))) {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := req.Header.Get("Teleread-Delivery")
	if !r.ids[id] {
		r.ids[id] = true
		var env map[string]any
		_ = json.Unmarshal(body, &env)
		r.got = append(r.got, env)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// TestWholeFlow runs the exchange end to end against the real services and
// the real binary's wiring: create, upload, submit, routed, claim, request
// info, resubmit, back to the same specialist, sign, webhook received with a
// valid signature, inbox, acknowledge.
func TestWholeFlow(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	doc := seedDemo(t, env.Getenv(nil))
	tok := map[string]string{}
	for _, u := range doc.Users {
		tok[u.Role] = u.Token
	}
	srv := startServe(t, env.Getenv(map[string]string{"TELEREAD_WEBHOOK_ALLOW_PRIVATE": "true"}))
	api := client{t: t, base: srv.URL}

	// Platform admin: radiology goes to the demo radiology group.
	orgs := api.do(tok["platform_admin"], http.MethodGet, "/orgs?kind=reading_group", nil, http.StatusOK)
	var radGroup string
	for _, o := range orgs["items"].([]any) {
		if o.(map[string]any)["slug"] == "demo-rad" {
			radGroup = o.(map[string]any)["id"].(string)
		}
	}
	require.NotEmpty(t, radGroup)
	api.do(tok["platform_admin"], http.MethodPost, "/routing-rules", map[string]any{"name": "all radiology",
		"specialty": "radiology", "reading_group_id": radGroup, "is_default": true}, http.StatusCreated)

	// Site admin: the site's EHR receives reports by webhook.
	rcv := &receiver{ids: map[string]bool{}}
	ehr := httptest.NewServer(rcv)
	defer ehr.Close()
	hook := api.do(tok["org_admin"], http.MethodPost, "/webhooks", map[string]any{"url": ehr.URL + "/teleread"}, http.StatusCreated)
	rcv.mu.Lock()
	rcv.secret = hook["secret"].(string)
	rcv.mu.Unlock()

	// Site staff: a case, a study, submit.
	me := api.do(tok["referring_physician"], http.MethodGet, "/me", nil, http.StatusOK)
	cs := api.do(tok["site_staff"], http.MethodPost, "/cases", map[string]any{
		"referring_physician_id": me["user_id"], "specialty": "radiology", "priority": "stat",
		"patient":           map[string]any{"name": "Jane Doe", "birth_date": "1970-02-03", "sex": "F", "mrn": "MRN-1"},
		"clinical_question": "Fracture?"}, http.StatusCreated)
	caseID := cs["id"].(string)
	up := api.upload(tok["site_staff"], caseID, "../intake/testdata/CT_small.dcm")
	require.EqualValues(t, 1, up["accepted"])
	api.do(tok["site_staff"], http.MethodPost, "/cases/"+caseID+"/submit", nil, http.StatusOK)

	status := func() string {
		return api.do(tok["site_staff"], http.MethodGet, "/cases/"+caseID, nil, http.StatusOK)["status"].(string)
	}
	eventually(t, "routing", func() bool { return status() == "routed" })

	// Specialist: the case is on the worklist; claim; ask for more.
	var specToken string
	for _, u := range doc.Users {
		if u.Role == "specialist" && strings.Contains(u.Email, "rad") {
			specToken = u.Token
		}
	}
	require.NotEmpty(t, specToken)
	wl := api.do(specToken, http.MethodGet, "/worklist", nil, http.StatusOK)
	require.EqualValues(t, 1, wl["counts"].(map[string]any)["stat"])
	api.do(specToken, http.MethodPost, "/cases/"+caseID+"/claim", nil, http.StatusOK)
	api.do(specToken, http.MethodPost, "/cases/"+caseID+"/request-info", map[string]any{"message": "please add the lateral view"}, http.StatusOK)
	require.Equal(t, "info_requested", status())

	// Site: add the file, resubmit; it comes back to the same specialist.
	api.upload(tok["site_staff"], caseID, "../intake/testdata/dicomdir/77654033/CR1/6154")
	api.do(tok["site_staff"], http.MethodPost, "/cases/"+caseID+"/submit", nil, http.StatusOK)
	eventually(t, "return to the specialist", func() bool { return status() == "in_review" })

	// Specialist: draft, sign.
	api.do(specToken, http.MethodPut, "/cases/"+caseID+"/report", map[string]any{
		"findings": "Undisplaced fracture of the distal radius.", "impression": "Distal radius fracture.",
		"diagnoses":       []any{map[string]any{"text": "Fracture of lower end of radius", "system": "ICD-10", "code": "S52.5"}},
		"recommendations": "Orthopaedic referral.", "critical": true}, http.StatusCreated)
	signed := api.do(specToken, http.MethodPost, "/cases/"+caseID+"/report/sign", nil, http.StatusOK)
	reportID := signed["id"].(string)

	// The EHR receives it, signed; the referring physician sees it first in the inbox.
	eventually(t, "webhook delivery", func() bool { return rcv.count() == 1 })
	rcv.mu.Lock()
	require.Zero(t, rcv.bad, "every delivery carried a valid signature")
	require.Equal(t, "report.final", rcv.got[0]["event"])
	rcv.mu.Unlock()
	eventually(t, "delivered", func() bool { return status() == "delivered" })
	inbox := api.do(tok["referring_physician"], http.MethodGet, "/inbox", nil, http.StatusOK)
	items := inbox["items"].([]any)
	require.NotEmpty(t, items)
	first := items[0].(map[string]any)
	require.Equal(t, reportID, first["report_id"])
	require.Equal(t, true, first["critical"])

	api.do(tok["referring_physician"], http.MethodGet, "/reports/"+reportID, nil, http.StatusOK)
	api.do(tok["referring_physician"], http.MethodPost, "/reports/"+reportID+"/acknowledge", nil, http.StatusOK)
	require.Equal(t, "acknowledged", status())

	// Every step of the flow is on /metrics.
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, step := range [][2]string{{"submitted", "routed"}, {"routed", "claimed"}, {"claimed", "signed"},
		{"signed", "delivered"}, {"delivered", "acknowledged"}} {
		require.Contains(t, string(metrics),
			`teleread_case_step_seconds_count{from="`+step[0]+`",to="`+step[1]+`"}`, step)
	}

	// The timeline tells the whole story.
	evs := api.do(tok["site_staff"], http.MethodGet, "/cases/"+caseID+"/events", nil, http.StatusOK)
	var statuses []string
	for _, e := range evs["items"].([]any) {
		if to, ok := e.(map[string]any)["to_status"].(string); ok {
			statuses = append(statuses, to)
		}
	}
	require.Equal(t, []string{"draft", "submitted", "routed", "in_review", "info_requested", "submitted", "routed",
		"in_review", "reported", "delivered", "acknowledged"},
		dedupe(statuses))
}

func dedupe(ss []string) []string {
	var out []string
	for _, s := range ss {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}
