package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
)

type auditJSON struct {
	ID          int64          `json:"id"`
	At          time.Time      `json:"at"`
	ActorID     *uuid.UUID     `json:"actor_id"`
	ActorOrgID  *uuid.UUID     `json:"actor_org_id"`
	Action      string         `json:"action"`
	ObjectType  string         `json:"object_type"`
	ObjectID    string         `json:"object_id"`
	ObjectOrgID *uuid.UUID     `json:"object_org_id"`
	ClientIP    string         `json:"client_ip"`
	RequestID   string         `json:"request_id"`
	Details     map[string]any `json:"details"`
}

type auditPage struct {
	Items []auditJSON `json:"items"`
	// NextCursor fetches the next (older) page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// listAudit is GET /api/v1/audit: admins search the log of their
// organisation (platform admins: all), newest first, with a cursor.
func (a *API) listAudit(c *gin.Context) {
	p := principal(c)
	f := audit.Filter{Scope: p.Scope(), ObjectType: queryString(c, "object_type"),
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
	out := auditPage{Items: make([]auditJSON, 0, len(entries))}
	for _, e := range entries {
		out.Items = append(out.Items, auditJSON{ID: e.ID, At: e.At, ActorID: e.ActorID, ActorOrgID: e.ActorOrgID,
			Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, ObjectOrgID: e.ObjectOrgID,
			ClientIP: e.ClientIP, RequestID: e.RequestID, Details: e.Details})
	}
	if len(entries) == f.Limit {
		out.NextCursor = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	c.JSON(http.StatusOK, out)
}
