// Package viewer serves the OHIF viewer (the built dist/ folder of the npm
// package @ohif/app, fetched by scripts/ohif.sh) under /viewer/, with an
// app-config.js that reads Teleread's own /dicomweb with the user's
// session. It is part of the web edge: every file needs a session (or a
// token), the study data is then scoped in SQL by /dicomweb. When the
// folder holds no viewer, /viewer/ says so and how to fetch it; the rest of
// the server does not care.
package viewer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
)

// Prefix is where the viewer is served (OHIF's routerBasename).
const Prefix = "/viewer"

// DICOMwebRoot is the DICOMweb root the viewer reads from, on the same
// origin (so the browser sends the session cookie).
const DICOMwebRoot = "/dicomweb"

// StudyURL is the viewer opened on the given studies (the first one, the
// others, priors, in its study browser): OHIF's
// /viewer?StudyInstanceUIDs=a,b route under Prefix.
func StudyURL(studyUIDs ...string) string {
	uids := make([]string, 0, len(studyUIDs))
	for _, u := range studyUIDs {
		if u = strings.TrimSpace(u); u != "" {
			uids = append(uids, url.QueryEscape(u))
		}
	}
	return Prefix + "/viewer?StudyInstanceUIDs=" + strings.Join(uids, ",")
}

// Config is what the viewer needs.
type Config struct {
	Logger *slog.Logger
	Edge   *edge.Edge
	// Dir is OHIF's dist/ folder (config.Config.OHIFDir). Without an
	// index.html in it the viewer is "not installed".
	Dir string
}

// Handler serves /viewer/.
type Handler struct {
	logger *slog.Logger
	edge   *edge.Edge
	dir    string
	site   *build // nil when no viewer is installed
	why    string // why there is none
}

// readers may open the viewer: every role that reads studies through
// /dicomweb (which then shows each only what it may see).
var readers = edge.Rule{Roles: identity.Roles}

// Policy is the viewer's part of the edge's policy table.
func Policy() edge.Policy {
	return edge.Policy{
		edge.Key(http.MethodGet, Prefix+"/*path"):  readers,
		edge.Key(http.MethodHead, Prefix+"/*path"): readers,
	}
}

// New returns the viewer, reading and rewriting OHIF's index.html once.
// Its rules are added to cfg.Edge's policy.
func New(cfg Config) *Handler {
	h := &Handler{logger: cfg.Logger, edge: cfg.Edge, dir: cfg.Dir}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	cfg.Edge.Allow(Policy())
	b, err := load(cfg.Dir)
	if err != nil {
		h.why = err.Error()
		h.logger.Warn("OHIF viewer not installed: /viewer/ says how to fetch it", "dir", cfg.Dir, "reason", h.why)
		return h
	}
	h.site = b
	h.logger.Info("OHIF viewer served", "dir", cfg.Dir, "prefix", Prefix+"/")
	return h
}

// Installed reports whether a viewer is served (the case page can say so
// instead of linking to it).
func (h *Handler) Installed() bool { return h.site != nil }

// Mount adds the viewer's routes to r: a browser without a session is sent
// to the sign-in page when it opens a viewer page; every other request
// without credentials is 401.
func (h *Handler) Mount(r gin.IRouter) {
	g := r.Group(Prefix, append([]gin.HandlerFunc{edge.Pages(), h.toLogin()},
		h.edge.Guard(edge.GuardOptions{})...)...)
	g.GET("/*path", h.serve)
	g.HEAD("/*path", h.serve)
}

// toLogin redirects a GET of a viewer page (not an asset) without
// credentials to /login, remembering the page.
func (h *Handler) toLogin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Method != http.MethodGet || c.GetHeader("Authorization") != "" || !isPage(c.Param("path")) {
			c.Next()
			return
		}
		if v, err := c.Cookie(edge.SessionCookie); err == nil && v != "" {
			c.Next()
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		c.Abort()
	}
}

// isPage reports whether a path under Prefix is one of OHIF's routes
// (answered with index.html) rather than a file: no extension in its last
// element, or index.html itself.
func isPage(p string) bool {
	base := path.Base(p)
	return p == "" || p == "/" || base == "index.html" || path.Ext(base) == ""
}

// serve answers one request under Prefix.
func (h *Handler) serve(c *gin.Context) {
	if h.site == nil {
		h.notInstalled(c)
		return
	}
	p := path.Clean("/" + c.Param("path"))
	switch {
	case p == "/app-config.js":
		h.site.writeConfig(c)
		return
	case p == "/"+h.site.bundleName && h.site.bundleName != "":
		h.site.writeBundle(c)
		return
	}
	name := filepath.Join(h.dir, filepath.FromSlash(p))
	fi, err := os.Stat(name)
	if isPage(p) && (err != nil || fi.IsDir() || path.Base(p) == "index.html") {
		h.site.writeIndex(c)
		return
	}
	if err != nil || fi.IsDir() {
		h.edge.Fail(c, notFound(p))
		return
	}
	f, err := os.Open(name)
	if err != nil {
		h.edge.Fail(c, notFound(p))
		return
	}
	defer f.Close()
	setType(c, p)
	c.Header("Cache-Control", cacheControl(p))
	// The build's files all carry the npm tarball's fixed mtime (1985),
	// so revalidation goes by the build's ETag, never by Last-Modified.
	serveFile(c, p, h.site.etag, fi.Size(), f)
}

// zeroTime is no modification time: http.ServeContent sends no
// Last-Modified.
var zeroTime time.Time

// hashed matches the names webpack gives content-hashed files
// ("app.bundle.0f6159c501addfe9.js", "5130ccb17e3f3f5b.wasm").
var hashed = regexp.MustCompile(`(^|\.)[0-9a-f]{16,}\.[a-z0-9]+$`)

// cacheControl is the caching of a file: content-hashed names never
// change, so they are kept a year (privately: they are served to signed-in
// users only); others are revalidated on each use.
func cacheControl(p string) string {
	if hashed.MatchString(path.Base(p)) {
		return "private, max-age=31536000, immutable"
	}
	return "private, no-cache"
}

// types are the content types the viewer needs whatever the system's MIME
// table says (WebAssembly must be application/wasm to be streamed).
var types = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".html":  "text/html; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".wasm":  "application/wasm",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".woff":  "font/woff",
	".ttf":   "font/ttf",
	".xml":   "application/xml",
	".onnx":  "application/octet-stream",
}

func setType(c *gin.Context, p string) {
	if t, ok := types[strings.ToLower(path.Ext(p))]; ok {
		c.Header("Content-Type", t)
	}
}

// build is the installed viewer: index.html and the app bundle rewritten
// for Prefix, the generated app-config.js, and the CSP that lets OHIF run.
type build struct {
	index      []byte
	csp        string
	bundleName string
	bundle     []byte
	config     []byte
	// etag names the build (a hash of its index.html, which names the
	// content-hashed app bundle): every file of one build has it.
	etag string
}

func (b *build) writeIndex(c *gin.Context) {
	b.headers(c, "text/html; charset=utf-8", "no-store")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(b.index))
}

func (b *build) writeConfig(c *gin.Context) {
	b.headers(c, "text/javascript; charset=utf-8", "no-store")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(b.config))
}

func (b *build) writeBundle(c *gin.Context) {
	b.headers(c, "text/javascript; charset=utf-8", cacheControl(b.bundleName))
	serveFile(c, b.bundleName, b.etag, int64(len(b.bundle)), bytes.NewReader(b.bundle))
}

func (b *build) headers(c *gin.Context, contentType, cache string) {
	c.Header("Content-Type", contentType)
	c.Header("Cache-Control", cache)
	c.Header("Content-Security-Policy", b.csp)
	// The case page may show the viewer in a frame of the same origin.
	c.Header("X-Frame-Options", "SAMEORIGIN")
}

// notInstalled is the page /viewer/ answers without a viewer.
func (h *Handler) notInstalled(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusServiceUnavailable)
	if err := notInstalledPage.Execute(c.Writer, map[string]string{"Dir": h.dir, "Why": h.why}); err != nil {
		_ = c.Error(err)
	}
}

// inlineHashes are the CSP sources of the inline scripts of an HTML page.
func inlineHashes(html []byte) []string {
	var out []string
	for _, m := range inlineScript.FindAllSubmatch(html, -1) {
		sum := sha256.Sum256(m[1])
		out = append(out, fmt.Sprintf("'sha256-%s'", base64.StdEncoding.EncodeToString(sum[:])))
	}
	return out
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// Available reports whether dir holds an OHIF build the viewer can serve
// (for pages that link to the viewer and say so when it is missing).
func Available(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "index.html"))
	return dir != "" && err == nil && !fi.IsDir()
}

func notFound(p string) error {
	return apperr.New(apperr.NotFound, "the viewer has no file %s", p)
}
