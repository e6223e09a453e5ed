package httpapi

import (
	"crypto/subtle"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/logctx"
)

// SessionCookie is the name of the web session cookie.
const SessionCookie = "teleread_session"

// CSRFHeader carries the session's CSRF token on state-changing requests
// made with a session cookie (forms send the csrf_token field instead).
const CSRFHeader = "X-CSRF-Token"

// authenticate puts the caller's principal in the request context: from a
// bearer token, or else from the session cookie. Routes whose rule is public
// pass without one; any other request without valid credentials is a 401.
func (a *API) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		r, ok := policy[c.Request.Method+" "+c.FullPath()]
		if ok && r.public {
			c.Next()
			return
		}
		ctx := c.Request.Context()
		var p *identity.Principal
		var err error
		if h := c.GetHeader("Authorization"); h != "" {
			scheme, token, found := strings.Cut(h, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				a.fail(c, apperr.New(apperr.Unauthorized, "malformed Authorization header: expected `Bearer <token>`"))
				return
			}
			p, err = a.identity.AuthenticateToken(ctx, strings.TrimSpace(token))
		} else if cookie, cerr := c.Cookie(SessionCookie); cerr == nil && cookie != "" {
			p, err = a.identity.AuthenticateSession(ctx, cookie)
		} else {
			err = apperr.New(apperr.Unauthorized, "authentication required: send `Authorization: Bearer <token>` or sign in")
		}
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="teleread"`)
			a.fail(c, err)
			return
		}
		p.ClientIP = c.ClientIP()
		p.RequestID = logctx.RequestID(ctx)
		c.Request = c.Request.WithContext(identity.WithPrincipal(ctx, p))
		c.Next()
	}
}

// csrf refuses state-changing requests authenticated by a session cookie
// unless they carry the session's CSRF token. Bearer-token requests are not
// sent by browsers on their own, so they need none.
func (a *API) csrf() gin.HandlerFunc {
	return func(c *gin.Context) {
		p := identity.FromContext(c.Request.Context())
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		if p == nil || p.SessionID == uuid.Nil {
			c.Next()
			return
		}
		got := c.GetHeader(CSRFHeader)
		if got == "" {
			got = c.PostForm("csrf_token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRFToken)) != 1 {
			a.fail(c, apperr.New(apperr.Forbidden, "missing or wrong CSRF token (send the X-CSRF-Token header)"))
			return
		}
		c.Next()
	}
}

// authorize applies the policy table: a route without a rule is refused,
// and a caller without one of the rule's roles gets 403.
func (a *API) authorize() gin.HandlerFunc {
	return func(c *gin.Context) {
		r, ok := policy[c.Request.Method+" "+c.FullPath()]
		if !ok {
			a.logger.ErrorContext(c.Request.Context(), "route has no authorization rule", "route", c.FullPath())
			a.fail(c, apperr.New(apperr.Forbidden, "this route has no authorization rule"))
			return
		}
		if r.public {
			c.Next()
			return
		}
		p := identity.FromContext(c.Request.Context())
		if p == nil || !p.HasAny(r.roles...) {
			a.fail(c, apperr.New(apperr.Forbidden, "your role may not do this"))
			return
		}
		c.Next()
	}
}

// rateLimiter keeps a token bucket per caller (token, session or client
// address). Limits are per API process; behind a load balancer with N
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

func (a *API) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.limiter == nil {
			c.Next()
			return
		}
		key := "ip:" + c.ClientIP()
		if p := identity.FromContext(c.Request.Context()); p != nil {
			key = "user:" + p.UserID.String() + ":" + p.TokenID.String() + p.SessionID.String()
		}
		if ok, wait := a.limiter.allow(key); !ok {
			a.fail(c, &apperr.Error{Code: apperr.RateLimited, Message: "too many requests; slow down",
				RetryAfterSeconds: int(math.Ceil(wait.Seconds()))})
			return
		}
		c.Next()
	}
}

// limitBody caps request bodies: JSON routes at maxJSON, upload routes at
// maxUpload (their handlers stream, so this bounds size, not memory).
func (a *API) limitBody(maxJSON, maxUpload int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		n := maxJSON
		if r, ok := policy[c.Request.Method+" "+c.FullPath()]; ok && r.upload {
			n = maxUpload
		}
		if c.Request.ContentLength > n {
			c.Header("Connection", "close")
			a.fail(c, apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", n))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}
