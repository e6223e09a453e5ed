package edge

import (
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
)

// rateLimiter keeps a token bucket per caller (token, session or client
// address). Limits are per process; behind a load balancer with N
// processes a caller gets up to N times the budget.
type rateLimiter struct {
	perMinute int
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(perMinute int) *rateLimiter {
	return &rateLimiter{perMinute: perMinute, buckets: map[string]*bucket{}, lastSweep: time.Now()}
}

// allow takes one request from key's bucket and says how long to wait if
// it is empty.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		burst := max(l.perMinute/6, 10)
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), burst)}
		l.buckets[key] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (e *Edge) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if e.limiter == nil {
			c.Next()
			return
		}
		key := "ip:" + c.ClientIP()
		if p := identity.FromContext(c.Request.Context()); p != nil {
			key = "user:" + p.UserID.String() + ":" + p.TokenID.String() + p.SessionID.String()
		}
		if ok, wait := e.limiter.allow(key); !ok {
			e.Fail(c, &apperr.Error{Code: apperr.RateLimited, Message: "too many requests; slow down",
				RetryAfterSeconds: int(math.Ceil(wait.Seconds()))})
			return
		}
		c.Next()
	}
}

// limitBody caps request bodies: upload routes at the upload limit (their
// handlers stream, so this bounds size, not memory), others at the JSON
// limit.
func (e *Edge) limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		n := e.maxJSON
		if r, ok := e.Rule(c.Request.Method, c.FullPath()); ok && r.Upload {
			n = e.maxUpload
		}
		if n <= 0 {
			c.Next()
			return
		}
		if c.Request.ContentLength > n {
			c.Header("Connection", "close")
			e.Fail(c, apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", n))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}
