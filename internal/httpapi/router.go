// Package httpapi is Teleread's REST API on gin: the router and thin
// handlers (bind, call the domain, encode). What every edge shares
// (authentication, CSRF, the policy table, limits, request ids, the
// problem writer) is in internal/edge.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/dicomweb"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/web"
	"github.com/teleread/teleread/internal/web/viewer"
	"github.com/teleread/teleread/internal/worklist"
)

// Deps is what the router needs.
type Deps struct {
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Checks are probed by /readyz.
	Checks []Check
	// MaxRequestBytes caps JSON bodies.
	MaxRequestBytes int64
	// MaxUploadBytes caps one uploaded file.
	MaxUploadBytes int64
	// Limits are the request rates of sign-ins, token creation and
	// searches, and the per-organisation upload bounds (docs/operations.md,
	// "Limits"); zero ones are off. The routes they apply to are named in
	// limited.
	Limits edge.Limits
	// SecureCookies sets the Secure attribute on the session cookie.
	SecureCookies bool
	Pool          *pgxpool.Pool
	Identity      *identity.Service
	Cases         *cases.Service
	// Intake is the upload pipeline (files, previews, presigned uploads).
	Intake   *intake.Service
	Worklist *worklist.Service
	// Delivery is the inbox, webhooks, acknowledgements and escalations.
	Delivery *delivery.Service
	// Reports are the specialists' reports: drafts, signing, addenda, PDF, FHIR.
	Reports *reports.Service
	// Jobs enqueues River jobs in a transaction (re-routing).
	Jobs cases.JobInserter
	// DICOMwebOrigins may call /dicomweb from other origins (CORS).
	DICOMwebOrigins []string
	// OHIFDir is the OHIF build served under /viewer/ (config.Config.OHIFDir).
	OHIFDir string
	// UploadOrigins are the object store origins the web pages' scripts
	// send presigned uploads to (their CSP's connect-src).
	UploadOrigins []string
}

// API holds the handlers' dependencies.
type API struct {
	logger   *slog.Logger
	pool     *pgxpool.Pool
	identity *identity.Service
	cases    *cases.Service
	intake   *intake.Service
	worklist *worklist.Service
	delivery *delivery.Service
	reports  *reports.Service
	jobs     cases.JobInserter
	edge     *edge.Edge
	secure   bool
}

// New returns the HTTP handler with every route.
func New(d Deps) *gin.Engine {
	e := edge.New(edge.Config{Logger: d.Logger, Identity: d.Identity, MaxRequestBytes: d.MaxRequestBytes,
		MaxUploadBytes: d.MaxUploadBytes, Limits: d.Limits, Classes: limited()})
	e.Allow(policy)
	a := &API{logger: d.Logger, pool: d.Pool, identity: d.Identity, cases: d.Cases, intake: d.Intake,
		worklist: d.Worklist, delivery: d.Delivery, reports: d.Reports, jobs: d.Jobs, edge: e, secure: d.SecureCookies}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	// Client addresses come from the connection, not from headers anyone
	// can set. (Behind a proxy, configure it to connect from loopback.)
	_ = r.SetTrustedProxies(nil)
	r.Use(edge.Common(d.Logger, edge.NewMetrics(d.Registry))...)

	r.NoMethod(func(c *gin.Context) {
		edge.WriteProblem(c, edge.NewProblem(c, http.StatusMethodNotAllowed, "method_not_allowed",
			"this route does not take "+c.Request.Method))
	})

	// Operations endpoints: no authentication, no patient data.
	r.GET("/healthz", healthz)
	r.GET("/readyz", readyz(e, d.Checks))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})))
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", api.OpenAPI) })

	// DICOMweb (STOW-RS, QIDO-RS, WADO-RS) on the same edge and intake.
	dicomweb.New(dicomweb.Config{Logger: d.Logger, Edge: e, Pool: d.Pool, Intake: d.Intake, Cases: d.Cases,
		AllowedOrigins: d.DICOMwebOrigins}).Mount(r)
	// The OHIF viewer under /viewer/, reading /dicomweb with the session.
	ohif := viewer.New(viewer.Config{Logger: d.Logger, Edge: e, Dir: d.OHIFDir})
	ohif.Mount(r)

	// The web pages (internal/web) on the same edge and services.
	pages := web.New(web.Config{Logger: d.Logger, Edge: e, Pool: d.Pool, Identity: d.Identity, Cases: d.Cases, Intake: d.Intake,
		Worklist: d.Worklist, Reports: d.Reports, Delivery: d.Delivery, SecureCookies: d.SecureCookies,
		ConnectOrigins: d.UploadOrigins, Viewer: ohif, Jobs: d.Jobs})
	pages.Mount(r)
	// An address nobody serves: the error page for a browser, a problem
	// for an API client.
	r.NoRoute(pages.NotFound(func(c *gin.Context) { a.fail(c, apperr.New(apperr.NotFound, "no such route")) }))

	v1 := r.Group("/api/v1", e.Guard(edge.GuardOptions{})...)
	v1.POST("/auth/login", a.login)
	v1.POST("/auth/logout", a.logout)
	v1.GET("/me", a.me)

	v1.GET("/orgs", a.listOrgs)
	v1.POST("/orgs", a.createOrg)
	v1.GET("/orgs/:id", a.getOrg)

	v1.GET("/users", a.listUsers)
	v1.POST("/users", a.createUser)
	v1.GET("/users/:id", a.getUser)
	v1.PATCH("/users/:id", a.updateUser)

	v1.GET("/tokens", a.listTokens)
	v1.POST("/tokens", a.createToken)
	v1.DELETE("/tokens/:id", a.revokeToken)

	v1.GET("/audit", a.listAudit)

	v1.POST("/cases", a.createCase)
	v1.GET("/cases", a.listCases)
	v1.GET("/cases/:id", a.getCase)
	v1.PATCH("/cases/:id", a.updateCase)
	v1.GET("/cases/:id/events", a.caseEvents)
	v1.PUT("/cases/:id/manifest", a.setManifest)
	v1.GET("/cases/:id/manifest", a.getManifest)
	v1.POST("/cases/:id/submit", a.submitCase)
	v1.POST("/cases/:id/cancel", a.cancelCase)

	// Files: uploads stream to object storage (handlers in files.go).
	a.fileRoutes(v1)

	v1.GET("/worklist", a.worklistList)
	v1.POST("/cases/:id/claim", a.claimCase)
	v1.POST("/cases/:id/release", a.releaseCase)
	v1.POST("/cases/:id/reassign", a.reassignCase)
	v1.POST("/cases/:id/request-info", a.requestInfo)
	v1.POST("/cases/:id/route", a.rerouteCase)
	v1.GET("/unrouted", a.unroutedCases)
	v1.GET("/routing-rules", a.listRules)
	v1.POST("/routing-rules", a.createRule)
	v1.PATCH("/routing-rules/:id", a.updateRule)
	v1.DELETE("/routing-rules/:id", a.deleteRule)
	v1.GET("/reading-groups/:id/settings", a.getGroupSettings)
	v1.PUT("/reading-groups/:id/settings", a.putGroupSettings)

	// Reports (handlers in reports.go) and delivery back to the referrer
	// (handlers in delivery.go).
	a.reportRoutes(v1)
	a.deliveryRoutes(v1)
	e.CheckClasses()
	return r
}

// limited names the routes under a request rate or an upload bound
// (docs/operations.md, "Limits"). Routes whose rule is an upload (file
// uploads, STOW-RS) are bounded as uploads without being named here; all
// other routes, single-object reads among them, are under no limit.
func limited() map[string]edge.Class {
	m := map[string]edge.Class{
		"POST /api/v1/auth/login": edge.Auth,
		"POST /login":             edge.Auth,
		"POST /api/v1/tokens":     edge.Auth,

		"GET /api/v1/cases":            edge.Search,
		"GET /api/v1/worklist":         edge.Search,
		"GET /api/v1/incoming-studies": edge.Search,
		"GET /api/v1/inbox":            edge.Search,
		"GET /api/v1/audit":            edge.Search,
		"GET /api/v1/unrouted":         edge.Search,
		"GET /api/v1/stats":            edge.Search,

		"POST /api/v1/cases/:id/uploads":                     edge.Upload,
		"POST /api/v1/cases/:id/uploads/:upload_id/complete": edge.Upload,
		"POST /api/v1/cases/:id/incoming-studies":            edge.Upload,
	}
	// QIDO-RS, site-wide and within one case.
	for _, root := range []string{dicomweb.Prefix, dicomweb.Prefix + "/cases/:case"} {
		for _, path := range []string{"/studies", "/series", "/instances", "/studies/:study/series",
			"/studies/:study/instances", "/studies/:study/series/:series/instances"} {
			m[edge.Key(http.MethodGet, root+path)] = edge.Search
		}
	}
	return m
}

// fail answers c with err as a problem document.
func (a *API) fail(c *gin.Context, err error) { a.edge.Fail(c, err) }
