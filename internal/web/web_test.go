package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

// testBundle is a server with every service, the web pages mounted, and
// tenants: site A and B, a dermatology reading group and another one.
type testBundle struct {
	env      *testenv.Env
	engine   *gin.Engine
	srv      *httptest.Server
	svc      *identity.Service
	cases    *cases.Service
	intake   *intake.Service
	wl       *worklist.Service
	reports  *reports.Service
	delivery *delivery.Service
	root     *identity.Principal
	siteA    *testenv.Tenant
	siteB    *testenv.Tenant
	readers  *testenv.Tenant
	others   *testenv.Tenant
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	idn := identity.NewService(env.Pool)
	cs := cases.NewService(env.Pool, river)
	in := intake.New(env.Pool, env.Blob, cs, river, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})
	wl := worklist.NewService(env.Pool)
	rs := reports.NewService(env.Pool, env.Blob, river, wl, delivery.NewOpener(env.Pool),
		reports.Options{PublicURL: "https://teleread.example"})
	dl := delivery.NewService(env.Pool, river, rs, delivery.Options{AllowPrivateWebhooks: true})
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 64 << 20, Pool: env.Pool, Identity: idn, Cases: cs,
		Intake: in, Worklist: wl, Reports: rs, Delivery: dl, Jobs: river})
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	fx := testenv.NewFixtures(t, env)
	b := &testBundle{env: env, engine: engine, srv: srv, svc: idn, cases: cs, intake: in, wl: wl, reports: rs, delivery: dl, root: fx.Root()}
	b.siteA = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	b.siteB = fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff)
	b.readers = fx.Tenant(t, identity.OrgReadingGroup, "derm-readers", []string{"dermatology"}, identity.RoleSpecialist)
	b.others = fx.Tenant(t, identity.OrgReadingGroup, "other-readers", []string{"dermatology"}, identity.RoleSpecialist)
	return b
}

// person makes a user of role in org with a password and returns their
// e-mail address and password.
func (b *testBundle) person(t *testing.T, org identity.Org, name string, role identity.Role, specialties ...string) (string, string) {
	t.Helper()
	email, pw := name+"@"+org.Slug+".example", "password of "+name
	_, err := b.svc.CreateUser(context.Background(), b.root, identity.NewUser{OrgID: org.ID, Email: email, Name: name,
		Roles: []identity.Role{role}, Specialties: specialties, Password: pw})
	require.NoError(t, err)
	return email, pw
}

// browser is a person's browser: cookies, and the page it shows.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
	// status, page and text are the last answer, its HTML and what a
	// person reads of it.
	status int
	url    string
	page   string
	text   string
}

func (b *testBundle) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: b.srv.URL, client: &http.Client{Jar: jar}}
}

var (
	tags   = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]+>`)
	spaces = regexp.MustCompile(`\s+`)
	csrfRe = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

func (br *browser) keep(resp *http.Response) {
	br.t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(br.t, err)
	br.status, br.url, br.page = resp.StatusCode, resp.Request.URL.Path, string(raw)
	br.text = strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(br.page, " ")), " "))
	require.NotContains(br.t, br.page, "goroutine", "no stack traces on pages")
}

// get opens a page.
func (br *browser) get(path string) *browser {
	br.t.Helper()
	resp, err := br.client.Get(br.base + path)
	require.NoError(br.t, err)
	br.keep(resp)
	return br
}

// csrf is the CSRF token of the page shown.
func (br *browser) csrf() string {
	m := csrfRe.FindStringSubmatch(br.page)
	if m == nil {
		return ""
	}
	return m[1]
}

// post sends a form as the page shown would, with its CSRF token.
func (br *browser) post(path string, form url.Values) *browser {
	br.t.Helper()
	if tok := br.csrf(); tok != "" && form.Get("csrf_token") == "" {
		form.Set("csrf_token", tok)
	}
	return br.postRaw(path, form)
}

// postRaw sends a form as it is.
func (br *browser) postRaw(path string, form url.Values) *browser {
	br.t.Helper()
	resp, err := br.client.PostForm(br.base+path, form)
	require.NoError(br.t, err)
	br.keep(resp)
	return br
}

func (br *browser) login(email, password string) *browser {
	br.t.Helper()
	return br.get("/login").post("/login", url.Values{"email": {email}, "password": {password}})
}

// sees asserts the page says each of texts.
func (br *browser) sees(texts ...string) *browser {
	br.t.Helper()
	for _, s := range texts {
		require.Contains(br.t, br.text, s, "page %s (%d)", br.url, br.status)
	}
	return br
}

func (br *browser) notSees(texts ...string) *browser {
	br.t.Helper()
	for _, s := range texts {
		require.NotContains(br.t, br.text, s, "page %s (%d)", br.url, br.status)
	}
	return br
}

func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	staff := b.siteA.Users[identity.RoleSiteStaff]

	t.Run("SignedOutGoesToSignIn", func(t *testing.T) {
		br := b.browser(t).get("/cases")
		require.Equal(t, "/login", br.url)
		br.sees("Sign in to Teleread", "E-mail address", "Password")
	})
	t.Run("WrongPassword", func(t *testing.T) {
		br := b.browser(t).login("nobody@site-a.example", "wrong")
		require.Equal(t, http.StatusUnauthorized, br.status)
		br.sees("The e-mail address or the password is wrong")
	})
	t.Run("OKAndBackWhereItWasGoing", func(t *testing.T) {
		br := b.browser(t).get("/cases?status=draft")
		require.Equal(t, "/login", br.url)
		br.post("/login", url.Values{"email": {staff.Email}, "password": {testenv.PasswordFor(identity.RoleSiteStaff)},
			"next": {"/cases?status=draft"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		require.Equal(t, "/cases", br.url)
		br.sees("Cases", "Sign out", staff.Name)
		br.post("/logout", url.Values{}).sees("You are signed out.", "Sign in to Teleread")
		br.get("/cases")
		require.Equal(t, "/login", br.url, "the session is over")
	})
	t.Run("NoExternalRedirect", func(t *testing.T) {
		br := b.browser(t).get("/login")
		br.post("/login", url.Values{"email": {staff.Email}, "password": {testenv.PasswordFor(identity.RoleSiteStaff)},
			"next": {"//evil.example/"}})
		require.Equal(t, "/cases", br.url)
	})
}

func TestLockout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	email, pw := b.person(t, b.siteA.Org, "locked", identity.RoleSiteStaff)
	br := b.browser(t)
	for range 5 {
		br.login(email, "not the password")
		require.Equal(t, http.StatusUnauthorized, br.status)
	}
	br.login(email, pw)
	require.Equal(t, http.StatusTooManyRequests, br.status)
	br.sees("Too many failed sign-ins", "locked", "try again in")
}

func TestCSRFRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	staff := b.siteA.Users[identity.RoleSiteStaff]
	br := b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff))
	require.Equal(t, "/cases", br.url)
	br.postRaw("/logout", url.Values{})
	require.Equal(t, http.StatusForbidden, br.status)
	br.sees("CSRF token")
	br.postRaw("/logout", url.Values{"csrf_token": {"forged"}})
	require.Equal(t, http.StatusForbidden, br.status)
	br.get("/cases")
	require.Equal(t, "/cases", br.url, "still signed in")
}

func TestRoleHomes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, tc := range map[string]struct {
		org   identity.Org
		role  identity.Role
		home  string
		sees  []string
		specs []string
	}{
		"SiteStaff":          {b.siteA.Org, identity.RoleSiteStaff, "/cases", []string{"Cases", "New case", "Incoming studies"}, nil},
		"ReferringPhysician": {b.siteA.Org, identity.RoleReferringPhysician, "/inbox", []string{"Inbox", "My cases"}, nil},
		"Specialist":         {b.readers.Org, identity.RoleSpecialist, "/worklist", []string{"Worklist"}, []string{"dermatology"}},
		"OrgAdmin":           {b.siteB.Org, identity.RoleOrgAdmin, "/admin", []string{"Administration"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			email, pw := b.person(t, tc.org, "home-"+strings.ToLower(name), tc.role, tc.specs...)
			br := b.browser(t).login(email, pw)
			require.Equal(t, http.StatusOK, br.status, br.text)
			require.Equal(t, tc.home, br.url)
			br.sees(tc.sees...)
			br.get("/")
			require.Equal(t, tc.home, br.url)
		})
	}
}

func TestNoSuchPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/no/such/page", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	br := b.browser(t)
	resp, err := br.client.Do(req)
	require.NoError(t, err)
	br.keep(resp)
	require.Equal(t, http.StatusNotFound, br.status)
	br.sees("Not Found", "there is no page at this address", "Back to your home page")

	resp, err = http.Get(b.srv.URL + "/api/v1/nothing")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
}

// count runs a count query.
func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}
