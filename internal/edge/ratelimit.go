package edge

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
)

// Class says which limit a route is under (docs/operations.md, "Limits").
// Only what needs protecting is limited: sign-ins and token creation by a
// request rate per client address, searches by a request rate per
// credential, uploads by how much one organisation has in flight. Reads
// of single objects and all other routes are under no limit of the edge.
type Class int

const (
	// Unlimited routes are counted against no limit.
	Unlimited Class = iota
	// Auth routes (signing in, creating tokens) have a request rate per
	// client address.
	Auth
	// Search routes (QIDO-RS, case lists, the worklist) have a request
	// rate per token or session.
	Search
	// Upload routes are bounded per organisation by the uploads and bytes
	// it has in flight, never by a request rate. Routes whose rule is an
	// upload are in this class without being named.
	Upload
)

// Limits are the edge's request rates and upload bounds. A zero rate or
// bound is off. They are kept per process: with several API servers a
// caller gets each server's budget.
type Limits struct {
	// AuthPerMinute and AuthBurst are the request rate of Auth routes per
	// client address.
	AuthPerMinute, AuthBurst int
	// SearchPerMinute and SearchBurst are the request rate of Search
	// routes per token or session.
	SearchPerMinute, SearchBurst int
	// UploadsPerOrg bounds the upload requests one organisation has in
	// flight.
	UploadsPerOrg int
	// UploadBytesPerOrg bounds the sum of the declared Content-Length of
	// the upload requests one organisation has in flight. A request
	// without a length (chunked) counts as 0 bytes: the concurrency bound
	// and the per-file limit bound it. One upload is always admitted when
	// its organisation has none in flight, whatever its size.
	UploadBytesPerOrg int64
	// BodyMinBytes and BodyWindow are the slowest rate a request body may
	// arrive at (bodyrate.go); a zero window is off.
	BodyMinBytes int64
	BodyWindow   time.Duration
}

// uploadRetryAfter is the Retry-After of an answer over an upload bound:
// an upload slot frees when any one upload of the organisation finishes,
// which for one DICOM instance takes well under a second.
const uploadRetryAfter = 1

// rateLimiter keeps a token bucket per key (client address, token or
// session) in memory.
type rateLimiter struct {
	limit     rate.Limit
	burst     int
	idle      time.Duration // a bucket unused this long is full again and forgotten
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// newRateLimiter returns a limiter of perMinute requests a minute with
// bursts of burst (at least 1), or nil when perMinute is 0.
func newRateLimiter(perMinute, burst int) *rateLimiter {
	if perMinute <= 0 {
		return nil
	}
	burst = max(burst, 1)
	refill := time.Duration(float64(burst) / float64(perMinute) * float64(time.Minute))
	return &rateLimiter{limit: rate.Limit(float64(perMinute) / 60), burst: burst,
		idle: max(refill, 10*time.Minute), buckets: map[string]*bucket{}, lastSweep: time.Now()}
}

// allow takes one request from key's bucket, or says how long until the
// bucket has one.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
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

// uploadBound counts each organisation's upload requests and declared
// bytes in flight.
type uploadBound struct {
	maxUploads int
	maxBytes   int64
	mu         sync.Mutex
	orgs       map[uuid.UUID]*inFlight
}

type inFlight struct {
	uploads int
	bytes   int64
}

func newUploadBound(l Limits) *uploadBound {
	if l.UploadsPerOrg <= 0 && l.UploadBytesPerOrg <= 0 {
		return nil
	}
	return &uploadBound{maxUploads: l.UploadsPerOrg, maxBytes: l.UploadBytesPerOrg, orgs: map[uuid.UUID]*inFlight{}}
}

// acquire admits an upload of size declared bytes (negative: unknown) for
// org, or says which bound it is over. release must be called once the
// request is done; calling it again does nothing.
func (u *uploadBound) acquire(org uuid.UUID, size int64) (release func(), err error) {
	size = max(size, 0)
	u.mu.Lock()
	defer u.mu.Unlock()
	f := u.orgs[org]
	if f != nil {
		switch {
		case u.maxUploads > 0 && f.uploads >= u.maxUploads:
			return nil, &apperr.Error{Code: apperr.RateLimited, RetryAfterSeconds: uploadRetryAfter, Message: fmt.Sprintf(
				"your organisation has reached its bound of %d uploads in progress on this server; retry when one finishes",
				u.maxUploads)}
		case u.maxBytes > 0 && f.bytes+size > u.maxBytes:
			return nil, &apperr.Error{Code: apperr.RateLimited, RetryAfterSeconds: uploadRetryAfter, Message: fmt.Sprintf(
				"your organisation's uploads in progress on this server declare %d bytes, and this one's %d would pass the bound of %d; retry when one finishes",
				f.bytes, size, u.maxBytes)}
		}
	} else {
		f = &inFlight{}
		u.orgs[org] = f
	}
	f.uploads++
	f.bytes += size
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			f.uploads--
			f.bytes -= size
			if f.uploads == 0 {
				delete(u.orgs, org)
			}
		})
	}, nil
}

// classOf is the limit class of a route: named in the classes table, or
// an upload by its rule.
func (e *Edge) classOf(method, route string) Class {
	if c, ok := e.classes[Key(method, route)]; ok {
		return c
	}
	if r, ok := e.Rule(method, route); ok && r.Upload {
		return Upload
	}
	return Unlimited
}

// CheckClasses panics when the classes table names a route that has no
// policy rule (a route renamed or removed), so that a limit cannot
// silently stop applying. Call it once every edge has added its rules.
func (e *Edge) CheckClasses() {
	for k := range e.classes {
		if _, ok := e.policy[k]; !ok {
			panic(fmt.Sprintf("edge: limit class for route %q, which has no policy rule", k))
		}
	}
}

// rateLimit applies the request rate of Auth routes (per client address)
// and Search routes (per token or session). It runs after authentication.
func (e *Edge) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		var (
			l    *rateLimiter
			key  string
			what string
		)
		switch e.classOf(c.Request.Method, c.FullPath()) {
		case Auth:
			l, key, what = e.authLimiter, "ip:"+c.ClientIP(), "sign-in and token requests from this address"
		case Search:
			l, key, what = e.searchLimiter, credentialKey(c), "searches with this token or session"
		}
		if l == nil {
			c.Next()
			return
		}
		if ok, wait := l.allow(key, time.Now()); !ok {
			secs := max(int(math.Ceil(wait.Seconds())), 1)
			e.Fail(c, &apperr.Error{Code: apperr.RateLimited, RetryAfterSeconds: secs,
				Message: fmt.Sprintf("too many %s; retry in %d s", what, secs)})
			return
		}
		c.Next()
	}
}

// credentialKey names the caller's credential: its token or session, or
// its address when it has none.
func credentialKey(c *gin.Context) string {
	if p := identity.FromContext(c.Request.Context()); p != nil {
		return "user:" + p.UserID.String() + ":" + p.TokenID.String() + p.SessionID.String()
	}
	return "ip:" + c.ClientIP()
}

// boundUploads admits an upload request while its organisation is within
// the upload bounds and holds its place until the handler returns (also
// when it panics or aborts). Over a bound, it answers 429 with
// Retry-After before reading any of the body. It runs after
// authorization, so refused requests take no place.
func (e *Edge) boundUploads() gin.HandlerFunc {
	return func(c *gin.Context) {
		p := identity.FromContext(c.Request.Context())
		if e.uploads == nil || p == nil || e.classOf(c.Request.Method, c.FullPath()) != Upload {
			c.Next()
			return
		}
		release, err := e.uploads.acquire(p.OrgID, c.Request.ContentLength)
		if err != nil {
			e.Fail(c, err)
			return
		}
		defer release()
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
