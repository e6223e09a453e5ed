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

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/worklist"
)

type worklistItemJSON struct {
	CaseID           uuid.UUID    `json:"case_id"`
	Status           string       `json:"status"`
	Specialty        string       `json:"specialty"`
	Priority         string       `json:"priority"`
	DueAt            *time.Time   `json:"due_at"`
	Overdue          bool         `json:"overdue"`
	RoutedAt         *time.Time   `json:"routed_at"`
	AssignedTo       *uuid.UUID   `json:"assigned_to"`
	ClaimExpiresAt   *time.Time   `json:"claim_expires_at"`
	Patient          patientBrief `json:"patient"`
	ClinicalQuestion string       `json:"clinical_question"`
	LesionBodySite   *string      `json:"lesion_body_site,omitempty"`
	Modalities       []string     `json:"modalities"`
	Files            int          `json:"files"`
	Site             string       `json:"site"`
	// AwaitingSecondRead: a preliminary report is signed; another
	// specialist signs it final.
	AwaitingSecondRead bool `json:"awaiting_second_read"`
}

type patientBrief struct {
	Name      string `json:"name"`
	Sex       string `json:"sex"`
	BirthDate string `json:"birth_date"`
}

type worklistPage struct {
	Items      []worklistItemJSON `json:"items"`
	Counts     map[string]int     `json:"counts"`
	Overdue    map[string]int     `json:"overdue"`
	Total      int                `json:"total"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

func (a *API) worklistList(c *gin.Context) {
	q := worklist.Query{Specialty: queryString(c, "specialty"), Priority: queryString(c, "priority"),
		Modality: queryString(c, "modality"), Status: queryString(c, "status"),
		Overdue: c.Query("overdue") == "true", Mine: c.Query("mine") == "true"}
	fields := map[string]string{}
	if q.Priority != nil && *q.Priority != "stat" && *q.Priority != "urgent" && *q.Priority != "routine" {
		fields["priority"] = "must be stat, urgent or routine"
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
	out := worklistPage{Items: make([]worklistItemJSON, 0, len(page.Items)), Counts: page.Counts,
		Overdue: page.Overdue, Total: page.TotalCount}
	for _, it := range page.Items {
		out.Items = append(out.Items, worklistItemJSON{CaseID: it.CaseID, Status: it.Status, Specialty: it.Specialty,
			Priority: it.Priority, DueAt: it.DueAt, Overdue: it.Overdue, RoutedAt: it.RoutedAt, AssignedTo: it.AssignedTo,
			ClaimExpiresAt: it.ClaimExpiresAt, Patient: patientBrief{Name: it.PatientName, Sex: it.PatientSex,
				BirthDate: it.PatientBirthDate.Format(time.DateOnly)},
			ClinicalQuestion: it.ClinicalQuestion, LesionBodySite: it.LesionBodySite, Modalities: it.Modalities,
			Files: it.Files, Site: it.SiteName, AwaitingSecondRead: it.AwaitingSecondRead})
	}
	if page.Next != nil {
		out.NextCursor = encodeWorklistCursor(*page.Next)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
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
	c.JSON(http.StatusOK, toCaseJSON(cs))
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
	c.JSON(http.StatusOK, toCaseJSON(cs))
}

type reassignRequest struct {
	SpecialistID uuid.UUID `json:"specialist_id"`
}

func (a *API) reassignCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req reassignRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.worklist.Reassign(c.Request.Context(), principal(c), id, req.SpecialistID)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCaseJSON(cs))
}

type requestInfoRequest struct {
	Message string `json:"message"`
}

func (a *API) requestInfo(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req requestInfoRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.worklist.RequestInfo(c.Request.Context(), principal(c), id, req.Message)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCaseJSON(cs))
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
	c.JSON(http.StatusAccepted, gin.H{"status": "routing queued"})
}

func (a *API) unroutedCases(c *gin.Context) {
	list, err := a.worklist.Unrouted(c.Request.Context(), principal(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	type unroutedJSON struct {
		CaseID      uuid.UUID  `json:"case_id"`
		SiteOrgID   uuid.UUID  `json:"site_org_id"`
		Specialty   string     `json:"specialty"`
		Priority    string     `json:"priority"`
		SubmittedAt *time.Time `json:"submitted_at"`
		Reason      string     `json:"reason"`
	}
	out := listJSON[unroutedJSON]{Items: make([]unroutedJSON, 0, len(list))}
	for _, cs := range list {
		reason := ""
		if cs.UnroutedReason != nil {
			reason = *cs.UnroutedReason
		}
		out.Items = append(out.Items, unroutedJSON{CaseID: cs.ID, SiteOrgID: cs.SiteOrgID, Specialty: cs.Specialty,
			Priority: cs.Priority, SubmittedAt: cs.SubmittedAt, Reason: reason})
	}
	c.JSON(http.StatusOK, out)
}

type ruleJSON struct {
	ID             uuid.UUID  `json:"id"`
	Position       int32      `json:"position"`
	Name           string     `json:"name"`
	Specialty      string     `json:"specialty"`
	Modality       *string    `json:"modality"`
	BodySite       *string    `json:"body_site"`
	SiteOrgID      *uuid.UUID `json:"site_org_id"`
	ReadingGroupID uuid.UUID  `json:"reading_group_id"`
	IsDefault      bool       `json:"is_default"`
	Enabled        bool       `json:"enabled"`
	CreatedAt      time.Time  `json:"created_at"`
}

func toRuleJSON(r worklist.Rule) ruleJSON {
	return ruleJSON{ID: r.ID, Position: r.Position, Name: r.Name, Specialty: r.Specialty, Modality: r.Modality,
		BodySite: r.BodySite, SiteOrgID: r.SiteOrgID, ReadingGroupID: r.ReadingGroupID, IsDefault: r.IsDefault,
		Enabled: r.Enabled, CreatedAt: r.CreatedAt}
}

func (a *API) listRules(c *gin.Context) {
	rules, err := a.worklist.ListRules(c.Request.Context(), principal(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[ruleJSON]{Items: make([]ruleJSON, 0, len(rules))}
	for _, r := range rules {
		out.Items = append(out.Items, toRuleJSON(r))
	}
	c.JSON(http.StatusOK, out)
}

type createRuleRequest struct {
	Position       int32      `json:"position"`
	Name           string     `json:"name"`
	Specialty      string     `json:"specialty"`
	Modality       string     `json:"modality"`
	BodySite       string     `json:"body_site"`
	SiteOrgID      *uuid.UUID `json:"site_org_id"`
	ReadingGroupID uuid.UUID  `json:"reading_group_id"`
	IsDefault      bool       `json:"is_default"`
}

func (a *API) createRule(c *gin.Context) {
	var req createRuleRequest
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
	c.JSON(http.StatusCreated, toRuleJSON(r))
}

type updateRuleRequest struct {
	Position       *int32     `json:"position"`
	Name           *string    `json:"name"`
	Enabled        *bool      `json:"enabled"`
	ReadingGroupID *uuid.UUID `json:"reading_group_id"`
}

func (a *API) updateRule(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req updateRuleRequest
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
	c.JSON(http.StatusOK, toRuleJSON(r))
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

type settingsJSON struct {
	SLASeconds               map[string]int64 `json:"sla_seconds"`
	ClaimLeaseSeconds        int64            `json:"claim_lease_seconds"`
	RequireSecondRead        bool             `json:"require_second_read"`
	CriticalAckWithinSeconds int64            `json:"critical_ack_within_seconds"`
}

func toSettingsJSON(s worklist.Settings) settingsJSON {
	return settingsJSON{SLASeconds: map[string]int64{"stat": int64(s.SlaStat.Seconds()), "urgent": int64(s.SlaUrgent.Seconds()),
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
	c.JSON(http.StatusOK, toSettingsJSON(s))
}

func (a *API) putGroupSettings(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req settingsJSON
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
	c.JSON(http.StatusOK, toSettingsJSON(s))
}
