// Package web is Teleread's web application: server-rendered pages
// (html/template) with a little JavaScript, static assets embedded with
// go:embed, nothing loaded from the internet. It runs on the shared edge
// (session cookie, CSRF, the one policy table, the one problem writer) and
// calls the domain services directly, like httpapi's thin handlers.
//
// # Adding a page
//
//  1. Put the handler in the file of its audience (site.go, referrer.go,
//     specialist.go, admin.go) and list it in that file's pageSet:
//     {method, path, rule, handler}. The rule goes into the edge's policy
//     table by itself. Add the set to sets() below if the file is new.
//  2. Write templates/<name>.html defining "title" and "content" (and,
//     optionally, "scripts" for <script src> tags of static/ files). The
//     page is rendered inside layout.html with the navigation of the
//     user's role.
//  3. In the handler: bind, call the domain with c.Request.Context() and
//     principal(c), then w.render(c, http.StatusOK, "<name>", data), or
//     w.fail(c, err) for any error: the error page shows the domain's
//     reason with the right status (another tenant's object is the 404
//     page, because the domain answers "not found").
//  4. Forms post application/x-www-form-urlencoded with
//     {{template "csrf" .}} inside; JavaScript sends the X-CSRF-Token
//     header with the value of <meta name="csrf-token">.
//  5. Times: {{$.When .SomeTime}} renders in the user's time zone (a cookie
//     set by app.js from Intl.DateTimeFormat; UTC without it).
//
// Placeholder pages (a role home not built yet) are fallback routes: a
// real route with the same method and path replaces them.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	_ "time/tzdata" // time zones of users whatever the host has

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/logctx"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/worklist"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// TZCookie holds the user's IANA time zone, set by static/app.js.
const TZCookie = "teleread_tz"

// Config is what the web application needs.
type Config struct {
	Logger   *slog.Logger
	Edge     *edge.Edge
	Pool     *pgxpool.Pool
	Identity *identity.Service
	Cases    *cases.Service
	Intake   *intake.Service
	Worklist *worklist.Service
	Reports  *reports.Service
	Delivery *delivery.Service
	// SecureCookies sets the Secure attribute on the session cookie.
	SecureCookies bool
	// ConnectOrigins are extra origins the pages' scripts may send to
	// (the object store of presigned uploads), for the CSP.
	ConnectOrigins []string
	// Viewer says whether OHIF is installed (nil: it is not).
	Viewer Installer
	// Jobs enqueues routing again from the unrouted list (nil: not offered).
	Jobs cases.JobInserter
}

// Web serves the pages.
type Web struct {
	logger   *slog.Logger
	edge     *edge.Edge
	pool     *pgxpool.Pool
	identity *identity.Service
	cases    *cases.Service
	intake   *intake.Service
	worklist *worklist.Service
	reports  *reports.Service
	delivery *delivery.Service
	viewer   Installer
	jobs     cases.JobInserter
	secure   bool
	csp      string
	pages    map[string]*template.Template
	routes   []page
}

// page is one route of the application.
type page struct {
	method, path string
	rule         edge.Rule
	handle       func(*Web, *gin.Context)
	// fallback routes (placeholders) give way to a real route of the
	// same method and path.
	fallback bool
}

// pageSet is the pages of one file.
type pageSet []page

// sets are every file's pages. Add yours here.
func sets() []pageSet {
	return []pageSet{corePages, placeholderPages, sitePages, referrerPages, specialistPages, adminPages}
}

// Rules used by the page sets.
var (
	public      = edge.Rule{Public: true}
	anyone      = edge.Rule{Roles: identity.Roles}
	siteStaff   = edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff}}
	siteUsers   = edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff, identity.RoleReferringPhysician}}
	referrers   = edge.Rule{Roles: []identity.Role{identity.RoleReferringPhysician}}
	specialists = edge.Rule{Roles: []identity.Role{identity.RoleSpecialist}}
	admins      = edge.Rule{Roles: []identity.Role{identity.RoleOrgAdmin, identity.RolePlatformAdmin}}
	// platformAdmins: routing rules and the unrouted list span every
	// site and reading group, as their REST routes do.
	platformAdmins = edge.Rule{Roles: []identity.Role{identity.RolePlatformAdmin}}
)

var corePages = pageSet{
	{method: http.MethodGet, path: "/", rule: public, handle: (*Web).root},
	{method: http.MethodGet, path: "/login", rule: public, handle: (*Web).loginPage},
	{method: http.MethodPost, path: "/login", rule: public, handle: (*Web).loginSubmit},
	{method: http.MethodPost, path: "/logout", rule: anyone, handle: (*Web).logout},
	{method: http.MethodGet, path: "/static/*file", rule: public, handle: (*Web).static},
}

var placeholderPages = pageSet{
	{method: http.MethodGet, path: "/worklist", rule: specialists, handle: placeholder("Worklist",
		"The worklist of your reading group comes here: priority, due time, claim and release, the case view, the photo viewer, OHIF and the report editor."),
		fallback: true},
	{method: http.MethodGet, path: "/admin", rule: admins, handle: placeholder("Administration",
		"Users and tokens, reading groups and their service levels, routing rules, webhooks, the unrouted list, the audit log and turnaround come here."),
		fallback: true},
}

// New returns the web application; its rules are added to cfg.Edge's
// policy.
func New(cfg Config) *Web {
	w := &Web{logger: cfg.Logger, edge: cfg.Edge, pool: cfg.Pool, identity: cfg.Identity, cases: cfg.Cases,
		intake: cfg.Intake, worklist: cfg.Worklist, reports: cfg.Reports, delivery: cfg.Delivery, viewer: cfg.Viewer, jobs: cfg.Jobs,
		secure: cfg.SecureCookies, pages: parseTemplates()}
	connect := append([]string{"'self'"}, cfg.ConnectOrigins...)
	w.csp = "default-src 'self'; img-src 'self' data: blob:; connect-src " + strings.Join(connect, " ") +
		"; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
	w.routes = resolve(sets())
	p := edge.Policy{}
	for _, pg := range w.routes {
		p[edge.Key(pg.method, pg.path)] = pg.rule
		if pg.method == http.MethodGet {
			p[edge.Key(http.MethodHead, pg.path)] = pg.rule
		}
	}
	cfg.Edge.Allow(p)
	return w
}

// resolve merges the sets: a real route replaces a fallback one; two real
// routes with the same key are a programming error.
func resolve(ss []pageSet) []page {
	var out []page
	at := map[string]int{}
	for _, s := range ss {
		for _, pg := range s {
			k := edge.Key(pg.method, pg.path)
			if i, ok := at[k]; ok {
				switch {
				case out[i].fallback:
					out[i] = pg
				case pg.fallback:
				default:
					panic(fmt.Sprintf("web: page %q registered twice", k))
				}
				continue
			}
			at[k] = len(out)
			out = append(out, pg)
		}
	}
	return out
}

// Mount adds the pages to r.
func (w *Web) Mount(r gin.IRouter) {
	g := r.Group("", append([]gin.HandlerFunc{edge.Pages(), w.headers(), w.toLogin()},
		w.edge.Guard(edge.GuardOptions{})...)...)
	for _, pg := range w.routes {
		h := func(c *gin.Context) { pg.handle(w, c) }
		g.Handle(pg.method, pg.path, h)
		// HEAD is GET without the body (link checkers, monitors): net/http
		// drops what the handler writes.
		if pg.method == http.MethodGet {
			g.Handle(http.MethodHead, pg.path, h)
		}
	}
}

// headers sets the pages' CSP (which also lets scripts reach the object
// store of presigned uploads) and keeps pages with patient data out of
// caches.
func (w *Web) headers() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", w.csp)
		if !strings.HasPrefix(c.Request.URL.Path, "/static/") {
			c.Header("Cache-Control", "no-store")
		}
		c.Next()
	}
}

// toLogin sends a browser without a session to the sign-in page instead
// of the 401 page, remembering where it was going.
func (w *Web) toLogin() gin.HandlerFunc {
	return func(c *gin.Context) {
		r, ok := w.edge.Rule(c.Request.Method, c.FullPath())
		if c.Request.Method != http.MethodGet || !ok || r.Public || c.GetHeader("Authorization") != "" {
			c.Next()
			return
		}
		if v, err := c.Cookie(edge.SessionCookie); err == nil && v != "" {
			c.Next()
			return
		}
		c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		c.Abort()
	}
}

// parseTemplates parses layout.html with each page template.
func parseTemplates() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t := template.Must(base.Clone())
		out[name] = template.Must(t.ParseFS(templateFS, n))
	}
	return out
}

// funcs are the helpers every template may use.
var funcs = template.FuncMap{
	"statusLabel":   statusLabel,
	"priorityLabel": func(s string) string { return s },
	"short":         func(id uuid.UUID) string { return id.String()[:8] },
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"has":       func(m map[string]string, k string) bool { _, ok := m[k]; return ok },
	"add":       func(a, b int) int { return a + b },
	"bytes":     fmtBytes,
	"deref2":    func(b *bool) bool { return b != nil && *b },
	"dicomName": dicomName,
	"dicomDate": dicomDate,
}

// statusLabel is a case status as people say it.
func statusLabel(s string) string {
	switch cases.Status(s) {
	case cases.StatusDraft:
		return "Draft"
	case cases.StatusSubmitted:
		return "Submitted, waiting for routing"
	case cases.StatusRouted:
		return "On the reading group's worklist"
	case cases.StatusInReview:
		return "Being read"
	case cases.StatusInfoRequested:
		return "More information requested"
	case cases.StatusReported:
		return "Report signed"
	case cases.StatusDelivered:
		return "Report delivered"
	case cases.StatusAcknowledged:
		return "Report acknowledged"
	case cases.StatusCancelled:
		return "Cancelled"
	}
	return s
}

// View is what every template gets: the signed-in user, the CSRF token,
// the navigation, the user's time zone and the page's own data.
type View struct {
	Title     string
	User      *identity.Principal
	CSRFToken string
	Nav       []NavItem
	Path      string
	Zone      *time.Location
	// Flash is a one-line message at the top of the page.
	Flash string
	Data  any
}

// NavItem is one link of the navigation.
type NavItem struct {
	Label, Href string
	Current     bool
}

// When renders a time (time.Time or *time.Time) in the user's zone.
func (v View) When(t any) string {
	var tt time.Time
	switch x := t.(type) {
	case time.Time:
		tt = x
	case *time.Time:
		if x == nil {
			return ""
		}
		tt = *x
	default:
		return ""
	}
	if tt.IsZero() {
		return ""
	}
	return tt.In(v.Zone).Format("2 Jan 2006 15:04 MST")
}

// ZoneName is the name of the user's time zone.
func (v View) ZoneName() string { return v.Zone.String() }

// Is reports whether the user holds the role.
func (v View) Is(role string) bool { return v.User != nil && v.User.Has(identity.Role(role)) }

// navFor is the navigation of p's roles.
func navFor(p *identity.Principal, current string) []NavItem {
	if p == nil {
		return nil
	}
	var items []NavItem
	add := func(label, href string) {
		for _, it := range items {
			if it.Href == href {
				return
			}
		}
		cur := current == href || (href != "/" && strings.HasPrefix(current, href+"/"))
		items = append(items, NavItem{Label: label, Href: href, Current: cur})
	}
	if p.Has(identity.RoleSiteStaff) {
		add("Cases", "/cases")
		add("New case", "/cases/new")
		add("Incoming studies", "/incoming")
	}
	if p.Has(identity.RoleReferringPhysician) {
		add("Inbox", "/inbox")
		add("My cases", "/my-cases")
		add("New case", "/cases/new")
	}
	if p.Has(identity.RoleSpecialist) {
		add("Worklist", "/worklist")
	}
	if p.HasAny(identity.RoleOrgAdmin, identity.RolePlatformAdmin) {
		add("Administration", "/admin")
	}
	return items
}

// homeOf is where p lands after signing in.
func homeOf(p *identity.Principal) string {
	switch {
	case p.Has(identity.RoleSiteStaff):
		return "/cases"
	case p.Has(identity.RoleReferringPhysician):
		return "/inbox"
	case p.Has(identity.RoleSpecialist):
		return "/worklist"
	default:
		return "/admin"
	}
}

func principal(c *gin.Context) *identity.Principal { return identity.FromContext(c.Request.Context()) }

// zone is the user's time zone from the cookie, UTC without one.
func zone(c *gin.Context) *time.Location {
	v, err := c.Cookie(TZCookie)
	if err != nil || v == "" || len(v) > 64 || strings.Contains(v, "..") {
		return time.UTC
	}
	if loc, err := time.LoadLocation(v); err == nil {
		return loc
	}
	return time.UTC
}

func (w *Web) view(c *gin.Context, title string, data any) View {
	p := principal(c)
	v := View{Title: title, User: p, Path: c.Request.URL.Path, Zone: zone(c), Data: data, Nav: navFor(p, c.Request.URL.Path)}
	if p != nil {
		v.CSRFToken = p.CSRFToken
	}
	if f, err := c.Cookie("teleread_flash"); err == nil && f != "" {
		if s, err := url.QueryUnescape(f); err == nil {
			v.Flash = s
		}
		http.SetCookie(c.Writer, &http.Cookie{Name: "teleread_flash", Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
			Secure: w.secure, SameSite: http.SameSiteLaxMode})
	}
	return v
}

// render writes the page name with data at status. The page's title is
// what its "title" block says (never patient data).
func (w *Web) render(c *gin.Context, status int, name string, data any) {
	w.renderView(c, status, name, w.view(c, "", data))
}

func (w *Web) renderView(c *gin.Context, status int, name string, v View) {
	t, ok := w.pages[name]
	if !ok {
		w.fail(c, fmt.Errorf("web: no template %q", name))
		return
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := t.ExecuteTemplate(c.Writer, "layout", v); err != nil {
		w.logger.ErrorContext(c.Request.Context(), "render page", "page", name, "error", err.Error())
	}
}

// problemView is the error page's data.
type problemView struct {
	Problem edge.Problem
	Fields  map[string]string
}

// fail renders the error page for err: the domain's reason (never an
// internal error's) with its status.
func (w *Web) fail(c *gin.Context, err error) {
	p := edge.ProblemOf(c, w.logger, err)
	if p.Status == http.StatusUnauthorized {
		c.Redirect(http.StatusSeeOther, "/login")
		c.Abort()
		return
	}
	v := w.view(c, "", problemView{Problem: p, Fields: p.Fields})
	v.Title = p.Title
	w.renderView(c, p.Status, "error", v)
	c.Abort()
}

// redirect answers a form post with a redirect to target and a one-line
// message shown on the next page.
func (w *Web) redirect(c *gin.Context, target, flash string) {
	if flash != "" {
		http.SetCookie(c.Writer, &http.Cookie{Name: "teleread_flash", Value: url.QueryEscape(flash), Path: "/",
			MaxAge: 60, HttpOnly: true, Secure: w.secure, SameSite: http.SameSiteLaxMode})
	}
	c.Redirect(http.StatusSeeOther, target)
}

// pathID reads the uuid path parameter name; a malformed one is "not
// found", like an id that does not exist.
func pathID(c *gin.Context, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil {
		return uuid.Nil, apperr.New(apperr.NotFound, "no such %s", strings.TrimSuffix(name, "_id"))
	}
	return id, nil
}

func placeholder(title, what string) func(*Web, *gin.Context) {
	return func(w *Web, c *gin.Context) {
		v := w.view(c, title, what)
		v.Title = title
		w.renderView(c, http.StatusOK, "placeholder", v)
	}
}

// root sends a signed-in user home and anyone else to the sign-in page.
func (w *Web) root(c *gin.Context) {
	if p := w.edge.Identify(c); p != nil {
		c.Redirect(http.StatusSeeOther, homeOf(p))
		return
	}
	c.Redirect(http.StatusSeeOther, "/login")
}

func (w *Web) static(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || name == "" || strings.Contains(name, "..") {
		w.fail(c, apperr.New(apperr.NotFound, "no such file"))
		return
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	case ".png":
		ct = "image/png"
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, ct, b)
}

// loginView is the sign-in page's data.
type loginView struct {
	Email, Next string
	Error       string
	RetryAfter  int
}

func (w *Web) loginPage(c *gin.Context) {
	if p := w.edge.Identify(c); p != nil {
		c.Redirect(http.StatusSeeOther, homeOf(p))
		return
	}
	v := w.view(c, "Sign in", loginView{Next: safeNext(c.Query("next"))})
	v.Title = "Sign in"
	w.renderView(c, http.StatusOK, "login", v)
}

func (w *Web) loginSubmit(c *gin.Context) {
	ctx := c.Request.Context()
	email, next := strings.TrimSpace(c.PostForm("email")), safeNext(c.PostForm("next"))
	sess, err := w.identity.Login(ctx, email, c.PostForm("password"), c.ClientIP(), logctx.RequestID(ctx))
	if err != nil {
		lv := loginView{Email: email, Next: next}
		status := http.StatusUnauthorized
		e, ok := apperr.As(err)
		switch {
		case ok && e.Code == apperr.RateLimited:
			status = http.StatusTooManyRequests
			lv.RetryAfter = e.RetryAfterSeconds
			lv.Error = "Too many failed sign-ins for this account or address. Sign-in is locked for now: try again in " +
				waitText(e.RetryAfterSeconds) + "."
		case ok && e.Code == apperr.Invalid:
			status = http.StatusBadRequest
			lv.Error = "Enter your e-mail address and your password."
		case ok && e.Code == apperr.Unauthorized:
			lv.Error = "The e-mail address or the password is wrong (" + e.Message + ")."
		default:
			w.fail(c, err)
			return
		}
		if lv.RetryAfter > 0 {
			c.Header("Retry-After", fmt.Sprint(lv.RetryAfter))
		}
		v := w.view(c, "Sign in", lv)
		v.Title = "Sign in"
		w.renderView(c, status, "login", v)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: edge.SessionCookie, Value: sess.Secret, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: w.secure, SameSite: http.SameSiteLaxMode})
	if next == "" {
		next = homeOf(sess.Principal)
	}
	c.Redirect(http.StatusSeeOther, next)
}

// waitText is a wait in words.
func waitText(seconds int) string {
	switch {
	case seconds <= 60:
		return "a minute"
	default:
		return fmt.Sprintf("%d minutes", (seconds+59)/60)
	}
}

// safeNext keeps only a local path to go to after signing in.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") ||
		strings.HasPrefix(s, "/login") {
		return ""
	}
	return s
}

func (w *Web) logout(c *gin.Context) {
	if err := w.identity.Logout(c.Request.Context(), principal(c)); err != nil {
		w.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: edge.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: w.secure, SameSite: http.SameSiteLaxMode})
	w.redirect(c, "/login", "You are signed out.")
}

// NotFound answers a request for an address no route serves: the error
// page for a browser (a request that accepts HTML, outside /api/ and
// /dicomweb), and api for anyone else.
func (w *Web) NotFound(api gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := c.Request.URL.Path
		if !strings.Contains(c.GetHeader("Accept"), "text/html") || strings.HasPrefix(p, "/api/") ||
			strings.HasPrefix(p, "/dicomweb") {
			api(c)
			return
		}
		w.edge.Identify(c)
		c.Header("Content-Security-Policy", w.csp)
		w.fail(c, apperr.New(apperr.NotFound, "there is no page at this address"))
	}
}

// Serves reports whether the route (gin's path template) is a page of
// this package, for tests that hold the REST routes to the API contract.
func Serves(method, route string) bool {
	if method == http.MethodHead {
		method = http.MethodGet // every GET page answers HEAD
	}
	for _, pg := range resolve(sets()) {
		if pg.method == method && pg.path == route {
			return true
		}
	}
	return false
}
