package edge_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
)

// bed is a server with one guarded API group and one guarded page group,
// on real PostgreSQL, and the credentials of one site's staff member.
type bed struct {
	engine  *gin.Engine
	token   string
	session *identity.Session
	// handled counts requests that reached a handler.
	handled atomic.Int64
}

func newBed(t *testing.T) *bed {
	t.Helper()
	env := testenv.New(t)
	fx := testenv.NewFixtures(t, env)
	site := fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff)
	staff := site.Users[identity.RoleSiteStaff]
	sess, err := fx.Service.Login(context.Background(), staff.Email, testenv.PasswordFor(identity.RoleSiteStaff), "127.0.0.1", "test")
	require.NoError(t, err)

	b := &bed{token: site.Tokens[identity.RoleSiteStaff], session: sess}
	e := edge.New(edge.Config{Logger: testenv.Logger(t), Identity: fx.Service,
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 64 << 20})
	staffOnly := edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff}}
	e.Allow(edge.Policy{
		edge.Key(http.MethodGet, "/api/me"):      staffOnly,
		edge.Key(http.MethodPost, "/api/upload"): staffOnly.AsUpload(),
		edge.Key(http.MethodPost, "/api/form"):   staffOnly,
		edge.Key(http.MethodGet, "/pages/case"):  staffOnly,
		edge.Key(http.MethodGet, "/api/public"):  {Public: true},
		edge.Key(http.MethodGet, "/api/admins"):  {Roles: []identity.Role{identity.RolePlatformAdmin}},
	})
	r := gin.New()
	r.Use(edge.Common(testenv.Logger(t), edge.NewMetrics(prometheus.NewRegistry()))...)
	ok := func(c *gin.Context) {
		b.handled.Add(1)
		p := identity.FromContext(c.Request.Context())
		who := ""
		if p != nil {
			who = p.UserID.String()
		}
		c.JSON(http.StatusOK, gin.H{"user": who, "note": c.PostForm("note")})
	}
	api := r.Group("/api", e.Guard(edge.GuardOptions{BasicChallenge: true})...)
	for _, path := range []string{"/me", "/public", "/admins", "/unruled"} {
		api.GET(path, ok)
	}
	api.POST("/upload", func(c *gin.Context) {
		b.handled.Add(1)
		_, _ = io.Copy(io.Discard, c.Request.Body)
		c.Status(http.StatusCreated)
	})
	api.POST("/form", ok)
	pages := r.Group("/pages", append([]gin.HandlerFunc{edge.Pages()}, e.Guard(edge.GuardOptions{})...)...)
	pages.GET("/case", ok)
	b.engine = r
	return b
}

// countingBody is a request body that counts the bytes read from it.
type countingBody struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (b *bed) serve(req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	b.engine.ServeHTTP(w, req)
	return w
}

func (b *bed) withCookie(req *http.Request) *http.Request {
	req.AddCookie(&http.Cookie{Name: edge.SessionCookie, Value: b.session.Secret})
	return req
}

func problem(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, edge.ProblemContentType, w.Header().Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	require.NotEmpty(t, out["detail"])
	return out
}

// TestCSRFNeverReadsAMultipartBody sends a 4 MiB photo upload with only a
// session cookie: it is refused before a single byte of its body is read
// (nothing buffered in memory or spooled to disk), and the same upload with
// the header is accepted.
func TestCSRFNeverReadsAMultipartBody(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	multipartBody := func() (*countingBody, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile("file", "lesion.jpg")
		require.NoError(t, err)
		_, err = fw.Write(bytes.Repeat([]byte{0xFF}, 4<<20))
		require.NoError(t, err)
		require.NoError(t, mw.WriteField(edge.CSRFField, b.session.CSRFToken), "a token inside multipart is not looked for")
		require.NoError(t, mw.Close())
		return &countingBody{r: &buf}, mw.FormDataContentType()
	}

	body, ct := multipartBody()
	req := b.withCookie(httptest.NewRequest(http.MethodPost, "/api/upload", body))
	req.Header.Set("Content-Type", ct)
	w := b.serve(req)
	require.Equal(t, http.StatusForbidden, w.Code)
	require.Contains(t, problem(t, w)["detail"], "CSRF")
	require.Zero(t, body.n.Load(), "no byte of the refused body was read")
	require.Equal(t, "close", w.Header().Get("Connection"))
	require.Zero(t, b.handled.Load())

	body, ct = multipartBody()
	req = b.withCookie(httptest.NewRequest(http.MethodPost, "/api/upload", body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set(edge.CSRFHeader, b.session.CSRFToken)
	w = b.serve(req)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())

	// A bearer token needs no CSRF token: browsers do not send it alone.
	body, ct = multipartBody()
	req = httptest.NewRequest(http.MethodPost, "/api/upload", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+b.token)
	require.Equal(t, http.StatusCreated, b.serve(req).Code)
}

// TestCSRFForm accepts the token in a small urlencoded form (a page's
// form post) and leaves the form for the handler; a wrong token, or a form
// too large to read for it, is refused.
func TestCSRFForm(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	post := func(form url.Values) *httptest.ResponseRecorder {
		req := b.withCookie(httptest.NewRequest(http.MethodPost, "/api/form", strings.NewReader(form.Encode())))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return b.serve(req)
	}
	w := post(url.Values{edge.CSRFField: {b.session.CSRFToken}, "note": {"seen"}})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), `"note":"seen"`)

	require.Equal(t, http.StatusForbidden, post(url.Values{edge.CSRFField: {"wrong"}}).Code)
	require.Equal(t, http.StatusForbidden, post(url.Values{"note": {"no token"}}).Code)
	big := url.Values{edge.CSRFField: {b.session.CSRFToken}, "note": {strings.Repeat("x", 70<<10)}}
	require.Equal(t, http.StatusForbidden, post(big).Code, "a form over 64 KiB must send the header")
}

// TestCredentials covers the three ways in: bearer, HTTP Basic with the
// token as password (any user name, as PACS are configured), the cookie.
func TestCredentials(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for name, tc := range map[string]struct {
		auth   string
		cookie bool
		status int
	}{
		"Bearer":         {auth: "Bearer " + b.token, status: http.StatusOK},
		"Basic":          {auth: basic("orthanc", b.token), status: http.StatusOK},
		"BasicEmptyUser": {auth: basic("", b.token), status: http.StatusOK},
		"Cookie":         {cookie: true, status: http.StatusOK},
		"BasicWrong":     {auth: basic("orthanc", "secret"), status: http.StatusUnauthorized},
		"BasicGarbage":   {auth: "Basic %%%", status: http.StatusUnauthorized},
		"None":           {status: http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			if tc.cookie {
				b.withCookie(req)
			}
			w := b.serve(req)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.status == http.StatusOK {
				require.Contains(t, w.Body.String(), b.session.Principal.UserID.String())
				return
			}
			problem(t, w)
			require.Contains(t, strings.Join(w.Header().Values("WWW-Authenticate"), ","), "Basic", "DICOMweb peers are asked for Basic")
		})
	}
}

// TestPolicy refuses a route without a rule even to a signed-in caller,
// lets a public route through without credentials, and checks roles.
func TestPolicy(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	get := func(path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return b.serve(req)
	}
	w := get("/api/unruled", b.token)
	require.Equal(t, http.StatusForbidden, w.Code)
	problem(t, w)
	require.Equal(t, http.StatusOK, get("/api/public", "").Code)
	require.Equal(t, http.StatusForbidden, get("/api/admins", b.token).Code)
	require.Equal(t, http.StatusOK, get("/api/me", b.token).Code)
	require.Equal(t, int64(2), b.handled.Load())

	require.Panics(t, func() {
		e := edge.New(edge.Config{})
		e.Allow(edge.Policy{"GET /x": {Public: true}})
		e.Allow(edge.Policy{"GET /x": {Public: true}})
	}, "a route with two rules is refused at start-up")
}

// TestPageProblem answers an error on a page route as an HTML page with the
// same status and reason, and on an API route as problem+json.
func TestPageProblem(t *testing.T) {
	t.Parallel()
	b := newBed(t)
	w := b.serve(httptest.NewRequest(http.MethodGet, "/pages/case", nil))
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.True(t, strings.HasPrefix(w.Header().Get("Content-Type"), "text/html"), w.Header().Get("Content-Type"))
	require.Contains(t, w.Body.String(), "<h1>Unauthorized</h1>")
	require.Contains(t, w.Body.String(), "request id")
	require.NotContains(t, strings.Join(w.Header().Values("WWW-Authenticate"), ","), "Basic", "pages do not make the browser ask for Basic credentials")

	w = b.serve(httptest.NewRequest(http.MethodGet, "/api/me", nil))
	require.Equal(t, http.StatusUnauthorized, w.Code)
	problem(t, w)
}
