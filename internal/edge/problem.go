package edge

import (
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/logctx"
	"github.com/teleread/teleread/internal/postgres"
)

// Problem is an RFC 9457 problem details document.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Instance  string            `json:"instance,omitempty"`
	Code      apperr.Code       `json:"code"`
	RequestID string            `json:"request_id,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	// Extra carries route-specific members, such as per-file results.
	Extra any `json:"details,omitempty"`
}

// ProblemContentType is the media type of every error answer of the APIs.
const ProblemContentType = "application/problem+json"

var statusOf = map[apperr.Code]int{
	apperr.Invalid:       http.StatusBadRequest,
	apperr.Unauthorized:  http.StatusUnauthorized,
	apperr.Forbidden:     http.StatusForbidden,
	apperr.NotFound:      http.StatusNotFound,
	apperr.Conflict:      http.StatusConflict,
	apperr.TooLarge:      http.StatusRequestEntityTooLarge,
	apperr.Unsupported:   http.StatusUnsupportedMediaType,
	apperr.NotAcceptable: http.StatusNotAcceptable,
	apperr.Unprocessable: http.StatusUnprocessableEntity,
	apperr.RateLimited:   http.StatusTooManyRequests,
	apperr.Timeout:       http.StatusRequestTimeout,
	apperr.Unavailable:   http.StatusServiceUnavailable,
	apperr.Internal:      http.StatusInternalServerError,
}

// HTTPStatus returns the status for an apperr code.
func HTTPStatus(code apperr.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// NewProblem is the problem for code with a safe detail, filled in from
// the request (instance, request id).
func NewProblem(c *gin.Context, status int, code apperr.Code, detail string) Problem {
	return Problem{
		Type:      "urn:teleread:problem:" + string(code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detail,
		Instance:  c.Request.URL.Path,
		Code:      code,
		RequestID: logctx.RequestID(c.Request.Context()),
	}
}

// ProblemOf turns err into its problem. Internal errors are logged in full
// and get a plain detail; others carry their safe message.
func ProblemOf(c *gin.Context, logger *slog.Logger, err error) Problem {
	e, ok := apperr.As(err)
	var maxErr *http.MaxBytesError
	switch {
	case !ok && errors.As(err, &maxErr):
		e = apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", maxErr.Limit)
	case !ok && postgres.Unreachable(err):
		// The database is restarting or out of reach: the request was fine.
		e = &apperr.Error{Code: apperr.Unavailable, Message: "the database is unavailable; send the request again later",
			RetryAfterSeconds: 5, Err: err}
	case !ok:
		e = &apperr.Error{Code: apperr.Internal, Message: "internal error", Err: err}
	}
	status := HTTPStatus(e.Code)
	if status >= 500 {
		logger.ErrorContext(c.Request.Context(), "request failed", "error", err.Error(), "route", c.FullPath(), "status", status)
	}
	msg := e.Message
	if e.Code == apperr.Internal {
		msg = "an internal error occurred; quote the request id when reporting it"
	}
	if e.RetryAfterSeconds > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	p := NewProblem(c, status, e.Code, msg)
	p.Fields = e.Fields
	return p
}

// Fail answers c with the problem for err and stops the chain.
func (e *Edge) Fail(c *gin.Context, err error) { writeError(c, e.logger, err) }

func writeError(c *gin.Context, logger *slog.Logger, err error) {
	WriteProblem(c, ProblemOf(c, logger, err))
}

// pageKey marks a request as a page request (set by Pages).
const pageKey = "edge.page"

// Pages marks the routes of a group as pages: their errors are HTML pages
// that say what went wrong, not problem+json.
func Pages() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(pageKey, true)
		c.Next()
	}
}

// WriteProblem writes p and stops the chain: as application/problem+json,
// or on a page route as an HTML page with the same status, title, reason
// and request id. It is the one writer of error answers.
func WriteProblem(c *gin.Context, p Problem) {
	c.Header("Cache-Control", "no-store")
	if c.GetBool(pageKey) {
		c.Header("Content-Type", "text/html; charset=utf-8")
		c.Status(p.Status)
		if err := problemPage.Execute(c.Writer, p); err != nil {
			_ = c.Error(err)
		}
		c.Abort()
		return
	}
	c.Header("Content-Type", ProblemContentType)
	c.AbortWithStatusJSON(p.Status, p)
}

// EncodeProblem is p as the bytes WriteProblem sends to an API client, for
// answers that are stored and replayed (idempotent uploads).
func EncodeProblem(p Problem) ([]byte, error) { return json.Marshal(p) }

var problemPage = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Status}} {{.Title}} · Teleread</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem}.reason{padding:1rem;border-left:4px solid #b3261e;background:#fbeaea}
.meta{color:#555;font-size:.875rem}a{color:#0b57d0}</style></head>
<body><main><h1>{{.Title}}</h1>
<p class="reason" role="alert">{{.Detail}}</p>
{{range $k, $v := .Fields}}<p><strong>{{$k}}</strong>: {{$v}}</p>{{end}}
<p class="meta">Error {{.Status}}{{if .RequestID}} · request id <code>{{.RequestID}}</code> (quote it when you report this){{end}}</p>
<p><a href="/">Back to Teleread</a></p></main></body></html>
`))
