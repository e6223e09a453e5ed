package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/config"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/edge"
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
	limits  edge.Limits
	maxBody int64
	checks  []httpapi.Check
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
		MaxRequestBytes: opts.maxBody, MaxUploadBytes: 64 << 20, Limits: opts.limits,
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

// defaultLimits are the limits of a server started with the default
// configuration, so that the tests below hold the defaults themselves to
// what they promise.
func defaultLimits(t *testing.T) edge.Limits {
	t.Helper()
	required := map[string]string{"TELEREAD_DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db",
		"TELEREAD_S3_ENDPOINT": "127.0.0.1:9000", "TELEREAD_S3_ACCESS_KEY": "k", "TELEREAD_S3_SECRET_KEY": "s"}
	cfg, err := config.Load(func(k string) string { return required[k] })
	require.NoError(t, err)
	return edge.Limits(cfg.Limits)
}

// requireRateLimited checks a 429 answer: problem+json with code
// rate_limited, a reason, and Retry-After in whole seconds.
func requireRateLimited(t *testing.T, resp *http.Response, body map[string]any, detail string) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, body)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is a number of seconds")
	require.Positive(t, secs)
	require.Equal(t, "rate_limited", body["code"])
	require.Contains(t, body["detail"], detail)
}

// TestDefaultLimitsAdmitOneInstancePerRequest sends 2,000 one-instance
// uploads of one site, 16 at a time as DICOMweb clients and Orthanc peers
// do, through the real router with the default limits: each instance is a
// real upload (a distinct small CT image into a draft case), and none is
// answered 429. Other requests of the same token (reading the case, which
// no limit counts) go through too.
func TestDefaultLimitsAdmitOneInstancePerRequest(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("2,000 uploads")
	}
	b := withLimits(t, setupFiles(t), defaultLimits(t))
	caseID := b.newCase(t)
	const total, clients = 2000, 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		failures []string
	)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range total / clients {
				img, n := synthDICOM(fmt.Sprintf("1.2.826.0.1.3680043.2.1143.11.%d.%d", w, i), 16, 16, 1)
				raw := make([]byte, n)
				_, err := io.ReadFull(img, raw)
				if err != nil {
					panic(err)
				}
				body, ct := multipartBody(t, filePart(fmt.Sprintf("%d-%d.dcm", w, i), raw))
				req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/cases/"+caseID+"/files", body)
				if err != nil {
					panic(err)
				}
				req.Header.Set("Content-Type", ct)
				req.Header.Set("Authorization", "Bearer "+b.staffA)
				resp, err := http.DefaultClient.Do(req)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					statuses[resp.StatusCode]++
					if resp.StatusCode != http.StatusCreated && len(failures) < 5 {
						raw, _ := io.ReadAll(resp.Body)
						failures = append(failures, string(raw))
					}
					_ = resp.Body.Close()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, map[int]int{http.StatusCreated: total}, statuses, failures)
	require.Equal(t, total, b.count(t, "SELECT count(*) FROM files WHERE case_id = $1", caseID))
	for range 100 {
		resp, body := b.call(t, http.MethodGet, "/api/v1/cases/"+caseID, b.staffA, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
	}
}

// withLimits is b with a router that has limits l.
func withLimits(t *testing.T, b *filesBundle, l edge.Limits) *filesBundle {
	t.Helper()
	river, err := jobs.NewClient(b.env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 30, Limits: l, Pool: b.env.Pool,
		Identity: identity.NewService(b.env.Pool), Cases: cases.NewService(b.env.Pool, river), Intake: b.intake, Jobs: river})
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	tb := *b.testBundle
	tb.engine, tb.srv = engine, srv
	out := *b
	out.testBundle = &tb
	return &out
}

// TestLoginRateLimit signs in from one address beyond the default budget:
// once the burst is spent (less what refills while the passwords are
// checked), sign-ins are answered 429 with Retry-After, whatever e-mail
// they name and even with the right password. (The per-e-mail failure
// throttle of identity is another limit, tested there.)
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	l := defaultLimits(t)
	require.Positive(t, l.AuthPerMinute, "sign-ins are rate limited by default")
	b := setup(t, setupOpts{limits: l})
	login := func(email, password string) (*http.Response, map[string]any) {
		return b.call(t, http.MethodPost, "/api/v1/auth/login", "", map[string]any{"email": email, "password": password})
	}
	var (
		resp *http.Response
		body map[string]any
		n    int
	)
	for n = 0; n < 3*l.AuthBurst; n++ {
		resp, body = login(fmt.Sprintf("nobody-%d@example.org", n), "wrong")
		if resp.StatusCode != http.StatusUnauthorized {
			break
		}
	}
	requireRateLimited(t, resp, body, "from this address")
	require.GreaterOrEqual(t, n, l.AuthBurst, "the burst is served")
	// The budget refills as time passes (one request every 60/AuthPerMinute
	// s); on a loaded machine one refill may fall between two requests, so
	// of two requests sent at once, at least the second is refused.
	refused := func(send func() (*http.Response, map[string]any)) {
		t.Helper()
		resp, body := send()
		if resp.StatusCode != http.StatusTooManyRequests {
			resp, body = send()
		}
		requireRateLimited(t, resp, body, "from this address")
	}
	refused(func() (*http.Response, map[string]any) {
		return login(b.siteA.Users[identity.RoleSiteStaff].Email, testenv.PasswordFor(identity.RoleSiteStaff))
	})

	// Token creation is under the same budget per address; other requests are not.
	refused(func() (*http.Response, map[string]any) {
		return b.call(t, http.MethodPost, "/api/v1/tokens", b.siteA.Tokens[identity.RoleSiteStaff], map[string]any{"name": "more"})
	})
	for range 100 {
		resp, body := b.call(t, http.MethodGet, "/api/v1/me", b.siteA.Tokens[identity.RoleSiteStaff], nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
	}
}

// TestSearchRateLimit floods QIDO-RS and the case list with one token
// under the default limits: after the burst, searches are answered 429
// with Retry-After; another token's searches go through.
func TestSearchRateLimit(t *testing.T) {
	t.Parallel()
	l := defaultLimits(t)
	require.Positive(t, l.SearchPerMinute, "searches are rate limited by default")
	b := setup(t, setupOpts{limits: l})
	token := b.siteA.Tokens[identity.RoleSiteStaff]
	for _, path := range []string{"/dicomweb/studies", "/api/v1/cases"} {
		t.Run(path, func(t *testing.T) {
			var (
				served int
				resp   *http.Response
				body   map[string]any
			)
			// The burst goes through at once; the flood outruns the refill
			// (searches that each took a whole refill interval would never
			// be refused, and the loop ends).
			for served = 0; served < 20*l.SearchBurst; served++ {
				resp, body = search(t, b, path, token)
				if resp.StatusCode != http.StatusOK {
					break
				}
			}
			requireRateLimited(t, resp, body, "searches")
			require.GreaterOrEqual(t, served, l.SearchBurst, "the burst is served")
			token = b.siteA.Tokens[identity.RoleReferringPhysician] // the next path starts with a fresh budget
		})
	}
	resp, body := search(t, b, "/dicomweb/studies", b.siteB.Tokens[identity.RoleSiteStaff])
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
}

// search GETs path with token; a JSON array answer (QIDO-RS) is returned
// as no body, a problem as its members.
func search(t *testing.T, b *testBundle, path, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if resp.StatusCode != http.StatusOK {
		require.Equal(t, edge.ProblemContentType, resp.Header.Get("Content-Type"), string(raw))
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp, out
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
