// Package client is a typed Go client of Teleread's REST API (api/openapi.yaml),
// used by `teleread upload` and the end-to-end tests. It speaks the wire
// types of package api, which are held to the spec by api's tests; the
// routes it calls are held to the spec by TestRoutesMatchTheSpec.
//
// Every call retries, with exponential back-off and full jitter, what is
// worth retrying: network errors, 429 (honouring Retry-After), 5xx, and a
// 409 with Retry-After (an idempotent request still running). Bodies are
// re-opened for each attempt, so files stream and are never held in memory.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Client calls one Teleread server with one API token. It is safe for
// concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
	retry Retry
	// sleep waits between attempts (a test may replace it).
	sleep func(ctx context.Context, d time.Duration) error
}

// Retry says how often and how patiently a call is retried.
type Retry struct {
	// Attempts is the most attempts of one call, the first included; 1
	// means no retry.
	Attempts int
	// Base is the first back-off; it doubles with each attempt up to Max.
	Base time.Duration
	Max  time.Duration
	// OnRetry, if set, hears of each retry before its wait.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// DefaultRetry is the retry policy of New.
var DefaultRetry = Retry{Attempts: 8, Base: 250 * time.Millisecond, Max: 30 * time.Second}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends the requests with hc instead of a default client.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetry replaces DefaultRetry.
func WithRetry(r Retry) Option { return func(c *Client) { c.retry = r } }

// New returns a Client of the server at baseURL (scheme and host, e.g.
// https://teleread.example.org) that authenticates with token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port]", baseURL)
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), token: token, retry: DefaultRetry,
		http: &http.Client{Transport: http.DefaultTransport}, sleep: sleepCtx}
	for _, o := range opts {
		o(c)
	}
	if c.retry.Attempts < 1 {
		c.retry.Attempts = 1
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Body is a request body that can be sent again: Open gives the bytes from
// the start for each attempt. Size is their length, sent as Content-Length
// (-1 if unknown).
type Body struct {
	Open        func() (io.ReadCloser, error)
	Size        int64
	ContentType string
}

// jsonBody is a Body of v encoded as JSON (small: held in memory).
func jsonBody(v any) (*Body, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return &Body{Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		Size: int64(len(b)), ContentType: "application/json"}, nil
}

// request is one call: an operation of the spec with its path filled in.
type request struct {
	op      op
	path    string // with the parameters in
	query   url.Values
	body    *Body
	header  http.Header
	rawURL  string // a presigned URL instead of base+path, sent without the token
	noRetry bool
}

// send makes the request, retrying as Retry says, and returns the answer
// of the first attempt that is not retried. A status other than the
// operation's success status is an *Error.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var last error
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, r)
		if err == nil && r.op.ok(resp.StatusCode) {
			return resp, nil
		}
		if err == nil {
			err = readError(resp)
		}
		last = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if r.noRetry || attempt >= c.retry.Attempts || !retryable(err) {
			return nil, last
		}
		wait := c.backoff(attempt, err)
		if c.retry.OnRetry != nil {
			c.retry.OnRetry(attempt, wait, err)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func (c *Client) once(ctx context.Context, r request) (*http.Response, error) {
	u := r.rawURL
	if u == "" {
		u = c.base + r.path
		if len(r.query) > 0 {
			u += "?" + r.query.Encode()
		}
	}
	var rd io.ReadCloser
	size := int64(0)
	if r.body != nil {
		var err error
		if rd, err = r.body.Open(); err != nil {
			return nil, &localError{err: err}
		}
		size = r.body.Size
	}
	req, err := http.NewRequestWithContext(ctx, r.op.Method, u, rd)
	if err != nil {
		if rd != nil {
			rd.Close()
		}
		return nil, &localError{err: err}
	}
	if r.body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
		if r.body.ContentType != "" {
			req.Header.Set("Content-Type", r.body.ContentType)
		}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.rawURL == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if s, ok := rd.(*stream); ok {
			if le := s.failure(); le != nil {
				return nil, le // a file of the body could not be read: not the network's fault
			}
		}
		return nil, &NetError{Err: err}
	}
	return resp, nil
}

// backoff is the wait before the next attempt: Retry-After when the server
// named one, else full jitter over an exponentially growing window.
func (c *Client) backoff(attempt int, err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return min(e.RetryAfter, 5*time.Minute)
	}
	window := c.retry.Base << min(attempt-1, 20)
	if c.retry.Max > 0 && window > c.retry.Max {
		window = c.retry.Max
	}
	if window <= 0 {
		return 0
	}
	return window/2 + rand.N(window/2+1)
}

// retryable reports whether another attempt may succeed.
func retryable(err error) bool {
	var ne *NetError
	if errors.As(err, &ne) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status >= 500 && e.Status != http.StatusNotImplemented:
		return true
	case e.Status == http.StatusConflict && e.RetryAfter > 0:
		return true
	}
	return false
}

// decode reads a JSON answer into out and closes the body.
func decode(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return &NetError{Err: fmt.Errorf("decode the answer of %s: %w", resp.Request.URL.Path, err)}
	}
	return nil
}

// call sends a JSON request (in may be nil) and decodes the answer into out.
func (c *Client) call(ctx context.Context, o op, args []string, query url.Values, in, out any, header http.Header) error {
	r := request{op: o, path: o.fill(args...), query: query, header: header}
	if in != nil {
		b, err := jsonBody(in)
		if err != nil {
			return err
		}
		r.body = b
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", o.Method, r.path, err)
	}
	return decode(resp, out)
}

// idempotency returns a header with a fresh Idempotency-Key, the same for
// every attempt of one call, unless key is given.
func idempotency(key string) http.Header {
	if key == "" {
		key = uuid.NewString()
	}
	return http.Header{"Idempotency-Key": {key}}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
