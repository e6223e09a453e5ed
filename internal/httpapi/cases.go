package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
)

type patientJSON struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Sex       string `json:"sex"`
	MRN       string `json:"mrn"`
}

type lesionJSON struct {
	BodySite string `json:"body_site,omitempty"`
	Duration string `json:"duration,omitempty"`
}

type caseJSON struct {
	ID                   uuid.UUID   `json:"id"`
	SiteOrgID            uuid.UUID   `json:"site_org_id"`
	Status               string      `json:"status"`
	Specialty            string      `json:"specialty"`
	Priority             string      `json:"priority"`
	Patient              patientJSON `json:"patient"`
	ReferringPhysicianID uuid.UUID   `json:"referring_physician_id"`
	CreatedBy            uuid.UUID   `json:"created_by"`
	ClinicalQuestion     string      `json:"clinical_question"`
	History              string      `json:"history"`
	Lesion               *lesionJSON `json:"lesion,omitempty"`
	ManifestSealedAt     *time.Time  `json:"manifest_sealed_at"`
	CompleteAt           *time.Time  `json:"complete_at"`
	ReadingGroupID       *uuid.UUID  `json:"reading_group_id"`
	RoutedAt             *time.Time  `json:"routed_at"`
	UnroutedReason       *string     `json:"unrouted_reason,omitempty"`
	InfoRequest          *string     `json:"info_request,omitempty"`
	ClaimExpiresAt       *time.Time  `json:"claim_expires_at,omitempty"`
	AssignedTo           *uuid.UUID  `json:"assigned_to"`
	DueAt                *time.Time  `json:"due_at"`
	SubmittedAt          *time.Time  `json:"submitted_at"`
	CancelledAt          *time.Time  `json:"cancelled_at"`
	CreatedAt            time.Time   `json:"created_at"`
	UpdatedAt            time.Time   `json:"updated_at"`
}

func toCaseJSON(c cases.Case) caseJSON {
	out := caseJSON{ID: c.ID, SiteOrgID: c.SiteOrgID, Status: c.Status, Specialty: c.Specialty, Priority: c.Priority,
		Patient: patientJSON{Name: c.PatientName, BirthDate: c.PatientBirthDate.Format(time.DateOnly), Sex: c.PatientSex,
			MRN: c.PatientMrn},
		ReferringPhysicianID: c.ReferringPhysicianID, CreatedBy: c.CreatedBy, ClinicalQuestion: c.ClinicalQuestion,
		History: c.History, ManifestSealedAt: c.ManifestSealedAt, CompleteAt: c.CompleteAt,
		ReadingGroupID: c.ReadingGroupID, RoutedAt: c.RoutedAt, UnroutedReason: c.UnroutedReason,
		InfoRequest: c.InfoRequest, ClaimExpiresAt: c.ClaimExpiresAt, AssignedTo: c.AssignedTo, DueAt: c.DueAt, SubmittedAt: c.SubmittedAt,
		CancelledAt: c.CancelledAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.LesionBodySite != nil || c.LesionDuration != nil {
		out.Lesion = &lesionJSON{}
		if c.LesionBodySite != nil {
			out.Lesion.BodySite = *c.LesionBodySite
		}
		if c.LesionDuration != nil {
			out.Lesion.Duration = *c.LesionDuration
		}
	}
	return out
}

type manifestEntryJSON struct {
	SHA256 string     `json:"sha256"`
	Name   string     `json:"name,omitempty"`
	Size   *int64     `json:"size,omitempty"`
	FileID *uuid.UUID `json:"file_id,omitempty"`
}

type createCaseRequest struct {
	ReferringPhysicianID uuid.UUID           `json:"referring_physician_id"`
	Specialty            string              `json:"specialty"`
	Priority             string              `json:"priority"`
	Patient              patientJSON         `json:"patient"`
	ClinicalQuestion     string              `json:"clinical_question"`
	History              string              `json:"history"`
	Lesion               *lesionJSON         `json:"lesion"`
	Manifest             []manifestEntryJSON `json:"manifest"`
}

func toManifest(in []manifestEntryJSON) []cases.ManifestEntry {
	out := make([]cases.ManifestEntry, len(in))
	for i, e := range in {
		out[i] = cases.ManifestEntry{SHA256: strings.ToLower(e.SHA256), Name: e.Name, Size: e.Size}
	}
	return out
}

func (a *API) createCase(c *gin.Context) {
	var req createCaseRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	in := cases.NewCase{ReferringPhysicianID: req.ReferringPhysicianID, Specialty: req.Specialty, Priority: req.Priority,
		PatientName: req.Patient.Name, PatientBirthDate: req.Patient.BirthDate, PatientSex: req.Patient.Sex,
		PatientMRN: req.Patient.MRN, ClinicalQuestion: req.ClinicalQuestion, History: req.History,
		Manifest: toManifest(req.Manifest)}
	if req.Lesion != nil {
		in.LesionBodySite, in.LesionDuration = req.Lesion.BodySite, req.Lesion.Duration
	}
	cs, err := a.cases.Create(c.Request.Context(), principal(c), in)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/cases/"+cs.ID.String())
	c.JSON(http.StatusCreated, toCaseJSON(cs))
}

func (a *API) getCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.cases.Get(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, toCaseJSON(cs))
}

type casePage struct {
	Items      []caseJSON `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

func (a *API) listCases(c *gin.Context) {
	f := cases.Filter{Status: queryString(c, "status"), Specialty: queryString(c, "specialty")}
	var err error
	if f.Limit, err = queryInt(c, "limit", 50, 1, 200); err != nil {
		a.fail(c, err)
		return
	}
	if cur := c.Query("cursor"); cur != "" {
		if f.Cursor, err = decodeCaseCursor(cur); err != nil {
			a.fail(c, err)
			return
		}
	}
	list, err := a.cases.List(c.Request.Context(), principal(c), f)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := casePage{Items: make([]caseJSON, 0, len(list))}
	for _, cs := range list {
		out.Items = append(out.Items, toCaseJSON(cs))
	}
	if len(list) == f.Limit {
		last := list[len(list)-1]
		out.NextCursor = encodeCaseCursor(cases.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func encodeCaseCursor(cur cases.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cur.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + cur.ID.String()))
}

func decodeCaseCursor(s string) (*cases.Cursor, error) {
	bad := apperr.InvalidFields(map[string]string{"cursor": "is not a cursor from a previous page"})
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return nil, bad
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, bad
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, bad
	}
	return &cases.Cursor{CreatedAt: t, ID: u}, nil
}

type updateCaseRequest struct {
	Priority         *string `json:"priority"`
	ClinicalQuestion *string `json:"clinical_question"`
	History          *string `json:"history"`
	Lesion           *struct {
		BodySite *string `json:"body_site"`
		Duration *string `json:"duration"`
	} `json:"lesion"`
}

func (a *API) updateCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req updateCaseRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	ch := cases.Change{Priority: req.Priority, ClinicalQuestion: req.ClinicalQuestion, History: req.History}
	if req.Lesion != nil {
		ch.LesionBodySite, ch.LesionDuration = req.Lesion.BodySite, req.Lesion.Duration
	}
	cs, err := a.cases.Update(c.Request.Context(), principal(c), id, ch)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCaseJSON(cs))
}

type eventJSON struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	ActorID    *uuid.UUID     `json:"actor_id"`
	Kind       string         `json:"kind"`
	FromStatus *string        `json:"from_status,omitempty"`
	ToStatus   *string        `json:"to_status,omitempty"`
	Details    map[string]any `json:"details"`
}

func (a *API) caseEvents(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	evs, err := a.cases.Events(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[eventJSON]{Items: make([]eventJSON, 0, len(evs))}
	for _, e := range evs {
		ej := eventJSON{ID: e.ID, At: e.At, ActorID: e.ActorID, Kind: e.Kind, FromStatus: e.FromStatus, ToStatus: e.ToStatus}
		_ = json.Unmarshal(e.Details, &ej.Details)
		out.Items = append(out.Items, ej)
	}
	c.JSON(http.StatusOK, out)
}

type manifestRequest struct {
	Files []manifestEntryJSON `json:"files"`
}

type manifestResponse struct {
	Files    []manifestEntryJSON `json:"files"`
	Declared int                 `json:"declared"`
	Arrived  int                 `json:"arrived"`
	Missing  []string            `json:"missing"`
}

func toManifestResponse(items []cases.ManifestItem) manifestResponse {
	out := manifestResponse{Files: make([]manifestEntryJSON, 0, len(items)), Declared: len(items), Missing: []string{}}
	for _, it := range items {
		out.Files = append(out.Files, manifestEntryJSON{SHA256: it.SHA256, Name: it.Name, Size: it.Size, FileID: it.FileID})
		if it.FileID != nil {
			out.Arrived++
		} else {
			out.Missing = append(out.Missing, it.SHA256)
		}
	}
	return out
}

func (a *API) setManifest(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req manifestRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	items, err := a.cases.SetManifest(c.Request.Context(), principal(c), id, toManifest(req.Files))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toManifestResponse(items))
}

func (a *API) getManifest(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	items, err := a.cases.Manifest(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toManifestResponse(items))
}

func (a *API) submitCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	cs, err := a.cases.Submit(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCaseJSON(cs))
}

type cancelRequest struct {
	Reason string `json:"reason"`
}

func (a *API) cancelCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req cancelRequest
	if c.Request.ContentLength != 0 {
		if err := bindJSON(c, &req); err != nil {
			a.fail(c, err)
			return
		}
	}
	cs, err := a.cases.Cancel(c.Request.Context(), principal(c), id, req.Reason)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toCaseJSON(cs))
}
