package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/logctx"
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

// problemContentType is the media type of every error answer.
const problemContentType = "application/problem+json"

var statusOf = map[apperr.Code]int{
	apperr.Invalid:       http.StatusBadRequest,
	apperr.Unauthorized:  http.StatusUnauthorized,
	apperr.Forbidden:     http.StatusForbidden,
	apperr.NotFound:      http.StatusNotFound,
	apperr.Conflict:      http.StatusConflict,
	apperr.TooLarge:      http.StatusRequestEntityTooLarge,
	apperr.Unsupported:   http.StatusUnsupportedMediaType,
	apperr.Unprocessable: http.StatusUnprocessableEntity,
	apperr.RateLimited:   http.StatusTooManyRequests,
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

// writeError answers c with the problem for err. It is the one place where
// errors become HTTP: internal errors are logged in full and answered with a
// plain message; others carry their safe message.
func writeError(c *gin.Context, logger *slog.Logger, err error) {
	ctx := c.Request.Context()
	e, ok := apperr.As(err)
	var maxErr *http.MaxBytesError
	switch {
	case !ok && errors.As(err, &maxErr):
		e = apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", maxErr.Limit)
	case !ok:
		e = &apperr.Error{Code: apperr.Internal, Message: "internal error", Err: err}
	}
	status := HTTPStatus(e.Code)
	if status >= 500 {
		logger.ErrorContext(ctx, "request failed", "error", err.Error(), "route", c.FullPath(), "status", status)
	}
	msg := e.Message
	if e.Code == apperr.Internal {
		msg = "an internal error occurred; quote the request id when reporting it"
	}
	if e.RetryAfterSeconds > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfterSeconds))
	}
	writeProblem(c, Problem{
		Type:      "urn:teleread:problem:" + string(e.Code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    msg,
		Instance:  c.Request.URL.Path,
		Code:      e.Code,
		RequestID: logctx.RequestID(ctx),
		Fields:    e.Fields,
	})
}

func writeProblem(c *gin.Context, p Problem) {
	c.Header("Content-Type", problemContentType)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(p.Status, p)
}
