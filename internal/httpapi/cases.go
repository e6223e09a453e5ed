package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/intake"
)

// toCase is a case as the API answers it.
func toCase(c cases.Case) api.Case {
	out := api.Case{ID: c.ID, SiteOrgID: c.SiteOrgID, Status: c.Status, Specialty: c.Specialty, Priority: c.Priority,
		Patient: api.Patient{Name: c.PatientName, BirthDate: c.PatientBirthDate.Format(time.DateOnly), Sex: c.PatientSex,
			MRN: c.PatientMrn},
		ReferringPhysicianID: c.ReferringPhysicianID, CreatedBy: c.CreatedBy, ClinicalQuestion: c.ClinicalQuestion,
		History: c.History, ManifestSealedAt: c.ManifestSealedAt, CompleteAt: c.CompleteAt,
		ReadingGroupID: c.ReadingGroupID, RoutedAt: c.RoutedAt, UnroutedReason: c.UnroutedReason,
		InfoRequest: c.InfoRequest, ClaimExpiresAt: c.ClaimExpiresAt, AssignedTo: c.AssignedTo, DueAt: c.DueAt, SubmittedAt: c.SubmittedAt,
		CancelledAt: c.CancelledAt, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if c.LesionBodySite != nil || c.LesionDuration != nil {
		out.Lesion = &api.Lesion{}
		if c.LesionBodySite != nil {
			out.Lesion.BodySite = *c.LesionBodySite
		}
		if c.LesionDuration != nil {
			out.Lesion.Duration = *c.LesionDuration
		}
	}
	return out
}

// manifestEntries is a manifest as the request declares it.
func manifestEntries(in []api.ManifestEntry) []cases.ManifestEntry {
	out := make([]cases.ManifestEntry, len(in))
	for i, e := range in {
		out[i] = cases.ManifestEntry{SHA256: strings.ToLower(e.SHA256), Name: e.Name, Size: e.Size}
	}
	return out
}

// createCase opens a draft case, and attaches the incoming studies it
// names. With an Idempotency-Key the answer is stored in the transaction
// that opens the case: a retry after the server died between that commit
// and its answer gets the case, never a second one.
func (a *API) createCase(c *gin.Context) {
	var req api.CreateCaseRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	in := cases.NewCase{ReferringPhysicianID: req.ReferringPhysicianID, Specialty: req.Specialty, Priority: req.Priority,
		PatientName: req.Patient.Name, PatientBirthDate: req.Patient.BirthDate, PatientSex: req.Patient.Sex,
		PatientMRN: req.Patient.MRN, ClinicalQuestion: req.ClinicalQuestion, History: req.History,
		Manifest: manifestEntries(req.Manifest)}
	if req.Lesion != nil {
		in.LesionBodySite, in.LesionDuration = req.Lesion.BodySite, req.Lesion.Duration
	}
	ctx, p := c.Request.Context(), principal(c)
	studies := req.IncomingStudyIDs
	if len(studies) > 0 {
		// Named studies must be there before a case is made of them.
		if a.intake == nil {
			a.fail(c, apperr.New(apperr.Unavailable, "file intake is not configured on this server"))
			return
		}
		if err := a.intake.CheckIncoming(ctx, p, studies); err != nil {
			a.fail(c, err)
			return
		}
	}
	const route = "POST /api/v1/cases"
	a.idempotentTx(c, intake.Keyed{Route: route, Hash: requestHash(route, req)}, func(keep keeper) (reply, error) {
		cs, err := a.cases.CreateThen(ctx, p, in, func(ctx context.Context, tx pgx.Tx, cs cases.Case) error {
			if len(studies) == 0 {
				return keep(ctx, tx, reply{status: http.StatusCreated, body: toCase(cs), keep: true})
			}
			// What a retry hears if the server dies before the studies
			// are attached (attaching is its own work, file by file).
			pr := edge.NewProblem(c, http.StatusConflict, apperr.Conflict, notAttached(cs.ID, "it did not finish"))
			return keep(ctx, tx, reply{status: pr.Status, body: pr, keep: true})
		})
		if err != nil {
			return reply{}, err
		}
		c.Header("Location", "/api/v1/cases/"+cs.ID.String())
		if len(studies) > 0 {
			if _, err := a.intake.Attach(ctx, p, cs, studies); err != nil {
				// The case exists: say so, so that attaching can be retried.
				if e, ok := apperr.As(err); ok && e.Code != apperr.Internal {
					err = apperr.New(e.Code, "%s", notAttached(cs.ID, e.Message))
				}
				return reply{}, err
			}
		}
		return reply{status: http.StatusCreated, body: toCase(cs), keep: true}, nil
	})
}

// notAttached says that case id was opened without its incoming studies,
// and how to attach them.
func notAttached(id uuid.UUID, why string) string {
	return fmt.Sprintf("case %s was opened, but its incoming studies could not be attached (%s): retry with POST /api/v1/cases/%s/incoming-studies",
		id, why, id)
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
	c.JSON(http.StatusOK, toCase(cs))
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
	out := api.CasePage{Items: make([]api.Case, 0, len(list))}
	for _, cs := range list {
		out.Items = append(out.Items, toCase(cs))
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

func (a *API) updateCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.UpdateCaseRequest
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
	c.JSON(http.StatusOK, toCase(cs))
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
	out := api.List[api.CaseEvent]{Items: make([]api.CaseEvent, 0, len(evs))}
	for _, e := range evs {
		out.Items = append(out.Items, toCaseEvent(e))
	}
	c.JSON(http.StatusOK, out)
}

// toCaseEvent is an entry of a case's history as the API answers it.
func toCaseEvent(e cases.Event) api.CaseEvent {
	out := api.CaseEvent{ID: e.ID, At: e.At, ActorID: e.ActorID, Kind: e.Kind, FromStatus: e.FromStatus, ToStatus: e.ToStatus}
	_ = json.Unmarshal(e.Details, &out.Details)
	return out
}

// toManifest is a case's manifest, and what has arrived, as the API
// answers it.
func toManifest(items []cases.ManifestItem) api.Manifest {
	out := api.Manifest{Files: make([]api.ManifestEntry, 0, len(items)), Declared: len(items), Missing: []string{}}
	for _, it := range items {
		out.Files = append(out.Files, api.ManifestEntry{SHA256: it.SHA256, Name: it.Name, Size: it.Size, FileID: it.FileID})
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
	var req api.ManifestRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	items, err := a.cases.SetManifest(c.Request.Context(), principal(c), id, manifestEntries(req.Files))
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toManifest(items))
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
	c.JSON(http.StatusOK, toManifest(items))
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
	c.JSON(http.StatusOK, toCase(cs))
}

func (a *API) cancelCase(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.CancelRequest
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
	c.JSON(http.StatusOK, toCase(cs))
}
