package viewer_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/config"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/web/viewer"
)

func TestStudyURL(t *testing.T) {
	t.Parallel()
	for want, uids := range map[string][]string{
		"/viewer/viewer?StudyInstanceUIDs=1.2.3":         {"1.2.3"},
		"/viewer/viewer?StudyInstanceUIDs=1.2.3,1.2.840": {"1.2.3", " 1.2.840 ", ""},
		"/viewer/viewer?StudyInstanceUIDs=":              nil,
	} {
		require.Equal(t, want, viewer.StudyURL(uids...))
	}
}

// The parts of OHIF's published dist/ the server rewrites or must type.
const (
	fakeBundle = "app.bundle.0f6159c501addfe9.js"
	fakeIndex  = `<!doctype html><html lang="en"><head><meta name="msapplication-TileImage" content="/assets/mstile-144x144.png">` +
		`<script>console.time("scriptToView"),window.PUBLIC_URL="/"</script><link rel="manifest" href="/manifest.json">` +
		`<script rel="preload" as="script" src="/app-config.js"></script><title>OHIF Viewer</title>` +
		`<script>function browserImportFunction(n){return import(n)}window.PUBLIC_URL="/"</script>` +
		`<script defer src="/` + fakeBundle + `"></script><link href="/app.bundle.css" rel="stylesheet"></head>` +
		`<body><div id="root"></div></body></html>`
)

func fakeDist(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"index.html":                      fakeIndex,
		fakeBundle:                        `var x = 1; __webpack_require__.p = "/"; load(__webpack_require__.p + "5130ccb17e3f3f5b.wasm");`,
		"1602.bundle.94f12cceab7c2762.js": "chunk()",
		"5130ccb17e3f3f5b.wasm":           "\x00asm\x01\x00\x00\x00",
		"1602.css":                        "body{}",
		"app.bundle.css":                  "html{}",
		"app-config.js":                   "window.config = {dataSources: ['the public demo server']}",
		"assets/favicon.ico":              "ico",
		bigChunk:                          bigBody,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

const bigChunk = "7841.bundle.58ac0fd73e8a784f.js"

var bigBody = strings.Repeat("console.log('a chunk of OHIF');\n", 200)

type bundle struct {
	srv     *httptest.Server
	cookie  *http.Cookie
	staff   *testenv.Tenant
	ohifDir string
}

// setup serves the whole router with the viewer in dir and signs site
// staff in through the REST API.
func setup(t *testing.T, dir string) *bundle {
	t.Helper()
	env := testenv.New(t)
	ids := identity.NewService(env.Pool)
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 20, Pool: env.Pool, Identity: ids, OHIFDir: dir})
	b := &bundle{srv: httptest.NewServer(engine), ohifDir: dir}
	t.Cleanup(b.srv.Close)
	fx := testenv.NewFixtures(t, env)
	b.staff = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff)
	resp, err := http.Post(b.srv.URL+"/api/v1/auth/login", "application/json", strings.NewReader(
		`{"email":"`+b.staff.Users[identity.RoleSiteStaff].Email+`","password":"`+testenv.PasswordFor(identity.RoleSiteStaff)+`"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	for _, c := range resp.Cookies() {
		if c.Name == edge.SessionCookie {
			b.cookie = c
		}
	}
	require.NotNil(t, b.cookie, "login sets the session cookie")
	return b
}

// get fetches path with the session cookie (none when signedIn is false),
// without following redirects.
func (b *bundle) get(t *testing.T, path string, signedIn bool) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	require.NoError(t, err)
	if signedIn {
		req.AddCookie(b.cookie)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(raw)
}

func TestServesTheBuildUnderViewer(t *testing.T) {
	t.Parallel()
	b := setup(t, fakeDist(t))

	t.Run("IndexRewritten", func(t *testing.T) {
		for _, path := range []string{"/viewer/", "/viewer/index.html", "/viewer/viewer?StudyInstanceUIDs=1.2.3", "/viewer/segmentation"} {
			resp, body := b.get(t, path, true)
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
			require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
			require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			require.Contains(t, body, `src="/viewer/app-config.js"`)
			require.Contains(t, body, `src="/viewer/`+fakeBundle+`"`)
			require.Contains(t, body, `href="/viewer/manifest.json"`)
			require.Contains(t, body, `content="/viewer/assets/mstile-144x144.png"`)
			require.Contains(t, body, `window.PUBLIC_URL="/viewer/"`)
			require.NotContains(t, body, `window.PUBLIC_URL="/"`)
			csp := resp.Header.Get("Content-Security-Policy")
			require.Equal(t, 2, strings.Count(csp, "'sha256-"), "both inline scripts allowed by hash: %s", csp)
			require.NotContains(t, csp, "'unsafe-inline' 'sha256", "inline scripts are not allowed wholesale")
			require.Equal(t, "SAMEORIGIN", resp.Header.Get("X-Frame-Options"))
		}
	})
	t.Run("AppConfig", func(t *testing.T) {
		resp, body := b.get(t, "/viewer/app-config.js", true)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Contains(t, body, "routerBasename: '/viewer'")
		require.Contains(t, body, "qidoRoot: window.location.origin + '/dicomweb'")
		require.Contains(t, body, "wadoRoot: window.location.origin + '/dicomweb'")
		require.NotContains(t, body, "the public demo server", "the build's own config is never served")
	})
	t.Run("BundlePublicPath", func(t *testing.T) {
		resp, body := b.get(t, "/viewer/"+fakeBundle, true)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `__webpack_require__.p = "/viewer/";`)
		require.Equal(t, "private, max-age=31536000, immutable", resp.Header.Get("Cache-Control"))
	})
	t.Run("Files", func(t *testing.T) {
		for path, want := range map[string][2]string{
			"/viewer/5130ccb17e3f3f5b.wasm":           {"application/wasm", "private, max-age=31536000, immutable"},
			"/viewer/1602.bundle.94f12cceab7c2762.js": {"text/javascript; charset=utf-8", "private, max-age=31536000, immutable"},
			"/viewer/1602.css":                        {"text/css; charset=utf-8", "private, no-cache"},
			"/viewer/assets/favicon.ico":              {"image/x-icon", "private, no-cache"},
		} {
			resp, _ := b.get(t, path, true)
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
			require.Equal(t, want[0], resp.Header.Get("Content-Type"), path)
			require.Equal(t, want[1], resp.Header.Get("Cache-Control"), path)
			require.Empty(t, resp.Header.Get("Last-Modified"), path)
			etag := resp.Header.Get("ETag")
			require.Regexp(t, `^"ohif-[0-9a-f]{16}"$`, etag, path)
			req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
			req.AddCookie(b.cookie)
			req.Header.Set("If-None-Match", etag)
			again, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			again.Body.Close()
			require.Equal(t, http.StatusNotModified, again.StatusCode, path)
		}
		resp, _ := b.get(t, "/viewer/nope.bundle.js", true)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "a missing file is 404, not the page")
		resp, _ = b.get(t, "/viewer/../go.mod", true)
		require.NotEqual(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("Gzip", func(t *testing.T) {
		get := func(h map[string]string) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/viewer/"+bigChunk, nil)
			req.AddCookie(b.cookie)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
			require.NoError(t, err)
			t.Cleanup(func() { resp.Body.Close() })
			return resp
		}
		resp := get(map[string]string{"Accept-Encoding": "gzip, deflate, br"})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
		require.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"))
		require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
		zr, err := gzip.NewReader(resp.Body)
		require.NoError(t, err)
		raw, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.Equal(t, bigBody, string(raw))
		tag := resp.Header.Get("ETag")
		require.True(t, strings.HasSuffix(tag, `-gz"`), tag)
		require.Equal(t, http.StatusNotModified, get(map[string]string{"Accept-Encoding": "gzip", "If-None-Match": tag}).StatusCode)
		for _, h := range []map[string]string{{"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0"},
			{"Accept-Encoding": "gzip", "Range": "bytes=0-9"}} {
			resp := get(h)
			require.Empty(t, resp.Header.Get("Content-Encoding"), h)
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(bigBody, string(raw)), h)
		}
	})
	t.Run("WithoutSession", func(t *testing.T) {
		resp, _ := b.get(t, "/viewer/viewer?StudyInstanceUIDs=1.2.3", false)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "a page sends the browser to sign in")
		require.Equal(t, "/login?next="+"%2Fviewer%2Fviewer%3FStudyInstanceUIDs%3D1.2.3", resp.Header.Get("Location"))
		for _, path := range []string{"/viewer/" + fakeBundle, "/viewer/app-config.js", "/viewer/5130ccb17e3f3f5b.wasm"} {
			resp, body := b.get(t, path, false)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
			require.NotContains(t, body, "__webpack_require__", path)
		}
		req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/viewer/"+fakeBundle, nil)
		req.AddCookie(&http.Cookie{Name: edge.SessionCookie, Value: "forged"})
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a forged session is refused")
	})
	t.Run("Token", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/viewer/app-config.js", nil)
		req.Header.Set("Authorization", "Bearer "+b.staff.Tokens[identity.RoleSiteStaff])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func TestNotInstalled(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "ohif-app-0.0.0", "dist")
	require.False(t, viewer.Available(missing))
	b := setup(t, missing)
	for _, path := range []string{"/viewer/", "/viewer/viewer?StudyInstanceUIDs=1.2.3", "/viewer/app.bundle.js"} {
		resp, body := b.get(t, path, true)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, path)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Contains(t, body, "The DICOM viewer is not installed")
		require.Contains(t, body, "scripts/ohif.sh")
		require.Contains(t, body, "TELEREAD_OHIF_DIR")
		require.Contains(t, body, missing)
	}
	resp, _ := b.get(t, "/api/v1/me", true)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the rest of the server works")
}

// TestOHIFVersionPinnedOnce holds the script that fetches OHIF and the
// configuration's default folder to the same version.
func TestOHIFVersionPinnedOnce(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../../scripts/ohif.sh")
	require.NoError(t, err)
	require.Contains(t, string(raw), "\nOHIF_VERSION="+configVersion()+"\n")
}

func configVersion() string { return config.OHIFVersion }
