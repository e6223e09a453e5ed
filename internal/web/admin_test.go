package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports"
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
