package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/web/viewer"
	"github.com/teleread/teleread/internal/worklist"
)

// specialistPages are the pages of specialists: the worklist of their
// reading group with claim and release, the case view (question, history,
// files, the patient's earlier cases, OHIF for DICOM studies), the photo
// viewer with earlier photos of the same body site, and the report editor.
// Another reading group's case is the 404 page: the domain answers "not
// found".
var specialistPages = pageSet{
	{method: http.MethodGet, path: "/worklist", rule: specialists, handle: (*Web).worklistPage},
	{method: http.MethodGet, path: "/worklist/:id", rule: specialists, handle: (*Web).readCase},
	{method: http.MethodPost, path: "/worklist/:id/claim", rule: specialists, handle: (*Web).claim},
	{method: http.MethodPost, path: "/worklist/:id/release", rule: specialists, handle: (*Web).release},
	{method: http.MethodGet, path: "/worklist/:id/photos/:file_id", rule: specialists, handle: (*Web).photoPage},
	{method: http.MethodGet, path: "/worklist/:id/report", rule: specialists, handle: (*Web).reportEditor},
}

// worklistView is the worklist's data.
type worklistView struct {
	Items []worklistRow
	// Counts and Overdue are the open cases of the group by priority.
	Counts, Overdue map[string]int
	Total           int
	Priorities      []string
	// Filter is what the filters say; Filtered whether any is set.
	Filter   map[string]string
	Filtered bool
	// More is the query of the next page, if any.
	More string
}

// worklistRow is a case of the worklist; Mine is whether the specialist
// holds its claim.
type worklistRow struct {
	worklist.Item
	Mine, Claimable bool
}

// claimable is whether a case in status with that claim may be claimed:
// it waits, or its claim lapsed.
func claimable(status string, expires *time.Time) bool {
	return status == string(cases.StatusRouted) ||
		(status == string(cases.StatusInReview) && expires != nil && expires.Before(time.Now()))
}

func (w *Web) worklistPage(c *gin.Context) {
	f := map[string]string{}
	for _, k := range []string{"priority", "specialty", "modality", "status", "overdue", "mine"} {
		if v := strings.TrimSpace(c.Query(k)); v != "" {
			f[k] = v
		}
	}
	opt := func(k string) *string {
		if v, ok := f[k]; ok {
			return &v
		}
		return nil
	}
	q := worklist.Query{Priority: opt("priority"), Specialty: opt("specialty"), Modality: opt("modality"),
		Status: opt("status"), Overdue: f["overdue"] == "1", Mine: f["mine"] == "1", Limit: 100}
	if q.Priority != nil && !cases.ValidPriority(*q.Priority) {
		w.fail(c, apperr.InvalidFields(map[string]string{"priority": "must be one of " + strings.Join(cases.Priorities, ", ")}))
		return
	}
	if q.Status != nil && *q.Status != "routed" && *q.Status != "in_review" {
		w.fail(c, apperr.InvalidFields(map[string]string{"status": "must be waiting (routed) or being read (in_review)"}))
		return
	}
	page, err := w.worklist.List(c.Request.Context(), principal(c), q)
	if err != nil {
		w.fail(c, err)
		return
	}
	p := principal(c)
	rows := make([]worklistRow, 0, len(page.Items))
	for _, it := range page.Items {
		mine := it.AssignedTo != nil && *it.AssignedTo == p.UserID && it.Status == string(cases.StatusInReview)
		rows = append(rows, worklistRow{Item: it, Mine: mine, Claimable: !mine && claimable(it.Status, it.ClaimExpiresAt)})
	}
	w.render(c, http.StatusOK, "specialist_worklist", worklistView{Items: rows, Counts: page.Counts,
		Overdue: page.Overdue, Total: page.TotalCount, Priorities: cases.Priorities, Filter: f, Filtered: len(f) > 0})
}

func (w *Web) claim(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if _, err := w.worklist.Claim(c.Request.Context(), principal(c), id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/worklist/"+id.String(), "You have claimed the case: it is yours to read.")
}

func (w *Web) release(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if _, err := w.worklist.Release(c.Request.Context(), principal(c), id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/worklist", "Released: the case is back on the worklist for the group.")
}

// priorView is an earlier case of the same patient.
type priorView struct {
	Case    cases.Case
	Studies []intake.Study
	Photos  []fileView
}

// readView is the specialist's case view.
type readView struct {
	Case    cases.Case
	Events  []eventView
	Photos  []fileView
	DICOM   []fileView
	Studies []intake.Study
	Priors  []priorView
	// ViewerURL opens OHIF on this case's studies with the patient's
	// earlier studies as priors; ViewerInstalled says whether it is there.
	ViewerURL       string
	ViewerInstalled bool
	// Mine is whether the specialist holds the claim; Claimable whether
	// the case waits for one.
	Mine, Claimable bool
	Report          *reports.Report
}

// caseRead loads what the case view and the photo viewer show.
func (w *Web) caseRead(c *gin.Context, id uuid.UUID) (readView, error) {
	ctx, p := c.Request.Context(), principal(c)
	cs, err := w.cases.Get(ctx, p, id)
	if err != nil {
		return readView{}, err
	}
	v := readView{Case: cs, ViewerInstalled: w.viewerInstalled()}
	st := cases.Status(cs.Status)
	v.Mine = cs.AssignedTo != nil && *cs.AssignedTo == p.UserID && st == cases.StatusInReview
	v.Claimable = !v.Mine && claimable(cs.Status, cs.ClaimExpiresAt)
	evs, err := w.cases.Events(ctx, p, id)
	if err != nil {
		return v, err
	}
	for _, e := range evs {
		v.Events = append(v.Events, describeEvent(e))
	}
	if v.Photos, v.DICOM, v.Studies, err = w.caseFiles(c, id); err != nil {
		return v, err
	}
	priors, err := w.cases.Priors(ctx, p, id)
	if err != nil {
		return v, err
	}
	uids := studyUIDs(v.Studies)
	for _, pc := range priors {
		pv := priorView{Case: pc}
		if pv.Photos, _, pv.Studies, err = w.caseFiles(c, pc.ID); err != nil {
			return v, err
		}
		uids = append(uids, studyUIDs(pv.Studies)...)
		v.Priors = append(v.Priors, pv)
	}
	if len(v.Studies) > 0 {
		v.ViewerURL = viewer.StudyURL(uids...)
	}
	if r, err := w.reports.GetForCase(ctx, p, id); err == nil {
		v.Report = &r
	} else if e, ok := apperr.As(err); !ok || e.Code != apperr.NotFound {
		return v, err
	}
	return v, nil
}

// caseFiles are a case's photos, its other files and its DICOM studies.
func (w *Web) caseFiles(c *gin.Context, id uuid.UUID) (photos, dicom []fileView, studies []intake.Study, err error) {
	if w.intake == nil {
		return nil, nil, nil, nil
	}
	ctx, p := c.Request.Context(), principal(c)
	files, err := w.intake.CaseFiles(ctx, p, id)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, f := range files {
		fv := fileView{File: f, Warnings: intake.Warnings(f)}
		if f.PreviewStatus == intake.PreviewReady || f.PreviewStatus == intake.PreviewDeferred {
			fv.Thumb = "/api/v1/files/" + f.ID.String() + "/thumbnail"
		}
		if f.Kind == "photo" {
			photos = append(photos, fv)
		} else {
			dicom = append(dicom, fv)
		}
	}
	studies, err = w.intake.CaseStudies(ctx, p, id)
	return photos, dicom, studies, err
}

func studyUIDs(ss []intake.Study) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.StudyInstanceUid)
	}
	return out
}

func (w *Web) readCase(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	v, err := w.caseRead(c, id)
	if err != nil {
		w.fail(c, err)
		return
	}
	w.render(c, http.StatusOK, "specialist_case", v)
}

// photoView is the photo viewer's data: the photo, and the earlier photos
// of the same body site to compare with.
type photoView struct {
	Case    cases.Case
	Photo   fileView
	Others  []fileView
	Earlier []earlierPhoto
}

// earlierPhoto is a photo of an earlier case of the patient.
type earlierPhoto struct {
	fileView
	Case cases.Case
}

func (w *Web) photoPage(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	fileID, err := pathID(c, "file_id")
	if err != nil {
		w.fail(c, err)
		return
	}
	rv, err := w.caseRead(c, id)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := photoView{Case: rv.Case}
	found := false
	for _, ph := range rv.Photos {
		if ph.ID == fileID {
			v.Photo, found = ph, true
		} else {
			v.Others = append(v.Others, ph)
		}
	}
	if !found {
		w.fail(c, apperr.New(apperr.NotFound, "no such photo in this case"))
		return
	}
	site := bodySiteOf(v.Photo.File, rv.Case)
	for _, pr := range rv.Priors {
		for _, ph := range pr.Photos {
			if site != "" && strings.EqualFold(bodySiteOf(ph.File, pr.Case), site) {
				v.Earlier = append(v.Earlier, earlierPhoto{fileView: ph, Case: pr.Case})
			}
		}
	}
	w.render(c, http.StatusOK, "specialist_photo", v)
}

// bodySiteOf is a photo's body site, or its case's lesion site.
func bodySiteOf(f intake.File, cs cases.Case) string {
	if f.BodySite != nil && *f.BodySite != "" {
		return strings.TrimSpace(*f.BodySite)
	}
	if cs.LesionBodySite != nil {
		return strings.TrimSpace(*cs.LesionBodySite)
	}
	return ""
}

// editorView is the report editor's data.
type editorView struct {
	Case   cases.Case
	Report *reports.Report
	Mine   bool
	// SecondRead is whether the report waits for this specialist's final
	// signature after another's preliminary one.
	SecondRead bool
	// API is the REST resource the editor's script saves to.
	API string
}

func (w *Web) reportEditor(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	cs, err := w.cases.Get(ctx, p, id)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := editorView{Case: cs, API: "/api/v1/cases/" + id.String() + "/report",
		Mine: cs.AssignedTo != nil && *cs.AssignedTo == p.UserID}
	if r, err := w.reports.GetForCase(ctx, p, id); err == nil {
		v.Report = &r
		pre, ok := r.Signature(reports.StatusPreliminary)
		v.SecondRead = v.Mine && r.Status == reports.StatusPreliminary && (!ok || pre.SignerID != p.UserID)
	} else if e, ok := apperr.As(err); !ok || e.Code != apperr.NotFound {
		w.fail(c, err)
		return
	}
	w.render(c, http.StatusOK, "specialist_report", v)
}

// Installer says whether the OHIF viewer is installed (*viewer.Handler is
// one).
type Installer interface{ Installed() bool }

// viewerInstalled is whether the case view may link to OHIF.
func (w *Web) viewerInstalled() bool { return w.viewer != nil && w.viewer.Installed() }
