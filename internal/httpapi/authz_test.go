package httpapi_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
)

// allowed is the expected route x role matrix, written out independently of
// the policy table: S site staff, R referring physician, P specialist,
// A org admin, X platform admin; "*" is public.
var allowed = map[string]string{
	"POST /api/v1/auth/login":   "*",
	"POST /api/v1/auth/logout":  "SRPAX",
	"GET /api/v1/me":            "SRPAX",
	"GET /api/v1/orgs":          "AX",
	"POST /api/v1/orgs":         "X",
	"GET /api/v1/orgs/:id":      "AX",
	"GET /api/v1/users":         "AX",
	"POST /api/v1/users":        "AX",
	"GET /api/v1/users/:id":     "AX",
	"PATCH /api/v1/users/:id":   "AX",
	"GET /api/v1/tokens":        "SRPAX",
	"POST /api/v1/tokens":       "SRPAX",
	"DELETE /api/v1/tokens/:id": "SRPAX",
	"GET /api/v1/audit":         "AX",

	"POST /api/v1/cases":             "SR",
	"GET /api/v1/cases":              "SRPAX",
	"GET /api/v1/cases/:id":          "SRPAX",
	"PATCH /api/v1/cases/:id":        "SR",
	"GET /api/v1/cases/:id/events":   "SRPAX",
	"PUT /api/v1/cases/:id/manifest": "SR",
	"GET /api/v1/cases/:id/manifest": "SRPAX",
	"POST /api/v1/cases/:id/submit":  "SR",
	"POST /api/v1/cases/:id/cancel":  "SRA",

	"POST /api/v1/cases/:id/files":                       "SR",
	"GET /api/v1/cases/:id/files":                        "SRPAX",
	"POST /api/v1/cases/:id/files/lookup":                "SR",
	"GET /api/v1/cases/:id/studies":                      "SRPAX",
	"POST /api/v1/cases/:id/incoming-studies":            "SR",
	"GET /api/v1/incoming-studies":                       "SRA",
	"POST /api/v1/cases/:id/uploads":                     "SR",
	"GET /api/v1/cases/:id/uploads/:upload_id":           "SR",
	"POST /api/v1/cases/:id/uploads/:upload_id/complete": "SR",
	"GET /api/v1/files/:id":                              "SRPAX",
	"GET /api/v1/files/:id/content":                      "SRPAX",
	"GET /api/v1/files/:id/preview":                      "SRPAX",
	"GET /api/v1/files/:id/thumbnail":                    "SRPAX",

	"GET /api/v1/worklist":                    "P",
	"POST /api/v1/cases/:id/claim":            "P",
	"POST /api/v1/cases/:id/release":          "PA",
	"POST /api/v1/cases/:id/reassign":         "AX",
	"POST /api/v1/cases/:id/request-info":     "P",
	"POST /api/v1/cases/:id/route":            "X",
	"GET /api/v1/unrouted":                    "X",
	"GET /api/v1/routing-rules":               "X",
	"POST /api/v1/routing-rules":              "X",
	"PATCH /api/v1/routing-rules/:id":         "X",
	"DELETE /api/v1/routing-rules/:id":        "X",
	"GET /api/v1/reading-groups/:id/settings": "AX",
	"PUT /api/v1/reading-groups/:id/settings": "AX",

	"GET /api/v1/cases/:id/report":          "SRPAX",
	"PUT /api/v1/cases/:id/report":          "P",
	"POST /api/v1/cases/:id/report/sign":    "P",
	"POST /api/v1/cases/:id/report/addenda": "P",
	"GET /api/v1/reports/:id":               "SRPAX",
	"GET /api/v1/reports/:id/pdf":           "SRPAX",
	"GET /api/v1/reports/:id/fhir":          "SRPAX",

	"GET /api/v1/inbox":                    "SRA",
	"POST /api/v1/reports/:id/acknowledge": "R",
	"GET /api/v1/reports/:id/deliveries":   "AX",
	"GET /api/v1/webhooks":                 "AX",
	"POST /api/v1/webhooks":                "AX",
	"DELETE /api/v1/webhooks/:id":          "AX",
	"GET /api/v1/deliveries/dead":          "AX",
	"POST /api/v1/deliveries/:id/replay":   "AX",
	"GET /api/v1/escalations":              "AX",
	"GET /api/v1/stats":                    "AX",
}

var roleLetter = map[identity.Role]string{
	identity.RoleSiteStaff: "S", identity.RoleReferringPhysician: "R", identity.RoleSpecialist: "P",
	identity.RoleOrgAdmin: "A", identity.RolePlatformAdmin: "X",
}

// TestRouteRoleMatrix walks every registered /api/v1 route for every role:
// a route missing from the matrix fails, and each role is allowed (not 401
// or 403) or denied (403) as the matrix says.
func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	tokens := map[identity.Role]string{
		identity.RoleSiteStaff:          b.siteA.Tokens[identity.RoleSiteStaff],
		identity.RoleReferringPhysician: b.siteA.Tokens[identity.RoleReferringPhysician],
		identity.RoleSpecialist:         b.readers.Tokens[identity.RoleSpecialist],
		identity.RoleOrgAdmin:           b.siteA.Tokens[identity.RoleOrgAdmin],
		identity.RolePlatformAdmin:      b.platform.Tokens[identity.RolePlatformAdmin],
	}
	seen := map[string]bool{}
	for _, route := range b.engine.Routes() {
		if !strings.HasPrefix(route.Path, "/api/v1/") {
			continue
		}
		key := route.Method + " " + route.Path
		seen[key] = true
		want, ok := allowed[key]
		require.True(t, ok, "route %s has no row in the expected matrix: add one (and a policy rule)", key)
		path := strings.ReplaceAll(route.Path, ":upload_id", uuid.NewString())
		path = strings.ReplaceAll(path, ":id", uuid.NewString())
		for role, token := range tokens {
			if key == "POST /api/v1/auth/logout" {
				continue // bearer callers have no session to end; covered by TestSessionLoginAndCSRF
			}
			resp, body := b.call(t, route.Method, path, token, map[string]any{})
			if want == "*" || strings.Contains(want, roleLetter[role]) {
				require.NotContains(t, []int{401, 403}, resp.StatusCode, "%s as %s: %v", key, role, body)
			} else {
				require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s as %s: %v", key, role, body)
			}
		}
		if want != "*" {
			resp, _ := b.call(t, route.Method, path, "", map[string]any{})
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without a token", key)
		}
	}
	for key := range allowed {
		require.True(t, seen[key], "matrix row %s has no route", key)
	}
}

// TestCrossTenant tries every object-level route with another
// organisation's admin: each answer is 404, and nothing changes.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	adminB := b.siteB.Tokens[identity.RoleOrgAdmin]
	staffB := b.siteB.Tokens[identity.RoleSiteStaff]
	userA := b.siteA.Users[identity.RoleSiteStaff]
	admA, err := b.svc.AuthenticateToken(ctx, b.siteA.Tokens[identity.RoleOrgAdmin])
	require.NoError(t, err)
	tokA, _, err := b.svc.CreateToken(ctx, admA, identity.NewToken{UserID: userA.ID, Name: "a"})
	require.NoError(t, err)

	for _, tc := range []struct {
		method, path, token string
		body                any
	}{
		{http.MethodGet, "/api/v1/orgs/" + b.siteA.Org.ID.String(), adminB, nil},
		{http.MethodGet, "/api/v1/users/" + userA.ID.String(), adminB, nil},
		{http.MethodPatch, "/api/v1/users/" + userA.ID.String(), adminB, map[string]any{"disabled": true}},
		{http.MethodPost, "/api/v1/users", adminB, map[string]any{"org_id": b.siteA.Org.ID, "email": "x@y.example",
			"name": "X", "roles": []string{"site_staff"}}},
		{http.MethodPost, "/api/v1/tokens", adminB, map[string]any{"user_id": userA.ID, "name": "steal"}},
		{http.MethodDelete, "/api/v1/tokens/" + tokA.ID.String(), adminB, nil},
		{http.MethodDelete, "/api/v1/tokens/" + tokA.ID.String(), staffB, nil},
		// A non-admin of the same organisation cannot touch a colleague's token.
		{http.MethodDelete, "/api/v1/tokens/" + tokA.ID.String(), b.siteA.Tokens[identity.RoleReferringPhysician], nil},
	} {
		resp, body := b.call(t, tc.method, tc.path, tc.token, tc.body)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s: %v", tc.method, tc.path, body)
	}

	// Lists are scoped: site B's admin sees only site B.
	_, body := b.call(t, http.MethodGet, "/api/v1/users", adminB, nil)
	for _, u := range body["items"].([]any) {
		require.Equal(t, b.siteB.Org.ID.String(), u.(map[string]any)["org_id"])
	}
	_, body = b.call(t, http.MethodGet, "/api/v1/users?org_id="+b.siteA.Org.ID.String(), adminB, nil)
	require.Empty(t, body["items"])
	_, body = b.call(t, http.MethodGet, "/api/v1/orgs", adminB, nil)
	require.Len(t, body["items"], 1)
	_, body = b.call(t, http.MethodGet, "/api/v1/audit?object_id="+userA.ID.String(), adminB, nil)
	require.Empty(t, body["items"], "site B's admin sees none of site A's audit events")
	_, body = b.call(t, http.MethodGet, "/api/v1/audit?object_id="+userA.ID.String(), b.siteA.Tokens[identity.RoleOrgAdmin], nil)
	require.NotEmpty(t, body["items"])

	// Nothing changed.
	var disabled, stolen int
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT count(*) FROM users WHERE disabled_at IS NOT NULL").Scan(&disabled))
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT count(*) FROM api_tokens WHERE name = 'steal' OR revoked_at IS NOT NULL").Scan(&stolen))
	require.Zero(t, disabled)
	require.Zero(t, stolen)
}

func TestAdminFlowIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	admin := b.siteA.Tokens[identity.RoleOrgAdmin]
	resp, user := b.call(t, http.MethodPost, "/api/v1/users", admin, map[string]any{
		"email": "new@site-a.example", "name": "New Staff", "roles": []string{"site_staff"}})
	require.Equal(t, http.StatusCreated, resp.StatusCode, user)
	require.Equal(t, b.siteA.Org.ID.String(), user["org_id"])

	resp, body := b.call(t, http.MethodPost, "/api/v1/users", admin, map[string]any{
		"email": "new@site-a.example", "name": "Again", "roles": []string{"site_staff"}})
	require.Equal(t, http.StatusConflict, resp.StatusCode, body)

	resp, tok := b.call(t, http.MethodPost, "/api/v1/tokens", admin, map[string]any{"user_id": user["id"], "name": "cli"})
	require.Equal(t, http.StatusCreated, resp.StatusCode, tok)
	secret := tok["token"].(string)
	require.True(t, strings.HasPrefix(secret, "trt_"))

	resp, me := b.call(t, http.MethodGet, "/api/v1/me", secret, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "new@site-a.example", me["email"])

	_, list := b.call(t, http.MethodGet, "/api/v1/tokens?user_id="+user["id"].(string), admin, nil)
	require.Len(t, list["items"], 1)
	require.NotContains(t, list["items"].([]any)[0], "token", "the secret is shown only once")
	require.NotNil(t, list["items"].([]any)[0].(map[string]any)["last_used_at"])

	resp, _ = b.call(t, http.MethodDelete, "/api/v1/tokens/"+tok["id"].(string), admin, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = b.call(t, http.MethodGet, "/api/v1/me", secret, nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, _ = b.call(t, http.MethodPatch, "/api/v1/users/"+user["id"].(string), admin, map[string]any{"roles": []string{"platform_admin"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "an org admin cannot grant platform_admin")

	_, page := b.call(t, http.MethodGet, "/api/v1/audit?limit=2", admin, nil)
	require.Len(t, page["items"], 2)
	require.NotEmpty(t, page["next_cursor"])
	_, page2 := b.call(t, http.MethodGet, "/api/v1/audit?limit=2&cursor="+page["next_cursor"].(string), admin, nil)
	require.Len(t, page2["items"], 2)
	_, revokes := b.call(t, http.MethodGet, "/api/v1/audit?action=token.revoke", admin, nil)
	require.Len(t, revokes["items"], 1)
	ev := revokes["items"].([]any)[0].(map[string]any)
	require.Equal(t, tok["id"], ev["object_id"])
	require.Equal(t, b.siteA.Users[identity.RoleOrgAdmin].ID.String(), ev["actor_id"])
	require.NotEmpty(t, ev["request_id"])
	require.Equal(t, "127.0.0.1", ev["client_ip"])
}

func TestSessionLoginAndCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	post := func(path, body, csrf string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	email := b.siteA.Users[identity.RoleSiteStaff].Email

	resp := post("/api/v1/auth/login", `{"email":"`+email+`","password":"wrong password!"}`, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/auth/login",
		strings.NewReader(`{"email":"`+strings.ToUpper(email)+`","password":"correct horse battery staple"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, me := doWith(t, client, req)
	require.Equal(t, http.StatusOK, resp.StatusCode, me)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "teleread_session" {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	require.True(t, cookie.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, cookie.SameSite)
	csrf := me["csrf_token"].(string)

	req, _ = http.NewRequest(http.MethodGet, b.srv.URL+"/api/v1/me", nil)
	resp, _ = doWith(t, client, req)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the session cookie authenticates")

	resp = post("/api/v1/tokens", `{"name":"from-ui"}`, "")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF token")
	resp = post("/api/v1/tokens", `{"name":"from-ui"}`, "wrong")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "wrong CSRF token")
	resp = post("/api/v1/tokens", `{"name":"from-ui"}`, csrf)
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	resp = post("/api/v1/auth/logout", ``, csrf)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	req, _ = http.NewRequest(http.MethodGet, b.srv.URL+"/api/v1/me", nil)
	req.AddCookie(cookie)
	resp, _ = do(t, req)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the session ended")
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	email := b.siteB.Users[identity.RoleSiteStaff].Email
	login := func(password string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/auth/login",
			strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, _ := do(t, req)
		return resp
	}
	for range 5 {
		require.Equal(t, http.StatusUnauthorized, login("nope nope nope").StatusCode)
	}
	resp := login("correct horse battery staple")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "even the right password waits")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	_, body := b.call(t, http.MethodGet, "/api/v1/audit?action=login.fail", b.platform.Tokens[identity.RolePlatformAdmin], nil)
	require.Len(t, body["items"], 5)
}

func doWith(t *testing.T, c *http.Client, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = jsonDecode(resp, &out)
	return resp, out
}
