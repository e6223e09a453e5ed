package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

type testBundle struct {
	env      *testenv.Env
	engine   *gin.Engine
	srv      *httptest.Server
	svc      *identity.Service
	platform *testenv.Tenant
	siteA    *testenv.Tenant
	siteB    *testenv.Tenant
	readers  *testenv.Tenant
}

type setupOpts struct {
	rateLimit int
	maxBody   int64
	checks    []httpapi.Check
}

func setup(t *testing.T, opts setupOpts) *testBundle {
	t.Helper()
	env := testenv.New(t)
	if opts.maxBody == 0 {
		opts.maxBody = 1 << 20
	}
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: opts.maxBody, MaxUploadBytes: 64 << 20, RateLimitPerMinute: opts.rateLimit,
		Checks: opts.checks, Pool: env.Pool, Identity: identity.NewService(env.Pool), Cases: cases.NewService(env.Pool, river),
		Delivery: delivery.NewService(env.Pool, river, nil, delivery.Options{AllowPrivateWebhooks: true})})
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	b := &testBundle{env: env, engine: engine, srv: srv}

	fx := testenv.NewFixtures(t, env)
	b.svc = fx.Service
	b.platform = fx.Tenant(t, identity.OrgPlatform, "platform", nil, identity.RolePlatformAdmin)
	b.siteA = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.siteB = fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.readers = fx.Tenant(t, identity.OrgReadingGroup, "derm-readers", []string{"dermatology"}, identity.RoleSpecialist, identity.RoleOrgAdmin)
	return b
}

// call makes a request with a bearer token (none when token is "").
func (b *testBundle) call(t *testing.T, method, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	validateResponse(t, req, resp, raw)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	if resp.StatusCode >= 400 {
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), string(raw))
		require.NotContains(t, string(raw), "goroutine", "no stack traces in answers")
	}
	return resp, out
}

func auditCount(t *testing.T, b *testBundle) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_events").Scan(&n))
	return n
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	resp, _ := b.call(t, http.MethodGet, "/api/v1/me", b.siteA.Tokens[identity.RoleSiteStaff], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy"} {
		require.NotEmpty(t, resp.Header.Get(h), h)
	}
}

func TestBadCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	staff := b.siteA.Users[identity.RoleSiteStaff]
	admin, err := b.svc.AuthenticateToken(ctx, b.siteA.Tokens[identity.RoleOrgAdmin])
	require.NoError(t, err)

	// An expired token: made with a one-minute life, then aged in SQL.
	expiring, secret, err := b.svc.CreateToken(ctx, admin, identity.NewToken{UserID: staff.ID, Name: "short", TTL: 60e9})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", expiring.ID)
	require.NoError(t, err)
	revoked, revokedSecret, err := b.svc.CreateToken(ctx, admin, identity.NewToken{UserID: staff.ID, Name: "gone"})
	require.NoError(t, err)
	_, err = b.svc.RevokeToken(ctx, admin, revoked.ID)
	require.NoError(t, err)

	before := auditCount(t, b)
	for name, tc := range map[string]struct {
		header string
		detail string
	}{
		"NoToken":         {"", "authentication required"},
		"NotBearer":       {"Digest username=\"u\"", "malformed Authorization header"},
		"BasicNotAToken":  {"Basic dXNlcjpwYXNz", "malformed token"},
		"BasicNoPassword": {"Basic dXNlcg==", "API token as the password"},
		"EmptyBearer":     {"Bearer ", "malformed Authorization header"},
		"MalformedToken":  {"Bearer not-a-token", "malformed token"},
		"UnknownToken":    {"Bearer trt_" + strings.Repeat("A", 43), "invalid or expired credentials"},
		"ExpiredToken":    {"Bearer " + secret, "expired"},
		"RevokedToken":    {"Bearer " + revokedSecret, "revoked"},
		"GarbageSession":  {"", "authentication required"},
		"HugeHeaderToken": {"Bearer trt_" + strings.Repeat("x", 5000), "malformed token"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/tokens", strings.NewReader(`{"name":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, body := do(t, req)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Contains(t, body["detail"], tc.detail)
			require.Equal(t, "unauthorized", body["code"])
		})
	}
	require.Equal(t, before, auditCount(t, b), "refused requests write nothing")
	var n int
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT count(*) FROM api_tokens WHERE name = 'x'").Scan(&n))
	require.Zero(t, n)
}

func TestBodyLimitsAndContentType(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{maxBody: 1024})
	token := b.siteA.Tokens[identity.RoleOrgAdmin]
	before := auditCount(t, b)

	big := map[string]any{"name": strings.Repeat("n", 4096)}
	resp, body := b.call(t, http.MethodPost, "/api/v1/tokens", token, big)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, body)

	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/tokens", strings.NewReader(`name=x`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, body = do(t, req)
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, body)

	req, _ = http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/tokens", strings.NewReader(`{"name":`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, body = do(t, req)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	require.Contains(t, body["detail"], "malformed JSON")

	resp, body = b.call(t, http.MethodPost, "/api/v1/tokens", token, map[string]any{"name": "x", "nmae": "typo"})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	require.Contains(t, body["detail"], `unknown field "nmae"`)

	resp, body = b.call(t, http.MethodPost, "/api/v1/users", token, map[string]any{"email": "bad", "roles": []string{"specialist"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	fields := body["fields"].(map[string]any)
	require.Contains(t, fields, "email")
	require.Contains(t, fields, "name")
	require.Contains(t, fields["roles"], "reading group")

	require.Equal(t, before, auditCount(t, b), "refused requests write nothing")
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{rateLimit: 60}) // burst of 10
	token := b.siteA.Tokens[identity.RoleSiteStaff]
	var limited *http.Response
	for range 30 {
		resp, _ := b.call(t, http.MethodGet, "/api/v1/me", token, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.NotNil(t, limited, "the 30th request within a second is over a 60/min budget")
	require.NotEmpty(t, limited.Header.Get("Retry-After"))
	// Another caller has a budget of its own.
	resp, _ := b.call(t, http.MethodGet, "/api/v1/me", b.siteB.Tokens[identity.RoleSiteStaff], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
