package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
)

// bindJSON decodes the JSON body into v: 415 for another content type, 413
// for a body over the limit, 400 naming what is wrong otherwise. Unknown
// fields are refused, so a typo is not silently ignored.
func bindJSON(c *gin.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return apperr.New(apperr.Unsupported, "send the body as application/json")
	}
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxErr):
			return apperr.New(apperr.TooLarge, "the request body is larger than %d bytes", maxErr.Limit)
		case errors.Is(err, io.EOF):
			return apperr.New(apperr.Invalid, "the request body is empty")
		case errors.As(err, &syntaxErr):
			return apperr.New(apperr.Invalid, "malformed JSON at byte %d", syntaxErr.Offset)
		case errors.As(err, &typeErr):
			return apperr.InvalidFields(map[string]string{typeErr.Field: "has the wrong type (expected " + typeErr.Type.String() + ")"})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return apperr.New(apperr.Invalid, "%s", strings.TrimPrefix(err.Error(), "json: "))
		default:
			return apperr.New(apperr.Invalid, "malformed JSON body")
		}
	}
	if dec.More() {
		return apperr.New(apperr.Invalid, "the body must hold one JSON value")
	}
	return nil
}

// pathUUID reads a UUID path parameter; a malformed one is "not found",
// since no object has that id.
func pathUUID(c *gin.Context, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil {
		return uuid.Nil, apperr.New(apperr.NotFound, "%s not found", name)
	}
	return id, nil
}

// queryUUID reads an optional UUID query parameter.
func queryUUID(c *gin.Context, name string) (*uuid.UUID, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return nil, apperr.InvalidFields(map[string]string{name: "must be a UUID"})
	}
	return &id, nil
}

func queryString(c *gin.Context, name string) *string {
	if v := c.Query(name); v != "" {
		return &v
	}
	return nil
}

func queryTime(c *gin.Context, name string) (*time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, apperr.InvalidFields(map[string]string{name: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"})
	}
	return &t, nil
}

func queryInt(c *gin.Context, name string, def, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, apperr.InvalidFields(map[string]string{name: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)})
	}
	return n, nil
}
