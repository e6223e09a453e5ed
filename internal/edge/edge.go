// Package edge is what every HTTP edge of Teleread shares: the REST API
// under /api/v1, DICOMweb under /dicomweb and the web pages. It
// authenticates (bearer token, HTTP Basic with a token as password, session
// cookie), checks CSRF without reading bodies, applies the one policy table
// of who may call which route, limits bodies, request rates and uploads in flight, names each
// request, and is the only writer of error answers (problem+json, or an
// HTML page for page routes).
//
// An edge builds its gin group with Edge.Guard and answers errors with
// Edge.Fail; its handlers only bind, call the domain and encode.
package edge

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/identity"
)

func init() {
	// gin's mode is package state; release mode keeps its debug printing
	// out of our logs.
	gin.SetMode(gin.ReleaseMode)
}

// Config is what an Edge needs.
type Config struct {
	Logger   *slog.Logger
	Identity *identity.Service
	// MaxRequestBytes caps bodies of routes that are not uploads.
	MaxRequestBytes int64
	// MaxUploadBytes caps bodies of routes whose rule is an upload.
	MaxUploadBytes int64
	// Limits are the request rates and upload bounds; zero ones are off.
	Limits Limits
	// Classes names the routes under a request rate or an upload bound
	// by policy key ("GET /dicomweb/studies"); routes whose rule is an
	// upload are uploads without being named.
	Classes map[string]Class
}

// Edge holds the shared middleware's state: the policy table, the rate
// limiters and upload bounds, the identity service that checks
// credentials.
type Edge struct {
	logger        *slog.Logger
	identity      *identity.Service
	policy        Policy
	classes       map[string]Class
	authLimiter   *rateLimiter
	searchLimiter *rateLimiter
	uploads       *uploadBound
	maxJSON       int64
	maxUpload     int64
	bodyWindow    time.Duration
	bodyMinBytes  int64
}

// New returns an Edge with an empty policy: every route is refused until
// an edge adds its rules with Allow.
func New(cfg Config) *Edge {
	return &Edge{logger: cfg.Logger, identity: cfg.Identity, policy: Policy{}, classes: cfg.Classes,
		authLimiter:   newRateLimiter(cfg.Limits.AuthPerMinute, cfg.Limits.AuthBurst),
		searchLimiter: newRateLimiter(cfg.Limits.SearchPerMinute, cfg.Limits.SearchBurst),
		uploads:       newUploadBound(cfg.Limits),
		maxJSON:       cfg.MaxRequestBytes, maxUpload: cfg.MaxUploadBytes,
		bodyWindow: cfg.Limits.BodyWindow, bodyMinBytes: cfg.Limits.BodyMinBytes}
}

// Logger is the edge's logger.
func (e *Edge) Logger() *slog.Logger { return e.logger }

// GuardOptions tune Guard for one edge.
type GuardOptions struct {
	// BasicChallenge adds `WWW-Authenticate: Basic` to 401 answers, for
	// clients (DICOMweb peers, PACS) that send HTTP Basic only when asked.
	BasicChallenge bool
}

// Guard is the middleware chain of a guarded route group, in order: body
// limit, body rate, authentication, rate limit, CSRF, authorization,
// upload bound. None of them reads the request body.
func (e *Edge) Guard(o GuardOptions) []gin.HandlerFunc {
	return []gin.HandlerFunc{e.limitBody(), e.minBodyRate(), e.authenticate(o), e.rateLimit(), e.csrf(), e.authorize(), e.boundUploads()}
}

// Common is the middleware every request of the server passes, guarded or
// not: request id, panic recovery, access log, metrics, security headers.
func Common(logger *slog.Logger, m *Metrics) []gin.HandlerFunc {
	return []gin.HandlerFunc{requestID(), recovery(logger), accessLog(logger), m.middleware(), securityHeaders()}
}
