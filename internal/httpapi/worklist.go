package httpapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/worklist"
)

func (a *API) worklistList(c *gin.Context) {
	q := worklist.Query{Specialty: queryString(c, "specialty"), Priority: queryString(c, "priority"),
		Modality: queryString(c, "modality"), Status: queryString(c, "status"),
		Overdue: c.Query("overdue") == "true", Mine: c.Query("mine") == "true"}
	fields := map[string]string{}
	if q.Priority != nil && !cases.ValidPriority(*q.Priority) {
		fields["priority"] = "must be one of " + strings.Join(cases.Priorities, ", ")
	}
	if q.Status != nil && *q.Status != "routed" && *q.Status != "in_review" {
		fields["status"] = "must be routed or in_review"
	}
	if len(fields) > 0 {
		a.fail(c, apperr.InvalidFields(fields))
		return
	}
	var err error
	if q.Limit, err = queryInt(c, "limit", 50, 1, 200); err != nil {
		a.fail(c, err)
		return
	}
	if cur := c.Query("cursor"); cur != "" {
		if q.Cursor, err = decodeWorklistCursor(cur); err != nil {
			a.fail(c, err)
			return
		}
	}
	page, err := a.worklist.List(c.Request.Context(), principal(c), q)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, toWorklistPage(page))
}

// toWorklistPage is a page of the worklist as the API answers it, with the
// cursor of the next page.
func toWorklistPage(page worklist.Page) api.WorklistPage {
	out := api.WorklistPage{Items: make([]api.WorklistItem, 0, len(page.Items)), Counts: page.Counts,
		Overdue: page.Overdue, Total: page.TotalCount}
	for _, it := range page.Items {
		out.Items = append(out.Items, toWorklistItem(it))
	}
	if page.Next != nil {
		out.NextCursor = encodeWorklistCursor(*page.Next)
	}
	return out
}

// toWorklistItem is a case waiting for a specialist as the worklist shows it.
func toWorklistItem(it worklist.Item) api.WorklistItem {
	return api.WorklistItem{CaseID: it.CaseID, Status: it.Status, Specialty: it.Specialty,
		Priority: it.Priority, DueAt: it.DueAt, Overdue: it.Overdue, RoutedAt: it.RoutedAt, AssignedTo: it.AssignedTo,
		ClaimExpiresAt: it.ClaimExpiresAt, Patient: api.PatientBrief{Name: it.PatientName, Sex: it.PatientSex,
			BirthDate: it.PatientBirthDate.Format(time.DateOnly)},
		ClinicalQuestion: it.ClinicalQuestion, LesionBodySite: it.LesionBodySite, Modalities: it.Modalities,
		Files: it.Files, Site: it.SiteName, AwaitingSecondRead: it.AwaitingSecondRead}
}

func encodeWorklistCursor(cur worklist.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d|%s|%s",
		cur.PriorityRank, cur.DueAt.UTC().Format(time.RFC3339Nano), cur.ID)))
}

func decodeWorklistCursor(s string) (*worklist.Cursor, error) {
	bad := apperr.InvalidFields(map[string]string{"cursor": "is not a cursor from a previous page"})
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return nil, bad
	}
	rank, err1 := strconv.ParseInt(parts[0], 10, 16)
	due, err2 := time.Parse(time.RFC3339Nano, parts[1])
	id, err3 := uuid.Parse(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, bad
	}
	return &worklist.Cursor{PriorityRank: int16(rank), DueAt: due, ID: id}, nil
}

func (a *API) claimCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.worklist.Claim(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCase(cs))
}

func (a *API) releaseCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.worklist.Release(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCase(cs))
}

func (a *API) reassignCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.ReassignRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.worklist.Reassign(c.Request.Context(), principal(c), id, req.SpecialistID)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCase(cs))
}

func (a *API) requestInfo(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.RequestInfoRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.worklist.RequestInfo(c.Request.Context(), principal(c), id, req.Message)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCase(cs))
}

func (a *API) rerouteCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.worklist.Reroute(c.Request.Context(), principal(c), a.jobs, id); err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, api.Status{Status: "routing queued"})
}

func (a *API) unroutedCases(c *gin.Context) {
	list, err := a.worklist.Unrouted(c.Request.Context(), principal(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.List[api.UnroutedCase]{Items: make([]api.UnroutedCase, 0, len(list))}
	for _, u := range list {
		out.Items = append(out.Items, api.UnroutedCase{CaseID: u.CaseID, SiteOrgID: u.SiteOrgID, Specialty: u.Specialty,
			Priority: u.Priority, SubmittedAt: u.SubmittedAt, Reason: u.Reason})
	}
	c.JSON(http.StatusOK, out)
}

// toRoutingRule is a routing rule as the API answers it.
func toRoutingRule(r worklist.Rule) api.RoutingRule {
	return api.RoutingRule{ID: r.ID, Position: r.Position, Name: r.Name, Specialty: r.Specialty, Modality: r.Modality,
		BodySite: r.BodySite, SiteOrgID: r.SiteOrgID, ReadingGroupID: r.ReadingGroupID, IsDefault: r.IsDefault,
		Enabled: r.Enabled, CreatedAt: r.CreatedAt}
}

func (a *API) listRules(c *gin.Context) {
	rules, err := a.worklist.ListRules(c.Request.Context(), principal(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.List[api.RoutingRule]{Items: make([]api.RoutingRule, 0, len(rules))}
	for _, r := range rules {
		out.Items = append(out.Items, toRoutingRule(r))
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) createRule(c *gin.Context) {
	var req api.CreateRoutingRuleRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	if req.Position == 0 {
		req.Position = 100
	}
	r, err := a.worklist.CreateRule(c.Request.Context(), principal(c), worklist.NewRule{Position: req.Position,
		Name: req.Name, Specialty: req.Specialty, Modality: req.Modality, BodySite: req.BodySite,
		SiteOrgID: req.SiteOrgID, ReadingGroupID: req.ReadingGroupID, IsDefault: req.IsDefault})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toRoutingRule(r))
}

func (a *API) updateRule(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.UpdateRoutingRuleRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	r, err := a.worklist.UpdateRule(c.Request.Context(), principal(c), id, worklist.RuleChange{Position: req.Position,
		Name: req.Name, Enabled: req.Enabled, ReadingGroupID: req.ReadingGroupID})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toRoutingRule(r))
}

func (a *API) deleteRule(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	if err := a.worklist.DeleteRule(c.Request.Context(), principal(c), id); err != nil {
		a.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// toGroupSettings is a reading group's service levels as the API answers
// them, in seconds.
func toGroupSettings(s worklist.Settings) api.GroupSettings {
	return api.GroupSettings{SLASeconds: map[string]int64{"stat": int64(s.SlaStat.Seconds()), "urgent": int64(s.SlaUrgent.Seconds()),
		"routine": int64(s.SlaRoutine.Seconds())}, ClaimLeaseSeconds: int64(s.ClaimLease.Seconds()),
		RequireSecondRead: s.RequireSecondRead, CriticalAckWithinSeconds: int64(s.CriticalAckWithin.Seconds())}
}

func (a *API) getGroupSettings(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	s, err := a.worklist.GetSettings(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toGroupSettings(s))
}

func (a *API) putGroupSettings(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.GroupSettings
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	sec := func(n int64) time.Duration { return time.Duration(n) * time.Second }
	s, err := a.worklist.PutSettings(c.Request.Context(), principal(c), worklist.Settings{OrgID: id,
		SlaStat: sec(req.SLASeconds["stat"]), SlaUrgent: sec(req.SLASeconds["urgent"]), SlaRoutine: sec(req.SLASeconds["routine"]),
		ClaimLease: sec(req.ClaimLeaseSeconds), RequireSecondRead: req.RequireSecondRead,
		CriticalAckWithin: sec(req.CriticalAckWithinSeconds)})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toGroupSettings(s))
}
