package web_test

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports"
)

// pageAllowed is the expected page x role matrix, written out
// independently of the page sets' rules: S site staff, R referring
// physician, P specialist, A org admin, X platform admin; "*" is public.
// An allowed role reaches the page's handler (which may still answer 404
// for an id it may not see); any other signed-in role gets 403. Routing
// rules and the unrouted list are the platform's, as in the REST API.
var pageAllowed = map[string]string{
	"GET /":                         "*",
	"GET /login":                    "*",
	"POST /login":                   "*",
	"GET /static/*file":             "*",
	"POST /logout":                  "SRPAX",
	"GET /cases/:id":                "SRPAX",
	"GET /cases":                    "SR",
	"GET /cases/new":                "SR",
	"POST /cases":                   "SR",
	"POST /cases/:id/submit":        "SR",
	"POST /cases/:id/cancel":        "SR",
	"POST /cases/:id/answer":        "SR",
	"GET /incoming":                 "S",
	"GET /inbox":                    "SR",
	"GET /cases/:id/report":         "SR",
	"GET /my-cases":                 "R",
	"POST /reports/:id/acknowledge": "R",

	"GET /worklist":                     "P",
	"GET /worklist/:id":                 "P",
	"POST /worklist/:id/claim":          "P",
	"POST /worklist/:id/release":        "P",
	"GET /worklist/:id/photos/:file_id": "P",
	"GET /worklist/:id/report":          "P",

	"GET /admin":                         "AX",
	"GET /admin/users":                   "AX",
	"POST /admin/users":                  "AX",
	"POST /admin/users/:id/tokens":       "AX",
	"POST /admin/tokens/:id/revoke":      "AX",
	"GET /admin/groups":                  "AX",
	"POST /admin/groups/:id/settings":    "AX",
	"GET /admin/rules":                   "X",
	"POST /admin/rules":                  "X",
	"POST /admin/rules/:id":              "X",
	"POST /admin/rules/:id/delete":       "X",
	"GET /admin/webhooks":                "AX",
	"POST /admin/webhooks":               "AX",
	"POST /admin/webhooks/:id/disable":   "AX",
	"GET /admin/webhooks/:id/deliveries": "AX",
	"GET /admin/reports/:id/deliveries":  "AX",
	"POST /admin/deliveries/:id/replay":  "AX",
	"GET /admin/unrouted":                "X",
	"POST /admin/unrouted/:id/route":     "X",
	"GET /admin/audit":                   "AX",
	"GET /admin/turnaround":              "AX",
}

// webRoute reports whether a route of the server is a page of
// internal/web (the others are the REST API, DICOMweb, the viewer and the
// probes, which have matrices of their own).
func webRoute(path string) bool {
	for _, p := range []string{"/api/", "/dicomweb", "/viewer", "/healthz", "/readyz", "/metrics", "/openapi", "/docs"} {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// noRedirects is a client of br's cookies that shows a redirect instead of
// following it.
func noRedirects(br *browser) *http.Client {
	return &http.Client{Jar: br.client.Jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// hit sends method to path (ids filled in) with csrf as the form's token,
// and returns the status and Location.
func hit(t *testing.T, c *http.Client, base, method, path, csrf string) (int, string) {
	t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodPost {
		form := url.Values{}
		if csrf != "" {
			form.Set("csrf_token", csrf)
		}
		req, err = http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, err = http.NewRequest(method, base+path, nil)
		require.NoError(t, err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// fill puts a random id in each parameter of a route's path.
func fill(route string) string {
	parts := strings.Split(route, "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, ":"):
			parts[i] = uuid.NewString()
		case strings.HasPrefix(p, "*"):
			parts[i] = "no-such-file.css"
		}
	}
	return strings.Join(parts, "/")
}

// TestPageRoleMatrix walks every page of the web application as each
// role and as nobody: the matrix above must list exactly the registered
// pages; an allowed role reaches the handler (no 401, 403 or 5xx), any
// other signed-in role gets 403, and nobody is sent to the sign-in page
// (GET) or refused 401 (POST).
func TestPageRoleMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	var registered []string
	for _, r := range b.engine.Routes() {
		if r.Method == http.MethodHead {
			// Each GET page answers HEAD too, under the same rule.
			continue
		}
		if webRoute(r.Path) {
			registered = append(registered, r.Method+" "+r.Path)
		}
	}
	var listed []string
	for k := range pageAllowed {
		listed = append(listed, k)
	}
	sort.Strings(registered)
	sort.Strings(listed)
	require.Equal(t, listed, registered, "pageAllowed must name every page the web application registers")

	platform, err := b.svc.GetOrg(ctx, b.root, b.root.OrgID)
	require.NoError(t, err)
	people := map[byte]struct {
		org  identity.Org
		role identity.Role
		spec []string
	}{
		'S': {b.siteA.Org, identity.RoleSiteStaff, nil},
		'R': {b.siteA.Org, identity.RoleReferringPhysician, nil},
		'P': {b.readers.Org, identity.RoleSpecialist, []string{"dermatology"}},
		'A': {b.siteA.Org, identity.RoleOrgAdmin, nil},
		'X': {platform, identity.RolePlatformAdmin, nil},
	}
	// POST /logout ends the session: walk it last.
	routes := append([]string(nil), listed...)
	sort.SliceStable(routes, func(i, j int) bool { return routes[j] == "POST /logout" && routes[i] != "POST /logout" })

	for letter, who := range people {
		t.Run(string(who.role), func(t *testing.T) {
			t.Parallel()
			email, pw := b.person(t, who.org, "matrix-"+string(who.role), who.role, who.spec...)
			br := b.browser(t).login(email, pw)
			require.Equal(t, http.StatusOK, br.status, br.text)
			csrf := br.csrf()
			require.NotEmpty(t, csrf, "the home page %s carries a CSRF token", br.url)
			c := noRedirects(br)
			for _, route := range routes {
				method, path, _ := strings.Cut(route, " ")
				allowed := pageAllowed[route]
				status, loc := hit(t, c, b.srv.URL, method, fill(path), csrf)
				if method == http.MethodGet {
					head, _ := hit(t, c, b.srv.URL, http.MethodHead, fill(path), csrf)
					if status != http.StatusNotFound || head != http.StatusNotFound {
						require.Equalf(t, status, head, "HEAD %s as %s answers as GET does", path, who.role)
					}
				}
				switch {
				case allowed == "*" || strings.IndexByte(allowed, letter) >= 0:
					require.Falsef(t, status == http.StatusUnauthorized || status == http.StatusForbidden || status >= 500,
						"%s as %s: %d (allowed: %s)", route, who.role, status, allowed)
					if route != "POST /logout" {
						require.NotContainsf(t, loc, "/login", "%s as %s sent to sign in", route, who.role)
					}
				default:
					require.Equalf(t, http.StatusForbidden, status, "%s as %s (allowed: %s)", route, who.role, allowed)
				}
			}
		})
	}

	t.Run("Nobody", func(t *testing.T) {
		t.Parallel()
		c := noRedirects(b.browser(t))
		for _, route := range routes {
			method, path, _ := strings.Cut(route, " ")
			status, loc := hit(t, c, b.srv.URL, method, fill(path), "")
			switch {
			case pageAllowed[route] == "*":
				require.Falsef(t, status == http.StatusUnauthorized || status == http.StatusForbidden || status >= 500,
					"%s as nobody: %d", route, status)
			case method == http.MethodGet:
				require.Equalf(t, http.StatusSeeOther, status, "%s as nobody", route)
				require.Truef(t, strings.HasPrefix(loc, "/login?next="), "%s as nobody goes to %q", route, loc)
			default:
				require.Equalf(t, http.StatusUnauthorized, status, "%s as nobody", route)
			}
		}
	})
}

// TestPageCrossTenant opens every page about one object (a case, its
// photo and report, a user and token, a reading group, a webhook and its
// deliveries, a delivery) of site A and its reading group as the same role of another
// site or group: each must be the not-found page, and none may say the
// patient's name.
func TestPageCrossTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	// Site A's case, routed to b.readers, claimed, signed and delivered.
	cs := b.readCase(t, "Changing mole. Melanoma?")
	sp := b.readers.Principals[identity.RoleSpecialist]
	files, err := b.intake.CaseFiles(ctx, sp, cs.ID)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	_, err = b.wl.Claim(ctx, sp, cs.ID)
	require.NoError(t, err)
	_, err = b.reports.SaveDraft(ctx, sp, cs.ID, reports.Content{Findings: "Pigmented lesion.", Impression: "Benign naevus."}, nil)
	require.NoError(t, err)
	rep, err := b.reports.Sign(ctx, sp, cs.ID)
	require.NoError(t, err)
	deliverInbox(t, b, rep.ID)
	var deliveryID uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT id FROM deliveries WHERE report_id = $1 LIMIT 1", rep.ID).Scan(&deliveryID))

	staffA := b.siteA.Users[identity.RoleSiteStaff]
	tok, _, err := b.svc.CreateToken(ctx, b.root, identity.NewToken{UserID: staffA.ID, Name: "site A bridge"})
	require.NoError(t, err)
	hook, _, err := b.delivery.CreateWebhook(ctx, b.root, delivery.NewWebhook{OrgID: &b.siteA.Org.ID,
		URL: "https://ehr.site-a.example/hook", Description: "site A EHR"})
	require.NoError(t, err)

	caseID, fileID, reportID := cs.ID.String(), files[0].ID.String(), rep.ID.String()
	tests := []struct {
		org    identity.Org
		role   identity.Role
		spec   []string
		routes []string
	}{
		{b.siteB.Org, identity.RoleSiteStaff, nil, []string{
			"GET /cases/" + caseID, "GET /cases/" + caseID + "/report",
			"POST /cases/" + caseID + "/submit", "POST /cases/" + caseID + "/cancel", "POST /cases/" + caseID + "/answer"}},
		{b.siteB.Org, identity.RoleReferringPhysician, nil, []string{
			"GET /cases/" + caseID, "GET /cases/" + caseID + "/report", "POST /reports/" + reportID + "/acknowledge"}},
		{b.others.Org, identity.RoleSpecialist, []string{"dermatology"}, []string{
			"GET /cases/" + caseID, "GET /worklist/" + caseID, "GET /worklist/" + caseID + "/report",
			"GET /worklist/" + caseID + "/photos/" + fileID,
			"POST /worklist/" + caseID + "/claim", "POST /worklist/" + caseID + "/release"}},
		{b.siteB.Org, identity.RoleOrgAdmin, nil, []string{
			"GET /cases/" + caseID,
			"POST /admin/users/" + staffA.ID.String() + "/tokens", "POST /admin/tokens/" + tok.ID.String() + "/revoke",
			"POST /admin/webhooks/" + hook.ID.String() + "/disable", "GET /admin/webhooks/" + hook.ID.String() + "/deliveries",
			"GET /admin/reports/" + reportID + "/deliveries", "POST /admin/deliveries/" + deliveryID.String() + "/replay"}},
		{b.others.Org, identity.RoleOrgAdmin, nil, []string{
			"POST /admin/groups/" + b.readers.Org.ID.String() + "/settings"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.role)+"Of"+tc.org.Slug, func(t *testing.T) {
			t.Parallel()
			email, pw := b.person(t, tc.org, "stranger-"+string(tc.role), tc.role, tc.spec...)
			br := b.browser(t).login(email, pw)
			require.Equal(t, http.StatusOK, br.status, br.text)
			csrf := br.csrf()
			for _, route := range tc.routes {
				method, path, _ := strings.Cut(route, " ")
				if method == http.MethodGet {
					br.get(path)
				} else {
					// Valid fields, so that only the scope can refuse.
					br.postRaw(path, url.Values{"csrf_token": {csrf}, "name": {"x"}, "days": {"1"},
						"sla_stat": {"4"}, "sla_urgent": {"24"}, "sla_routine": {"72"}, "claim_lease": {"30"}, "critical_ack": {"60"}})
				}
				require.Equalf(t, http.StatusNotFound, br.status, "%s as %s of %s: %s", route, tc.role, tc.org.Slug, br.text)
				br.notSees("Ana Pérez", "MRN-42", "Changing mole")
			}
		})
	}

	// The objects are untouched: the token is live, the webhook enabled.
	toks, err := b.svc.ListTokens(ctx, b.root, &staffA.ID)
	require.NoError(t, err)
	for _, tk := range toks {
		if tk.ID == tok.ID {
			require.Nil(t, tk.RevokedAt, "another site's admin revoked site A's token")
		}
	}
	hooks, err := b.delivery.ListWebhooks(ctx, b.root, &b.siteA.Org.ID)
	require.NoError(t, err)
	require.Len(t, hooks, 1)
	require.Nil(t, hooks[0].DisabledAt, "another site's admin disabled site A's webhook")
}
