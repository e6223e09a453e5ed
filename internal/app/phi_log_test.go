package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/testenv"
)

// TestNoPHIOrSecretsInLogs runs the flow of TestWholeFlow (seed, webhook,
// case, upload, submit, route, claim, draft, sign, signed webhook, inbox,
// acknowledge) plus sign-ins, one with a wrong password, with every
// process logging at debug level, and fails listing each log line that
// carries the patient's name, MRN or birth date, a bearer token, a password,
// a session id or the webhook secret.
func TestNoPHIOrSecretsInLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := testenv.New(t)
	debug := map[string]string{"TELEREAD_LOG_LEVEL": "debug", "TELEREAD_LOG_FORMAT": "text"}
	logs := &syncBuffer{}

	var seedOut bytes.Buffer
	require.NoError(t, app.Run(ctx, []string{"seed", "--demo"}, env.Getenv(debug), &seedOut, logs, "test"))
	var doc seedDoc
	require.NoError(t, json.Unmarshal(seedOut.Bytes(), &doc), seedOut.String())
	tok := map[string]string{}
	var secrets []string
	for _, u := range doc.Users {
		tok[u.Role] = u.Token
		secrets = append(secrets, u.Token, u.Password)
	}
	serveEnv := map[string]string{"TELEREAD_WEBHOOK_ALLOW_PRIVATE": "true"}
	for k, v := range debug {
		serveEnv[k] = v
	}
	srv := startServe(t, env.Getenv(serveEnv))
	as := func(token string) *client.Client {
		c, err := client.New(srv.URL, token)
		require.NoError(t, err)
		return c
	}
	admin, staff, gp := as(tok["org_admin"]), as(tok["site_staff"]), as(tok["referring_physician"])

	// Sign-ins: a good one (its session cookie must not be logged) and a
	// wrong password.
	for _, u := range doc.Users[:1] {
		for _, pw := range []string{u.Password, "Wr0ng-Passw0rd-Guess"} {
			body, _ := json.Marshal(api.LoginRequest{Email: u.Email, Password: pw})
			resp, err := http.Post(srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
			require.NoError(t, err)
			for _, c := range resp.Cookies() {
				secrets = append(secrets, c.Value)
			}
			resp.Body.Close()
		}
	}
	secrets = append(secrets, "Wr0ng-Passw0rd-Guess")

	rcv := &receiver{ids: map[string]bool{}}
	ehr := httptest.NewServer(rcv)
	defer ehr.Close()
	hook, err := admin.CreateWebhook(ctx, api.CreateWebhookRequest{URL: ehr.URL + "/teleread"})
	require.NoError(t, err)
	rcv.mu.Lock()
	rcv.secret = hook.Secret
	rcv.mu.Unlock()
	secrets = append(secrets, hook.Secret, strings.TrimPrefix(hook.Secret, "whsec_"))

	const name, family, mrn, birth = "Philippa Quenby", "Quenby", "MRN-PHI-7731", "1958-11-23"
	me, err := gp.Me(ctx)
	require.NoError(t, err)
	cs, err := staff.CreateCase(ctx, api.CreateCaseRequest{ReferringPhysicianID: me.UserID, Specialty: "radiology",
		Priority: "stat", Patient: api.Patient{Name: name, BirthDate: birth, Sex: "F", MRN: mrn},
		ClinicalQuestion: "Fracture?"})
	require.NoError(t, err)
	_, err = staff.UploadFile(ctx, cs.ID, "CT_small.dcm", fileBody(t, "../intake/testdata/CT_small.dcm"), client.FileOptions{})
	require.NoError(t, err)
	_, err = staff.SubmitCase(ctx, cs.ID)
	require.NoError(t, err)
	status := func() string {
		c, err := staff.Case(ctx, cs.ID)
		require.NoError(t, err)
		return c.Status
	}
	eventually(t, "routing", func() bool { return status() == "routed" })

	var spec *client.Client
	for _, u := range doc.Users {
		if u.Role == "specialist" && strings.Contains(u.Email, "rad") {
			spec = as(u.Token)
		}
	}
	require.NotNil(t, spec)
	_, err = spec.Claim(ctx, cs.ID)
	require.NoError(t, err)
	_, err = spec.SaveReport(ctx, cs.ID, api.ReportDraftRequest{Findings: "Fracture.", Impression: "Fracture.",
		Critical: true})
	require.NoError(t, err)
	signed, err := spec.SignReport(ctx, cs.ID)
	require.NoError(t, err)
	eventually(t, "webhook delivery", func() bool { return rcv.count() == 1 })
	eventually(t, "delivered", func() bool { return status() == "delivered" })
	eventually(t, "inbox delivery", func() bool {
		inbox, err := gp.Inbox(ctx)
		require.NoError(t, err)
		return len(inbox) > 0
	})
	_, err = gp.Report(ctx, signed.ID)
	require.NoError(t, err)
	_, err = gp.Acknowledge(ctx, signed.ID)
	require.NoError(t, err)
	_, err = staff.Case(ctx, cs.ID)
	require.NoError(t, err)

	srv.stop(t) // flush the shutdown lines too
	all := logs.String() + srv.stderr.String()
	lines := strings.Split(all, "\n")
	require.Greater(t, len(lines), 20, "debug logging captured the flow")
	require.Contains(t, all, `msg="http request" method=POST route=/api/v1/auth/login`, "request lines are captured")
	require.Contains(t, all, "route=/api/v1/cases/:id/submit", "the case's requests are captured")
	forbidden := map[string]string{"patient name": name, "patient family name": family, "MRN": mrn,
		"birth date": birth, "birth date (DICOM)": strings.ReplaceAll(birth, "-", ""), "bearer": "Bearer "}
	for i, s := range secrets {
		if len(s) >= 8 {
			forbidden["secret #"+string(rune('a'+i%26))+s[:2]] = s
		}
	}
	var leaks []string
	for _, line := range lines {
		for what, s := range forbidden {
			if strings.Contains(strings.ToLower(line), strings.ToLower(s)) {
				leaks = append(leaks, what+": "+line)
			}
		}
	}
	require.Empty(t, leaks, "log lines carrying PHI or secrets:\n%s", strings.Join(leaks, "\n"))
}
