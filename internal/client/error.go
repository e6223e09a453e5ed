package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/teleread/teleread/api"
)

// Error is an answer of the server that is not the success it expected:
// the problem+json document (RFC 9457) decoded, or, from object storage or
// a proxy, the status and the start of the body.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Type, Title and Code name the kind of problem (Code is one of
	// invalid, unauthorized, forbidden, not_found, conflict, ...).
	Type, Title, Code string
	// Reason is the problem's detail: what went wrong, for a person.
	Reason string
	// Fields maps each invalid field of the request to what is wrong.
	Fields map[string]string
	// Files are the per-file outcomes of an upload none of whose files
	// was accepted, each rejected one with its reason.
	Files []api.FileResult
	// RequestID is the id to quote when reporting the problem.
	RequestID string
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	} else if e.Title != "" {
		b.WriteString(": " + e.Title)
	}
	if len(e.Files) == 1 && e.Files[0].Reason != "" && e.Files[0].Reason != e.Reason {
		b.WriteString(" (" + e.Files[0].Reason + ")")
	}
	for k, v := range e.Fields {
		fmt.Fprintf(&b, "; %s %s", k, v)
	}
	return b.String()
}

// FileReason is the reason the server gave for refusing the one file of an
// upload, or the problem's reason.
func (e *Error) FileReason() string {
	for _, f := range e.Files {
		if f.Status == api.FileRejected && f.Reason != "" {
			return f.Reason
		}
	}
	if e.Reason != "" {
		return e.Reason
	}
	return e.Title
}

// NetError is a failure to reach the server or to read its answer.
type NetError struct{ Err error }

func (e *NetError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *NetError) Unwrap() error { return e.Err }

// localError is a failure on this side (a file that cannot be opened): never retried.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsUnreachable reports whether err is a network failure (after retries).
func IsUnreachable(err error) bool {
	var ne *NetError
	return errors.As(err, &ne)
}

// readError turns an unexpected answer into an *Error and closes its body.
func readError(resp *http.Response) error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header), RequestID: resp.Header.Get("X-Request-Id")}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		var p api.Problem
		if json.Unmarshal(raw, &p) == nil {
			e.Type, e.Title, e.Code, e.Reason, e.Fields = p.Type, p.Title, p.Code, p.Detail, p.Fields
			if p.RequestID != "" {
				e.RequestID = p.RequestID
			}
			if len(p.Details) > 0 && p.Details[0] == '[' {
				_ = json.Unmarshal(p.Details, &e.Files)
			}
			return e
		}
	}
	// Object storage answers XML; a proxy, anything. Keep a line of it.
	text := strings.TrimSpace(string(raw))
	if i := strings.Index(text, "<Message>"); i >= 0 {
		text = text[i+len("<Message>"):]
		if j := strings.Index(text, "</Message>"); j >= 0 {
			text = text[:j]
		}
	}
	if len(text) > 200 {
		text = text[:200]
	}
	e.Reason = text
	return e
}
