package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
)

// listAudit is GET /api/v1/audit: admins search the log of their
// organisation (platform admins: all), newest first, with a cursor.
func (a *API) listAudit(c *gin.Context) {
	p := principal(c)
	f := audit.Filter{Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, ObjectType: queryString(c, "object_type"),
		ObjectID: queryString(c, "object_id"), Action: queryString(c, "action")}
	var err error
	if f.ActorID, err = queryUUID(c, "actor_id"); err != nil {
		a.fail(c, err)
		return
	}
	if f.Since, err = queryTime(c, "since"); err != nil {
		a.fail(c, err)
		return
	}
	if f.Until, err = queryTime(c, "until"); err != nil {
		a.fail(c, err)
		return
	}
	if f.Limit, err = queryInt(c, "limit", 100, 1, 500); err != nil {
		a.fail(c, err)
		return
	}
	if cur := c.Query("cursor"); cur != "" {
		n, err := strconv.ParseInt(cur, 10, 64)
		if err != nil || n <= 0 {
			a.fail(c, apperr.InvalidFields(map[string]string{"cursor": "is not a cursor from a previous page"}))
			return
		}
		f.BeforeID = &n
	}
	entries, err := audit.List(c.Request.Context(), a.pool, f)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.AuditPage{Items: make([]api.AuditEntry, 0, len(entries))}
	for _, e := range entries {
		out.Items = append(out.Items, toAuditEntry(e))
	}
	if len(entries) == f.Limit {
		out.NextCursor = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	c.JSON(http.StatusOK, out)
}

// toAuditEntry is an entry of the audit log as the API answers it.
func toAuditEntry(e audit.Entry) api.AuditEntry {
	return api.AuditEntry{ID: e.ID, At: e.At, ActorID: e.ActorID, ActorOrgID: e.ActorOrgID, Action: e.Action,
		ObjectType: e.ObjectType, ObjectID: e.ObjectID, ObjectOrgID: e.ObjectOrgID, ClientIP: e.ClientIP,
		RequestID: e.RequestID, Details: e.Details}
}
