// Package dicomweb is Teleread's DICOMweb edge (DICOM PS3.18): STOW-RS to
// store instances, QIDO-RS to search the index, WADO-RS to retrieve
// instances, metadata, frames and rendered images. It is mounted under
// /dicomweb, and again under /dicomweb/cases/{case} for software that is
// pointed at one case (Orthanc's DICOMweb client, a viewer opened from a
// case). It runs on the shared edge (authentication by bearer token, HTTP
// Basic with a token as the password, or the session cookie; the one
// policy table; the one problem writer) and calls internal/intake for
// storing and reading, so a study pushed here goes through exactly the
// path of a REST upload: hashing, header index, dedupe, audit, preview job.
package dicomweb

import (
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomweb/dicomwebdb"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
)

// Prefix is where the DICOMweb edge is mounted.
const Prefix = "/dicomweb"

// Config is what the DICOMweb edge needs.
type Config struct {
	Logger *slog.Logger
	Edge   *edge.Edge
	Pool   *pgxpool.Pool
	Intake *intake.Service
	Cases  *cases.Service
	// AllowedOrigins are the browser origins (scheme://host[:port]) that
	// may call /dicomweb from another origin (a viewer served elsewhere);
	// none by default.
	AllowedOrigins []string
}

// Handler serves /dicomweb.
type Handler struct {
	logger  *slog.Logger
	edge    *edge.Edge
	pool    *pgxpool.Pool
	intake  *intake.Service
	cases   *cases.Service
	q       *dicomwebdb.Queries
	origins map[string]bool
}

// New returns the DICOMweb edge. Its rules are added to cfg.Edge's policy.
func New(cfg Config) *Handler {
	h := &Handler{logger: cfg.Logger, edge: cfg.Edge, pool: cfg.Pool, intake: cfg.Intake, cases: cfg.Cases,
		q: dicomwebdb.New(), origins: map[string]bool{}}
	for _, o := range cfg.AllowedOrigins {
		h.origins[strings.TrimRight(o, "/")] = true
	}
	cfg.Edge.Allow(Policy())
	return h
}

// Who may call what. Object-level access (which case, which study) is then
// decided in SQL: another tenant's study is "not found".
var (
	// writers store instances into their site's cases.
	writers = edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff, identity.RoleReferringPhysician}}.AsUpload()
	// readers search and retrieve what their role lets them see: site
	// staff their site's cases, referring physicians their own cases,
	// specialists the cases routed to their reading group.
	readers = edge.Rule{Roles: identity.Roles}
)

// routeSet is one part of the edge (STOW, QIDO, WADO): its routes,
// relative to the DICOMweb root, and their rules.
type routeSet struct {
	routes []route
}

type route struct {
	method, path string
	rule         edge.Rule
	handle       func(*Handler, *gin.Context)
	// only, when set, is the one root the route is mounted under.
	only string
}

// rootsOf are the roots a route is mounted under.
func (rt route) rootsOf() []string {
	if rt.only != "" {
		return []string{rt.only}
	}
	return roots
}

// sets are every part of the edge; each file of the package holds one.
func sets() []routeSet { return []routeSet{stowRoutes, qidoRoutes, wadoRoutes, wadoMetaRoutes} }

// The roots the routes are mounted under: site-wide, and within one case.
const (
	siteRoot = Prefix
	caseRoot = Prefix + "/cases/:case"
)

var roots = []string{siteRoot, caseRoot}

// Policy is the DICOMweb part of the edge's policy table.
func Policy() edge.Policy {
	p := edge.Policy{}
	for _, s := range sets() {
		for _, rt := range s.routes {
			for _, root := range rt.rootsOf() {
				p[edge.Key(rt.method, root+rt.path)] = rt.rule
				p[edge.Key(http.MethodOptions, root+rt.path)] = edge.Rule{Public: true}
			}
		}
	}
	return p
}

// Mount adds the DICOMweb routes to r: CORS first (a preflight carries no
// credentials), then the guarded group.
func (h *Handler) Mount(r gin.IRouter) {
	for _, root := range roots {
		g := r.Group(root, append([]gin.HandlerFunc{h.cors()}, h.edge.Guard(edge.GuardOptions{BasicChallenge: true})...)...)
		seen := map[string]bool{}
		for _, s := range sets() {
			for _, rt := range s.routes {
				if !slices.Contains(rt.rootsOf(), root) {
					continue
				}
				g.Handle(rt.method, rt.path, func(c *gin.Context) { rt.handle(h, c) })
				if !seen[rt.path] {
					seen[rt.path] = true
					g.OPTIONS(rt.path, func(c *gin.Context) { c.Status(http.StatusNoContent) })
				}
			}
		}
	}
}

// cors answers cross-origin requests from the allowed origins. A
// preflight (OPTIONS with Access-Control-Request-Method) is answered here
// and goes no further; other requests get the allow headers and go on to
// authentication. Credentials are allowed, since a viewer on another
// origin may use the session cookie (SameSite rules still apply).
func (h *Handler) cors() gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		c.Writer.Header().Add("Vary", "Origin")
		allowed := origin != "" && h.origins[origin]
		if allowed {
			hd := c.Writer.Header()
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Allow-Credentials", "true")
			hd.Set("Access-Control-Expose-Headers", "Content-Type, Content-Length, Content-Range, ETag, Warning, Location")
		}
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			if allowed {
				hd := c.Writer.Header()
				hd.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
				hd.Set("Access-Control-Allow-Headers", "Authorization, Accept, Content-Type, Range, X-CSRF-Token")
				hd.Set("Access-Control-Max-Age", "600")
			}
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// Origins lists the allowed origins, for the start-up log.
func (h *Handler) Origins() []string { return slices.Sorted(maps.Keys(h.origins)) }

// fail answers err with the edge's problem writer.
func (h *Handler) fail(c *gin.Context, err error) { h.edge.Fail(c, err) }

// invalid is a 400 with a reason.
func invalid(format string, args ...any) error { return apperr.New(apperr.Invalid, format, args...) }
