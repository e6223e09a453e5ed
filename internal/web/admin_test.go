package web_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

func TestAdminPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	// A case through routed, claimed and signed, for the turnaround.
	cs := b.readCase(t, "Changing mole. Melanoma?")
	sp := b.readers.Principals[identity.RoleSpecialist]
	_, err := b.wl.Claim(ctx, sp, cs.ID)
	require.NoError(t, err)
	_, err = b.reports.SaveDraft(ctx, sp, cs.ID, reports.Content{Findings: "Pigmented lesion.", Impression: "Benign naevus."}, nil)
	require.NoError(t, err)
	_, err = b.reports.Sign(ctx, sp, cs.ID)
	require.NoError(t, err)

	platform, err := b.svc.GetOrg(ctx, b.root, b.root.OrgID)
	require.NoError(t, err)
	email, pw := b.person(t, platform, "root-admin", identity.RolePlatformAdmin)
	br := b.browser(t).login(email, pw)
	require.Equal(t, "/admin", br.url, br.text)
	br.sees("Administration", "Users and tokens", "Routing rules", "Audit log", "Turnaround")

	t.Run("UsersAndTokens", func(t *testing.T) {
		staff := b.siteA.Users[identity.RoleSiteStaff]
		br.get("/admin/users").sees(staff.Email, "site-a", "site_staff", "Add a user")
		br.post("/admin/users/"+staff.ID.String()+"/tokens", url.Values{"name": {"ehr bridge"}, "days": {"30"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("New token “ehr bridge”", "Copy it now: it is shown this once", "ehr bridge")
		br.get("/admin/users").notSees("Copy it now")
		toks, err := b.svc.ListTokens(ctx, b.root, &staff.ID)
		require.NoError(t, err)
		var id string
		for _, tk := range toks {
			if tk.Name == "ehr bridge" {
				id = tk.ID.String()
			}
		}
		require.NotEmpty(t, id)
		br.post("/admin/tokens/"+id+"/revoke", url.Values{}).sees("The token is revoked", "revoked")
		br.post("/admin/users", url.Values{"org_id": {b.siteB.Org.ID.String()}, "name": {"Nia Nurse"},
			"email": {"nia@site-b.example"}, "roles": {"site_staff"}, "password": {"a long enough password"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("User nia@site-b.example created.", "Nia Nurse")
	})
	t.Run("ReadingGroups", func(t *testing.T) {
		br.get("/admin/groups").sees("derm-readers", "Due time of stat cases (hours)", "Claim lease (minutes)")
		br.post("/admin/groups/"+b.readers.Org.ID.String()+"/settings", url.Values{"sla_stat": {"2"}, "sla_urgent": {"12"},
			"sla_routine": {"72"}, "claim_lease": {"45"}, "critical_ack": {"60"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("Service levels saved.")
		require.Contains(t, br.page, `value="45"`)
	})
	t.Run("RoutingRules", func(t *testing.T) {
		br.get("/admin/rules").sees("Routing rules", "dermatology", "derm-readers", "default", "Add a rule")
		br.post("/admin/rules", url.Values{"name": {"faces"}, "specialty": {"dermatology"}, "body_site": {"face"},
			"reading_group_id": {b.others.Org.ID.String()}, "position": {"10"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("Rule faces added.", "body site face", "other-readers")
		rules, err := b.wl.ListRules(ctx, b.root)
		require.NoError(t, err)
		for _, r := range rules {
			if r.Name != "faces" {
				continue
			}
			br.post("/admin/rules/"+r.ID.String(), url.Values{"name": {"faces and necks"}, "position": {"20"},
				"reading_group_id": {b.readers.Org.ID.String()}})
			require.Equal(t, http.StatusOK, br.status, br.text)
			br.sees("Rule saved.", "faces and necks", "disabled")
			br.post("/admin/rules/"+r.ID.String()+"/delete", url.Values{}).sees("Rule deleted.").notSees("faces and necks")
		}
	})
	t.Run("AuditSearch", func(t *testing.T) {
		br.get("/admin/audit").sees("Audit log", "case.claim", "case.submit")
		br.get("/admin/audit?action=case.claim").sees("case.claim", cs.ID.String()).notSees("case.submit")
		br.get("/admin/audit?since=yesterday")
		require.Equal(t, http.StatusBadRequest, br.status)
		br.sees("must be a date")
	})
	t.Run("Turnaround", func(t *testing.T) {
		br.get("/admin/turnaround")
		require.Equal(t, http.StatusOK, br.status, br.text)
		require.Contains(t, br.page, "<svg")
		br.sees("Stage times, derm-readers", "site-a: submitted → routed", "site-a: routed → claimed",
			"site-a: claimed → signed", "SLA breaches", "No case of this period passed its due time")
		// The case was due an hour after it was routed and signed later.
		_, err := b.env.Pool.Exec(ctx, `UPDATE cases SET due_at = routed_at - interval '1 hour' WHERE id = $1`, cs.ID)
		require.NoError(t, err)
		br.get("/admin/turnaround").sees("SLA breaches per reading group", "Case "+cs.ID.String()[:8], "1 h").
			notSees("No case of this period passed its due time")
		br.get("/admin/turnaround?from=2020-01-01&to=2020-01-31").sees("No case was submitted in this period")
	})
	t.Run("OrgAdminSeesOnlyTheirOrg", func(t *testing.T) {
		e, p := b.person(t, b.siteB.Org, "site-b-admin", identity.RoleOrgAdmin)
		other := b.browser(t).login(e, p)
		other.get("/admin/turnaround").sees("No case was submitted in this period").notSees("derm-readers")
		other.get("/admin/users").notSees(b.siteA.Users[identity.RoleSiteStaff].Email)
		other.get("/admin/audit").notSees(cs.ID.String())
	})
	t.Run("UnroutedAndRouteAgain", func(t *testing.T) {
		br.get("/admin/unrouted").sees("Every submitted case found its reading group")
		rules, err := b.wl.ListRules(ctx, b.root)
		require.NoError(t, err)
		off := false
		for _, r := range rules {
			_, err := b.wl.UpdateRule(ctx, b.root, r.ID, worklist.RuleChange{Enabled: &off})
			require.NoError(t, err)
		}
		stuck := b.submittedCase(t, "Rash. Psoriasis?")
		d, err := b.wl.Route(ctx, stuck.ID)
		require.NoError(t, err)
		require.False(t, d.Routed)
		br.get("/admin/unrouted").sees("Case "+stuck.ID.String()[:8], "site-a", "dermatology", "Route again")
		br.post("/admin/unrouted/"+stuck.ID.String()+"/route", url.Values{})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("Routing queued")
	})
	t.Run("Webhooks", func(t *testing.T) {
		br.get("/admin/webhooks").sees("Webhooks", "Failed deliveries", "No failed deliveries", "No webhooks")
		br.post("/admin/webhooks", url.Values{"org_id": {b.siteA.Org.ID.String()}, "url": {"https://ehr.site-a.example/hook"},
			"description": {"EHR"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("Signing secret of the new webhook", "https://ehr.site-a.example/hook", "active")
		br.get("/admin/webhooks").notSees("Signing secret of the new webhook")
	})
}

// TestAdminWebhookDeliveries: a webhook's page answers "did the EHR get
// report X, and what did it answer?": every delivery to it, newest first,
// filtered by state and paged, each linked to its report's deliveries, with
// Replay on the dead ones, and no patient shown.
func TestAdminWebhookDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var answer atomic.Int32
	answer.Store(http.StatusOK)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(answer.Load()))
	}))
	t.Cleanup(rcv.Close)
	hook, _, err := b.delivery.CreateWebhook(ctx, b.root, delivery.NewWebhook{OrgID: &b.siteA.Org.ID, URL: rcv.URL + "/ehr",
		Description: "site A EHR"})
	require.NoError(t, err)

	// sign reads a case of site A and returns its report and the report's
	// delivery to hook.
	sign := func(question string, critical bool) (uuid.UUID, uuid.UUID) {
		cs := b.readCase(t, question)
		sp := b.readers.Principals[identity.RoleSpecialist]
		_, err := b.wl.Claim(ctx, sp, cs.ID)
		require.NoError(t, err)
		_, err = b.reports.SaveDraft(ctx, sp, cs.ID, reports.Content{Findings: "Pigmented lesion.", Impression: "Naevus.",
			Critical: critical}, nil)
		require.NoError(t, err)
		rep, err := b.reports.Sign(ctx, sp, cs.ID)
		require.NoError(t, err)
		var id uuid.UUID
		require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT id FROM deliveries WHERE report_id = $1 AND webhook_id = $2",
			rep.ID, hook.ID).Scan(&id))
		return rep.ID, id
	}
	okReport, okDelivery := sign("Changing mole. Melanoma?", false)
	_, err = b.delivery.Deliver(ctx, okDelivery, 1, delivery.WebhookMaxAttempts)
	require.NoError(t, err)
	answer.Store(http.StatusServiceUnavailable)
	deadReport, deadDelivery := sign("Rash. Psoriasis?", true)
	_, err = b.delivery.Deliver(ctx, deadDelivery, 1, 1)
	require.Error(t, err, "the last attempt failed: dead-lettered")
	short := func(id uuid.UUID) string { return "Report " + id.String()[:8] }

	email, pw := b.person(t, b.siteA.Org, "site-a-admin", identity.RoleOrgAdmin)
	br := b.browser(t).login(email, pw)
	page := "/admin/webhooks/" + hook.ID.String() + "/deliveries"
	br.get("/admin/webhooks")
	require.Contains(t, br.page, `href="`+page+`"`, "the webhook's address leads to its page")

	br.get(page)
	require.Equal(t, http.StatusOK, br.status, br.text)
	br.sees("Deliveries of a webhook", rcv.URL+"/ehr", "site A EHR", "site-a", short(okReport), short(deadReport),
		"delivered", "dead", "HTTP 200", "HTTP 503", "receiver answered", "critical", "Replay").
		notSees("Ana Pérez", "MRN-42", "Melanoma", "Psoriasis", "Older deliveries", "Newest deliveries")
	require.Less(t, strings.Index(br.text, short(deadReport)), strings.Index(br.text, short(okReport)), "newest first")
	require.Contains(t, br.page, `href="/admin/reports/`+okReport.String()+`/deliveries"`)
	require.Contains(t, br.page, `action="/admin/deliveries/`+deadDelivery.String()+`/replay"`)
	require.NotContains(t, br.page, `action="/admin/deliveries/`+okDelivery.String()+`/replay"`, "only dead ones are replayed")

	t.Run("Filter", func(t *testing.T) {
		br.get(page + "?status=dead").sees(short(deadReport)).notSees(short(okReport))
		require.Contains(t, br.page, `<option value="dead" selected>`)
		br.get(page + "?status=pending").sees("No pending deliveries to this webhook.")
		br.get(page + "?status=queued")
		require.Equal(t, http.StatusBadRequest, br.status)
		br.sees("must be one of delivered, pending, failed, dead")
		br.get(page + "?before=yesterday")
		require.Equal(t, http.StatusBadRequest, br.status)
	})
	t.Run("Replay", func(t *testing.T) {
		br.get(page).post("/admin/deliveries/"+deadDelivery.String()+"/replay", url.Values{})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("Replay queued")
		br.get(page+"?status=failed").sees(short(deadReport), "(1 replays)").notSees(short(okReport))
	})
	t.Run("Paging", func(t *testing.T) {
		// Fifty addenda of the first report, delivered to hook a day ago:
		// 52 deliveries in all, 51 delivered.
		_, err := b.env.Pool.Exec(ctx, `WITH a AS (
			INSERT INTO report_addenda (report_id, text, signer_id, signer_name, signed_at, sha256)
			SELECT $1, 'addendum ' || g, $2, 'Dr Reader', now() - interval '1 day', repeat('ab', 32)
			FROM generate_series(1, 50) g RETURNING id)
			INSERT INTO deliveries (report_id, case_id, site_org_id, event, addendum_id, channel, webhook_id, status,
				attempts, created_at, delivered_at)
			SELECT $1, r.case_id, $3, 'report.addendum', a.id, 'webhook', $4, 'delivered', 1,
				now() - interval '1 day', now() - interval '1 day'
			FROM a, reports r WHERE r.id = $1`,
			okReport, b.readers.Users[identity.RoleSpecialist].ID, b.siteA.Org.ID, hook.ID)
		require.NoError(t, err)
		rows := func() int { return strings.Count(br.page, `data-label="Report"`) }
		older := regexp.MustCompile(`<a href="([^"]+)">Older deliveries</a>`)

		for status, last := range map[string]int{"": 2, "delivered": 1} {
			first := page
			if status != "" {
				first += "?status=" + status
			}
			br.get(first).sees("Older deliveries").notSees("Newest deliveries")
			require.Equal(t, 50, rows(), status)
			m := older.FindStringSubmatch(br.page)
			require.NotNil(t, m, status)
			next := html.UnescapeString(m[1])
			require.Contains(t, next, "before=")
			if status != "" {
				require.Contains(t, next, "status="+status, "the filter holds across pages")
			}
			br.get(next)
			require.Equal(t, http.StatusOK, br.status, br.text)
			br.sees("Newest deliveries", "report.addendum").notSees("Older deliveries", short(deadReport))
			require.Equal(t, last, rows(), status)
		}
	})
	t.Run("OnlyAdmins", func(t *testing.T) {
		staff := b.siteA.Users[identity.RoleSiteStaff]
		sb := b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff))
		sb.get(page)
		require.Equal(t, http.StatusForbidden, sb.status)
		e, p := b.person(t, b.siteB.Org, "site-b-admin", identity.RoleOrgAdmin)
		ob := b.browser(t).login(e, p)
		ob.get(page)
		require.Equal(t, http.StatusNotFound, ob.status)
		ob.notSees(rcv.URL, short(okReport))
	})
}
