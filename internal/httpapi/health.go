package httpapi

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/edge"
)

// Check is one dependency that /readyz probes.
type Check struct {
	// Name identifies the dependency in the answer: "postgres",
	// "object_storage", "river".
	Name string
	// Probe returns nil when the dependency answers.
	Probe func(ctx context.Context) error
}

// probeTimeout bounds each readiness probe, so /readyz answers quickly even
// when a dependency hangs.
const probeTimeout = 2 * time.Second

func healthz(c *gin.Context) {
	c.JSON(http.StatusOK, api.Status{Status: api.ReadyOK})
}

// readyz probes every dependency concurrently and answers 200 when all
// answer, or 503 naming those that did not. A dependency's error and the
// probes' latencies can name hosts, users and versions, so only a caller
// on this machine (a probe on loopback, not forwarded by a proxy) or a
// signed-in platform admin gets them; everyone else gets the status and
// the names of the failed dependencies.
func readyz(e *edge.Edge, checks []Check) gin.HandlerFunc {
	return func(c *gin.Context) {
		detailed := localCaller(c)
		if !detailed {
			if p := e.Identify(c); p != nil && p.IsPlatformAdmin() {
				detailed = true
			}
		}
		res := api.Readiness{Status: api.ReadyOK, Checks: make(map[string]api.ReadinessCheck, len(checks))}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, ch := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(c.Request.Context(), probeTimeout)
				defer cancel()
				start := time.Now()
				err := ch.Probe(ctx)
				ms := float64(time.Since(start).Microseconds()) / 1000
				r := api.ReadinessCheck{Status: api.ReadyOK}
				if err != nil {
					r.Status = api.ReadyUnavailable
				}
				if detailed {
					r.LatencyMS = &ms
					if err != nil {
						r.Error = err.Error()
					}
				}
				mu.Lock()
				res.Checks[ch.Name] = r
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, ch := range checks {
			if res.Checks[ch.Name].Status != api.ReadyOK {
				res.Failed = append(res.Failed, ch.Name)
			}
		}
		status := http.StatusOK
		if len(res.Failed) > 0 {
			res.Status = api.ReadyUnavailable
			status = http.StatusServiceUnavailable
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(status, res)
	}
}

// localCaller reports whether the request comes from this machine itself:
// its peer is a loopback address and no proxy forwarded it (a reverse
// proxy on the same host would otherwise make every caller local).
func localCaller(c *gin.Context) bool {
	for _, h := range []string{"X-Forwarded-For", "X-Real-IP", "Forwarded"} {
		if c.GetHeader(h) != "" {
			return false
		}
	}
	ip := net.ParseIP(c.RemoteIP())
	return ip != nil && ip.IsLoopback()
}
