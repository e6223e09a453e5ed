package api

import "encoding/json"

// List is the answer of a route that returns every item at once, such as
// GET /api/v1/orgs: {"items": [...]}.
type List[T any] struct {
	Items []T `json:"items"`
}

// Status is a one-word answer: {"status": "ok"} from /healthz, or
// {"status": "routing queued"} from a reroute.
type Status struct {
	Status string `json:"status"`
}

// Problem is the RFC 9457 error answer of every route, sent as
// application/problem+json (schema Problem). The server writes it with
// internal/edge; clients decode it with this type.
type Problem struct {
	// Type is a URI naming the kind of problem; Title its summary.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	// Detail says what went wrong with this request, for a person.
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Code is the machine-readable kind: invalid, unauthorized, forbidden,
	// not_found, conflict, too_large, unprocessable, ...
	Code string `json:"code"`
	// RequestID is the X-Request-ID to quote when reporting the problem.
	RequestID string `json:"request_id,omitempty"`
	// Fields maps each invalid field of the request to what is wrong.
	Fields map[string]string `json:"fields,omitempty"`
	// Details holds route-specific members: the []FileResult of a failed
	// upload, or a VersionConflict.
	Details json.RawMessage `json:"details,omitempty"`
}

// VersionConflict is the Details of the 412 answering a report draft saved
// with an If-Match of an older version.
type VersionConflict struct {
	CurrentVersion int32 `json:"current_version"`
}
