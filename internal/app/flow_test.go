package app_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/testenv"
)

// fileBody streams a file for the client.
func fileBody(t *testing.T, path string) client.Body {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return client.Body{Size: st.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }}
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
	ctx := context.Background()
	env := testenv.New(t)
	doc := seedDemo(t, env.Getenv(nil))
	tok := map[string]string{}
	for _, u := range doc.Users {
		tok[u.Role] = u.Token
	}
	srv := startServe(t, env.Getenv(map[string]string{"TELEREAD_WEBHOOK_ALLOW_PRIVATE": "true"}))
	as := func(role string) *client.Client {
		c, err := client.New(srv.URL, tok[role])
		require.NoError(t, err)
		return c
	}
	platform, admin, staff, gp := as("platform_admin"), as("org_admin"), as("site_staff"), as("referring_physician")

	// Platform admin: radiology goes to the demo radiology group.
	orgs, err := platform.ListOrgs(ctx, "reading_group")
	require.NoError(t, err)
	var radGroup uuid.UUID
	for _, o := range orgs {
		if o.Slug == "demo-rad" {
			radGroup = o.ID
		}
	}
	require.NotEqual(t, uuid.Nil, radGroup)
	_, err = platform.CreateRoutingRule(ctx, api.CreateRoutingRuleRequest{Name: "all radiology", Specialty: "radiology",
		ReadingGroupID: radGroup, IsDefault: true})
	if client.StatusOf(err) != http.StatusConflict { // 409: the demo already routes radiology by default
		require.NoError(t, err)
	}

	// Site admin: the site's EHR receives reports by webhook.
	rcv := &receiver{ids: map[string]bool{}}
	ehr := httptest.NewServer(rcv)
	defer ehr.Close()
	hook, err := admin.CreateWebhook(ctx, api.CreateWebhookRequest{URL: ehr.URL + "/teleread"})
	require.NoError(t, err)
	rcv.mu.Lock()
	rcv.secret = hook.Secret
	rcv.mu.Unlock()

	// Site staff: a case, a study, submit.
	me, err := gp.Me(ctx)
	require.NoError(t, err)
	cs, err := staff.CreateCase(ctx, api.CreateCaseRequest{ReferringPhysicianID: me.UserID, Specialty: "radiology",
		Priority: "stat", Patient: api.Patient{Name: "Jane Doe", BirthDate: "1970-02-03", Sex: "F", MRN: "MRN-1"},
		ClinicalQuestion: "Fracture?"})
	require.NoError(t, err)
	caseID := cs.ID
	up, err := staff.UploadFile(ctx, caseID, "CT_small.dcm", fileBody(t, "../intake/testdata/CT_small.dcm"), client.FileOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, up.Accepted)
	_, err = staff.SubmitCase(ctx, caseID)
	require.NoError(t, err)

	status := func() string {
		c, err := staff.Case(ctx, caseID)
		require.NoError(t, err)
		return c.Status
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
	spec, err := client.New(srv.URL, specToken)
	require.NoError(t, err)
	wl, err := spec.Worklist(ctx, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, wl.Counts["stat"], 1)
	require.True(t, slices.ContainsFunc(wl.Items, func(it api.WorklistItem) bool { return it.CaseID == caseID }),
		"the case is on the worklist")
	_, err = spec.Claim(ctx, caseID)
	require.NoError(t, err)
	_, err = spec.RequestInfo(ctx, caseID, "please add the lateral view")
	require.NoError(t, err)
	require.Equal(t, "info_requested", status())

	// Site: `teleread upload` adds the file (and what is there already,
	// which it does not send again) and resubmits; it comes back to the
	// same specialist.
	var out, errOut bytes.Buffer
	err = app.Run(ctx, []string{"upload", "--server", srv.URL, "--case", caseID.String(), "--submit",
		"--state-dir", t.TempDir(), "../intake/testdata/CT_small.dcm", "../intake/testdata/dicomdir/77654033/CR1/6154"},
		env.Getenv(map[string]string{"TELEREAD_TOKEN": tok["site_staff"]}), &out, &errOut, "test")
	require.NoError(t, err, "%s%s", out.String(), errOut.String())
	require.Contains(t, out.String(), "1 sent, 1 already there, 0 skipped, 0 refused")
	require.Contains(t, out.String(), "submitted")
	eventually(t, "return to the specialist", func() bool { return status() == "in_review" })

	// Specialist: draft, sign.
	_, err = spec.SaveReport(ctx, caseID, api.ReportDraftRequest{
		Findings: "Undisplaced fracture of the distal radius.", Impression: "Distal radius fracture.",
		Diagnoses:       []api.Diagnosis{{Text: "Fracture of lower end of radius", System: "ICD-10", Code: "S52.5"}},
		Recommendations: "Orthopaedic referral.", Critical: true})
	require.NoError(t, err)
	signed, err := spec.SignReport(ctx, caseID)
	require.NoError(t, err)
	reportID := signed.ID

	// The EHR receives it, signed; the referring physician sees it first in the inbox.
	eventually(t, "webhook delivery", func() bool { return rcv.count() == 1 })
	rcv.mu.Lock()
	require.Zero(t, rcv.bad, "every delivery carried a valid signature")
	require.Equal(t, "report.final", rcv.got[0]["event"])
	rcv.mu.Unlock()
	eventually(t, "delivered", func() bool { return status() == "delivered" })
	inbox, err := gp.Inbox(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, inbox)
	require.Equal(t, reportID, inbox[0].ReportID)
	require.True(t, inbox[0].Critical)

	_, err = gp.Report(ctx, reportID)
	require.NoError(t, err)
	_, err = gp.Acknowledge(ctx, reportID)
	require.NoError(t, err)
	require.Equal(t, "acknowledged", status())

	// A problem is a *client.Error with the status and the reason.
	_, err = spec.Claim(ctx, caseID)
	var perr *client.Error
	require.ErrorAs(t, err, &perr)
	require.Equal(t, 409, perr.Status)
	require.NotEmpty(t, perr.Reason)

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
	evs, err := staff.CaseEvents(ctx, caseID)
	require.NoError(t, err)
	var statuses []string
	for _, e := range evs {
		if e.ToStatus != nil {
			statuses = append(statuses, *e.ToStatus)
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
