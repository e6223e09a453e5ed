// Package httpapi is Teleread's REST API on gin: the router, the middleware
// every request passes through, thin handlers, and the one place where
// errors become problem+json answers.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teleread/teleread/internal/apperr"
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
}

func init() {
	// gin's mode is package state; release mode keeps its debug printing
	// out of our logs.
	gin.SetMode(gin.ReleaseMode)
}

// New returns the HTTP handler with every route.
func New(d Deps) http.Handler {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	metrics := newHTTPMetrics(d.Registry)
	r.Use(requestID(), recovery(d.Logger), accessLog(d.Logger), metrics.middleware(), securityHeaders())

	r.NoRoute(func(c *gin.Context) {
		writeError(c, d.Logger, apperr.New(apperr.NotFound, "no such route"))
	})
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, Problem{
			Type: "urn:teleread:problem:method_not_allowed", Title: http.StatusText(http.StatusMethodNotAllowed),
			Status: http.StatusMethodNotAllowed, Detail: "this route does not take " + c.Request.Method,
			Code: "method_not_allowed", Instance: c.Request.URL.Path,
		})
	})

	// Operations endpoints: no authentication, no patient data.
	r.GET("/healthz", healthz)
	r.GET("/readyz", readyz(d.Checks))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})))

	return r
}
