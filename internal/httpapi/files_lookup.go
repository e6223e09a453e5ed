package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
)

// lookupFiles answers which of the SHA-256 values in the body a case
// already holds, so that a client resuming an upload sends only the rest.
func (a *API) lookupFiles(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.LookupRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	held, err := a.intake.Lookup(c.Request.Context(), principal(c), id, req.SHA256)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.LookupAnswer{Held: make([]api.HeldFile, 0, len(held)), Missing: []string{}}
	found := make(map[string]bool, len(held))
	for _, h := range held {
		out.Held = append(out.Held, api.HeldFile{SHA256: h.SHA256, FileID: h.FileID})
		found[h.SHA256] = true
	}
	for _, s := range req.SHA256 {
		if s = strings.ToLower(strings.TrimSpace(s)); !found[s] {
			found[s] = true // each missing value once
			out.Missing = append(out.Missing, s)
		}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}
