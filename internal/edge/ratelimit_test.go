package edge_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
)

// limitBed is a server whose edge has limits: a sign-in route (Auth), a
// search (Search), a read that no limit counts, an upload whose handler
// reads its body to the end (so a test holds it open by not closing the
// body) and an upload that panics; with the tokens of two sites.
type limitBed struct {
	engine       *gin.Engine
	tokenA       string
	tokenA2      string // another credential of the same site
	tokenB       string
	uploadsBegun chan struct{}
}

func newLimitBed(t *testing.T, l edge.Limits) *limitBed {
	t.Helper()
	env := testenv.New(t)
	fx := testenv.NewFixtures(t, env)
	siteA := fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	siteB := fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff)
	b := &limitBed{tokenA: siteA.Tokens[identity.RoleSiteStaff], tokenA2: siteA.Tokens[identity.RoleReferringPhysician],
		tokenB: siteB.Tokens[identity.RoleSiteStaff], uploadsBegun: make(chan struct{}, 100)}

	e := edge.New(edge.Config{Logger: testenv.Logger(t), Identity: fx.Service, MaxRequestBytes: 1 << 20,
		MaxUploadBytes: 64 << 20, Limits: l, Classes: map[string]edge.Class{
			"POST /api/login":   edge.Auth,
			"GET /api/search":   edge.Search,
			"POST /api/presign": edge.Upload, // /api/upload and /api/panic are uploads by their rule
		}})
	site := edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff, identity.RoleReferringPhysician}}
	e.Allow(edge.Policy{
		"POST /api/login":   {Public: true},
		"GET /api/search":   site,
		"GET /api/read":     site,
		"POST /api/upload":  site.AsUpload(),
		"POST /api/panic":   site.AsUpload(),
		"POST /api/presign": site,
	})
	e.CheckClasses()
	r := gin.New()
	r.Use(edge.Common(testenv.Logger(t), edge.NewMetrics(prometheus.NewRegistry()))...)
	api := r.Group("/api", e.Guard(edge.GuardOptions{})...)
	ok := func(c *gin.Context) { c.Status(http.StatusNoContent) }
	api.POST("/login", ok)
	api.GET("/search", ok)
	api.GET("/read", ok)
	api.POST("/presign", ok)
	api.POST("/upload", func(c *gin.Context) {
		if c.GetHeader(holdHeader) != "" {
			b.uploadsBegun <- struct{}{}
		}
		_, _ = io.Copy(io.Discard, c.Request.Body)
		c.Status(http.StatusCreated)
	})
	api.POST("/panic", func(c *gin.Context) { panic("handler bug") })
	b.engine = r
	return b
}

// holdHeader marks a held upload, whose handler says when it runs.
const holdHeader = "X-Test-Hold"

func (b *limitBed) do(method, path, token string, body io.Reader, size int64, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	req.ContentLength = size
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range header {
		req.Header.Set(h, "1")
	}
	w := httptest.NewRecorder()
	b.engine.ServeHTTP(w, req)
	return w
}

func (b *limitBed) upload(token string, size int) *httptest.ResponseRecorder {
	return b.do(http.MethodPost, "/api/upload", token, bytes.NewReader(instance[:size]), int64(size))
}

// instance is the body of a one-instance upload: a CT slice of 512 KiB.
var instance = make([]byte, 512<<10)

// heldUpload is an upload in flight: its handler is reading a body that
// ends when finish is called.
type heldUpload struct {
	body *io.PipeWriter
	done chan *httptest.ResponseRecorder
}

// hold starts an upload that declares size bytes (-1: chunked) and
// returns once its handler runs.
func (b *limitBed) hold(t *testing.T, token string, size int64) *heldUpload {
	t.Helper()
	pr, pw := io.Pipe()
	h := &heldUpload{body: pw, done: make(chan *httptest.ResponseRecorder, 1)}
	go func() { h.done <- b.do(http.MethodPost, "/api/upload", token, pr, size, holdHeader) }()
	select {
	case <-b.uploadsBegun:
	case w := <-h.done:
		t.Fatalf("the held upload was answered at once: %d %s", w.Code, w.Body)
	}
	t.Cleanup(func() { _ = pw.Close() })
	return h
}

// finish ends the upload's body and waits for its answer.
func (h *heldUpload) finish(t *testing.T) {
	t.Helper()
	require.NoError(t, h.body.Close())
	require.Equal(t, http.StatusCreated, (<-h.done).Code)
}

func requireLimited(t *testing.T, w *httptest.ResponseRecorder, detail string) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, w.Code, w.Body.String())
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After is a number of seconds")
	require.Positive(t, secs)
	p := problem(t, w)
	require.Equal(t, "rate_limited", p["code"])
	require.Contains(t, p["detail"], detail)
}

// TestUploadConcurrencyBound holds an organisation's N uploads open: the
// next one is answered 429 with Retry-After before its body is read,
// another site's upload goes through, and when one upload finishes the
// organisation is admitted again.
func TestUploadConcurrencyBound(t *testing.T) {
	t.Parallel()
	const n = 3
	b := newLimitBed(t, edge.Limits{UploadsPerOrg: n})
	held := make([]*heldUpload, n)
	for i := range held {
		held[i] = b.hold(t, b.tokenA, -1)
	}

	body := &countingBody{r: bytes.NewReader(make([]byte, 1000))}
	w := b.do(http.MethodPost, "/api/upload", b.tokenA2, body, 1000)
	requireLimited(t, w, "bound of 3 uploads in progress")
	require.Zero(t, body.n.Load(), "the refused upload's body is not read")
	requireLimited(t, b.do(http.MethodPost, "/api/presign", b.tokenA, nil, 0), "bound of 3 uploads in progress")

	require.Equal(t, http.StatusCreated, b.upload(b.tokenB, 1000).Code, "another site has bounds of its own")
	require.Equal(t, http.StatusNoContent, b.do(http.MethodGet, "/api/read", b.tokenA, nil, 0).Code,
		"a read is not an upload")

	held[0].finish(t)
	again := b.hold(t, b.tokenA2, 1000)
	requireLimited(t, b.upload(b.tokenA, 10), "bound of 3 uploads in progress")
	again.finish(t)
	for _, h := range held[1:] {
		h.finish(t)
	}
	require.Equal(t, http.StatusCreated, b.upload(b.tokenA, 10).Code)
}

// TestUploadBytesBound admits uploads while the bytes they declare fit in
// the organisation's bound, counts a chunked one as its concurrency only,
// and admits an upload larger than the bound when nothing else of its
// organisation is in flight.
func TestUploadBytesBound(t *testing.T) {
	t.Parallel()
	b := newLimitBed(t, edge.Limits{UploadBytesPerOrg: 1000})
	first := b.hold(t, b.tokenA, 600)
	requireLimited(t, b.upload(b.tokenA, 500), "declare 600 bytes")
	require.Equal(t, http.StatusCreated, b.upload(b.tokenB, 900).Code, "another site has bounds of its own")
	second := b.hold(t, b.tokenA, 400)
	chunked := b.hold(t, b.tokenA, -1)
	requireLimited(t, b.upload(b.tokenA, 1), "declare 1000 bytes")
	first.finish(t)
	second.finish(t)
	chunked.finish(t)

	w := b.do(http.MethodPost, "/api/upload", b.tokenA, bytes.NewReader(make([]byte, 5000)), 5000)
	require.Equal(t, http.StatusCreated, w.Code, "an upload over the bound is admitted alone: %s", w.Body)
}

// TestUploadBoundReleasedOnPanic frees the place of an upload whose
// handler panics.
func TestUploadBoundReleasedOnPanic(t *testing.T) {
	t.Parallel()
	b := newLimitBed(t, edge.Limits{UploadsPerOrg: 1})
	for range 3 {
		w := b.do(http.MethodPost, "/api/panic", b.tokenA, bytes.NewReader([]byte("x")), 1)
		require.Equal(t, http.StatusInternalServerError, w.Code)
	}
	held := b.hold(t, b.tokenA, 10) // the panicking uploads' places were released
	requireLimited(t, b.do(http.MethodPost, "/api/panic", b.tokenA, bytes.NewReader([]byte("x")), 1),
		"bound of 1 uploads in progress")
	held.finish(t)
}

// TestUploadsHaveNoRequestRate sends 2,000 one-instance uploads of one
// site, 16 at a time, with request rates as strict as one a minute: none
// is refused, because uploads are bounded by what is in flight, not by a
// request rate.
func TestUploadsHaveNoRequestRate(t *testing.T) {
	t.Parallel()
	b := newLimitBed(t, edge.Limits{AuthPerMinute: 1, AuthBurst: 1, SearchPerMinute: 1, SearchBurst: 1,
		UploadsPerOrg: 16, UploadBytesPerOrg: 16 * int64(len(instance))})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 / 16 {
				code := b.upload(b.tokenA, len(instance)).Code
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, map[int]int{http.StatusCreated: 2000}, statuses)
	for range 100 {
		require.Equal(t, http.StatusNoContent, b.do(http.MethodGet, "/api/read", b.tokenA, nil, 0).Code,
			"reads are not rate limited")
	}
}

// TestSearchRate refuses a credential's searches beyond its burst with 429
// and Retry-After; another credential of the same site, and reads, are not
// affected.
func TestSearchRate(t *testing.T) {
	t.Parallel()
	b := newLimitBed(t, edge.Limits{SearchPerMinute: 60, SearchBurst: 5})
	for range 5 {
		require.Equal(t, http.StatusNoContent, b.do(http.MethodGet, "/api/search", b.tokenA, nil, 0).Code)
	}
	requireLimited(t, b.do(http.MethodGet, "/api/search", b.tokenA, nil, 0), "too many searches")
	require.Equal(t, http.StatusNoContent, b.do(http.MethodGet, "/api/search", b.tokenA2, nil, 0).Code,
		"each token has its own budget")
	require.Equal(t, http.StatusNoContent, b.do(http.MethodGet, "/api/read", b.tokenA, nil, 0).Code,
		"a read is not a search")
}

// TestAuthRate refuses sign-ins from one address beyond the burst with
// 429 and Retry-After.
func TestAuthRate(t *testing.T) {
	t.Parallel()
	b := newLimitBed(t, edge.Limits{AuthPerMinute: 10, AuthBurst: 10})
	for range 10 {
		require.Equal(t, http.StatusNoContent, b.do(http.MethodPost, "/api/login", "", nil, 0).Code)
	}
	w := b.do(http.MethodPost, "/api/login", "", nil, 0)
	requireLimited(t, w, "sign-in")
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 6, secs, 1, "one sign-in comes back every 6 s")
}

// TestCheckClasses refuses at start-up a limit class for a route that has
// no rule, so that a renamed route cannot silently lose its limit.
func TestCheckClasses(t *testing.T) {
	t.Parallel()
	e := edge.New(edge.Config{Classes: map[string]edge.Class{"GET /api/renamed": edge.Search}})
	e.Allow(edge.Policy{"GET /api/search": {Public: true}})
	require.Panics(t, e.CheckClasses)
}
