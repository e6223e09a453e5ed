package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
)

// sitePages are the pages of site staff (and of referring physicians, who
// may open cases too): the case list, the new-case form, the case page
// with its timeline and uploads, answering a request for information,
// submit and cancel, incoming DICOMweb studies.
var sitePages = pageSet{
	{method: http.MethodGet, path: "/cases", rule: siteUsers, handle: (*Web).caseList},
	{method: http.MethodGet, path: "/cases/new", rule: siteUsers, handle: (*Web).newCaseForm},
	{method: http.MethodPost, path: "/cases", rule: siteUsers, handle: (*Web).createCase},
	// Any role may ask for a case page: the domain decides in SQL who sees
	// which case (another site's, or another reading group's, is the 404
	// page).
	{method: http.MethodGet, path: "/cases/:id", rule: anyone, handle: (*Web).casePage},
	{method: http.MethodPost, path: "/cases/:id/submit", rule: siteUsers, handle: (*Web).submitCase},
	{method: http.MethodPost, path: "/cases/:id/cancel", rule: siteUsers, handle: (*Web).cancelCase},
	{method: http.MethodPost, path: "/cases/:id/answer", rule: siteUsers, handle: (*Web).answerCase},
	{method: http.MethodGet, path: "/incoming", rule: siteStaff, handle: (*Web).incomingList},
}

// caseListView is the case list's data.
type caseListView struct {
	Cases  []cases.Case
	Status string
	// Statuses are the filter's choices.
	Statuses []cases.Status
	// Mine is the referring physician's "my cases" view.
	Mine bool
}

func (w *Web) caseList(c *gin.Context) {
	status := c.Query("status")
	f := cases.Filter{Limit: 100}
	if status != "" {
		f.Status = &status
	}
	list, err := w.cases.List(c.Request.Context(), principal(c), f)
	if err != nil {
		w.fail(c, err)
		return
	}
	w.render(c, http.StatusOK, "site_cases", caseListView{Cases: list, Status: status, Statuses: cases.Statuses})
}

// caseForm is the new-case form: what was entered and what is wrong.
type caseForm struct {
	ReferringPhysicianID, Specialty, Priority     string
	Name, BirthDate, Sex, MRN                     string
	ClinicalQuestion, History, BodySite, Duration string
	IncomingStudyID                               string
	Errors                                        map[string]string
	Problem                                       string
	Physicians                                    []identity.User
	BodySites                                     []BodySiteOption
	Priorities                                    []string
	IncomingDescription                           string
	Self                                          bool
	// Key names this form: sent twice (a double click, a reload, the
	// back button) it opens one case.
	Key string
}

// BodySiteOption is one choice of the coded body site list.
type BodySiteOption struct{ Value, Label string }

// bodySiteNames are the sites of the coded list: texts that intake codes
// in SNOMED CT (dicomfile.BodySiteCode), each also offered left and right
// when it has sides.
var bodySiteNames = []struct {
	name   string
	paired bool
}{
	{"scalp", false}, {"face", false}, {"forehead", false}, {"nose", false}, {"cheek", true}, {"ear", true},
	{"lip", false}, {"neck", false}, {"chest", false}, {"breast", true}, {"abdomen", false}, {"back", false},
	{"lower back", false}, {"buttock", true}, {"shoulder", true}, {"upper arm", true}, {"elbow", true},
	{"forearm", true}, {"wrist", true}, {"hand", true}, {"finger", true}, {"thumb", true}, {"hip", true},
	{"thigh", true}, {"knee", true}, {"lower leg", true}, {"ankle", true}, {"foot", true}, {"toe", true},
	{"trunk", false}, {"entire body", false},
}

// BodySites is the coded list of body sites offered by the pages.
func BodySites() []BodySiteOption {
	var out []BodySiteOption
	for _, s := range bodySiteNames {
		label := strings.ToUpper(s.name[:1]) + s.name[1:]
		if !s.paired {
			out = append(out, BodySiteOption{Value: s.name, Label: label})
			continue
		}
		out = append(out, BodySiteOption{Value: "left " + s.name, Label: label + ", left"},
			BodySiteOption{Value: "right " + s.name, Label: label + ", right"})
	}
	return out
}

func (w *Web) formChoices(c *gin.Context, f *caseForm) {
	p := principal(c)
	f.BodySites, f.Priorities = BodySites(), cases.Priorities
	f.Self = p.Has(identity.RoleReferringPhysician)
	org := p.OrgID
	users, err := w.identity.ListUsers(c.Request.Context(), p, &org)
	if err != nil {
		w.logger.WarnContext(c.Request.Context(), "list referring physicians", "error", err.Error())
		return
	}
	for _, u := range users {
		if u.DisabledAt == nil && hasRole(u.Roles, identity.RoleReferringPhysician) {
			f.Physicians = append(f.Physicians, u)
		}
	}
}

func hasRole(roles []string, r identity.Role) bool {
	for _, x := range roles {
		if x == string(r) {
			return true
		}
	}
	return false
}

func (w *Web) newCaseForm(c *gin.Context) {
	f := caseForm{Specialty: c.DefaultQuery("specialty", identity.SpecialtyDermatology), Priority: "routine",
		Errors: map[string]string{}, Key: uuid.NewString()}
	if id := c.Query("incoming"); id != "" {
		// A case made of an incoming study: its patient comes from it.
		studies, err := w.intake.IncomingStudies(c.Request.Context(), principal(c))
		if err != nil {
			w.fail(c, err)
			return
		}
		found := false
		for _, st := range studies {
			if st.ID.String() == id {
				found = true
				f.IncomingStudyID, f.Specialty = id, identity.SpecialtyRadiology
				f.Name, f.MRN, f.Sex = dicomName(st.PatientName), st.PatientID, st.PatientSex
				f.BirthDate = dicomDate(st.PatientBirthDate)
				f.IncomingDescription = strings.TrimSpace(st.StudyDescription + " " + dicomDate(st.StudyDate))
			}
		}
		if !found {
			w.fail(c, apperr.New(apperr.NotFound, "no such incoming study (it may already be a case's)"))
			return
		}
	}
	w.formChoices(c, &f)
	w.render(c, http.StatusOK, "site_new_case", f)
}

// createOnce opens the case of the new-case form named key: a form sent
// again (a double click, a reload, the back button) opens no second case,
// and again reports that it was sent before. The key is an Idempotency-Key
// whose answer, the case's id, is stored with the case; a form without
// one (a page from before keys) opens a case each time.
func (w *Web) createOnce(ctx context.Context, p *identity.Principal, key string, in cases.NewCase) (cs cases.Case, again bool, err error) {
	if key == "" {
		cs, err = w.cases.Create(ctx, p, in)
		return cs, false, err
	}
	const route = "web: POST /cases"
	k := intake.Keyed{Key: "web-case-" + key, Route: route, Hash: route}
	open := func(cl *intake.Claim) (intake.Answer, error) {
		var err error
		cs, err = w.cases.CreateThen(ctx, p, in, func(ctx context.Context, tx pgx.Tx, cs cases.Case) error {
			return cl.Store(ctx, tx, openedAnswer(cs))
		})
		if err != nil {
			return intake.Answer{}, err
		}
		return openedAnswer(cs), nil
	}
	ans, err := w.intake.Idempotent(ctx, p, k, open)
	for wait := 0; wait < 25 && err != nil; wait++ {
		// A double click: the first request is still opening the case,
		// and the browser waits for this one. Wait for the first.
		if e, ok := apperr.As(err); !ok || e.Code != apperr.Conflict || e.RetryAfterSeconds == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return cases.Case{}, false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		ans, err = w.intake.Idempotent(ctx, p, k, open)
	}
	if err != nil || !ans.Replayed {
		return cs, false, err
	}
	var opened struct {
		CaseID uuid.UUID `json:"case_id"`
	}
	if err := json.Unmarshal(ans.Body, &opened); err != nil {
		return cases.Case{}, false, fmt.Errorf("replayed answer: %w", err)
	}
	cs, err = w.cases.Get(ctx, p, opened.CaseID)
	return cs, true, err
}

// openedAnswer is the answer createOnce keeps: the case's id.
func openedAnswer(cs cases.Case) intake.Answer {
	js, _ := json.Marshal(map[string]uuid.UUID{"case_id": cs.ID})
	return intake.Answer{Status: http.StatusSeeOther, Body: js, Keep: true}
}

// dicomName turns a DICOM person name (Family^Given) into "Given Family".
func dicomName(s string) string {
	parts := strings.Split(s, "^")
	if len(parts) >= 2 && parts[1] != "" {
		return strings.TrimSpace(parts[1] + " " + parts[0])
	}
	return strings.TrimSpace(strings.ReplaceAll(s, "^", " "))
}

// dicomDate turns YYYYMMDD into YYYY-MM-DD.
func dicomDate(s string) string {
	if t, err := time.Parse("20060102", s); err == nil {
		return t.Format(time.DateOnly)
	}
	return s
}

func (w *Web) createCase(c *gin.Context) {
	ctx, p := c.Request.Context(), principal(c)
	f := caseForm{ReferringPhysicianID: c.PostForm("referring_physician_id"), Specialty: c.PostForm("specialty"),
		Priority: c.PostForm("priority"), Name: c.PostForm("patient_name"), BirthDate: c.PostForm("patient_birth_date"),
		Sex: c.PostForm("patient_sex"), MRN: c.PostForm("patient_mrn"), ClinicalQuestion: c.PostForm("clinical_question"),
		History: c.PostForm("history"), BodySite: c.PostForm("lesion_body_site"), Duration: c.PostForm("lesion_duration"),
		IncomingStudyID: c.PostForm("incoming_study_id"), Errors: map[string]string{}, Key: c.PostForm("key")}
	in := cases.NewCase{Specialty: f.Specialty, Priority: f.Priority, PatientName: f.Name, PatientBirthDate: f.BirthDate,
		PatientSex: f.Sex, PatientMRN: f.MRN, ClinicalQuestion: f.ClinicalQuestion, History: f.History,
		LesionBodySite: f.BodySite, LesionDuration: f.Duration}
	if f.ReferringPhysicianID != "" {
		id, err := uuid.Parse(f.ReferringPhysicianID)
		if err != nil {
			f.Errors["referring_physician_id"] = "choose a referring physician of your site"
		}
		in.ReferringPhysicianID = id
	}
	var incoming []uuid.UUID
	if f.IncomingStudyID != "" {
		id, err := uuid.Parse(f.IncomingStudyID)
		if err == nil {
			incoming = []uuid.UUID{id}
			err = w.intake.CheckIncoming(ctx, p, incoming)
		}
		if err != nil {
			w.fail(c, apperr.New(apperr.NotFound, "no such incoming study (it may already be a case's)"))
			return
		}
	}
	var cs cases.Case
	var err error
	if len(f.Errors) == 0 {
		var again bool
		cs, again, err = w.createOnce(ctx, p, f.Key, in)
		if again {
			w.redirect(c, "/cases/"+cs.ID.String(), "This form was sent before: here is the case it opened.")
			return
		}
	}
	if f.Key == "" {
		f.Key = uuid.NewString()
	}
	if e, ok := apperr.As(err); (ok && e.Code == apperr.Invalid) || len(f.Errors) > 0 {
		if ok {
			for k, v := range e.Fields {
				f.Errors[k] = v
			}
			if len(e.Fields) == 0 {
				f.Problem = e.Message
			}
		}
		w.formChoices(c, &f)
		w.render(c, http.StatusBadRequest, "site_new_case", f)
		return
	}
	if err != nil {
		w.fail(c, err)
		return
	}
	if len(incoming) > 0 {
		if _, err := w.intake.Attach(ctx, p, cs, incoming); err != nil {
			w.redirect(c, "/cases/"+cs.ID.String(), "The case was opened, but its study could not be attached: "+reason(err))
			return
		}
		w.redirect(c, "/cases/"+cs.ID.String(), "Case opened with the incoming study. Check it and submit.")
		return
	}
	w.redirect(c, "/cases/"+cs.ID.String(), "Case opened as a draft. Add the photos or images, then submit.")
}

// reason is the safe reason of an error, for a one-line message.
func reason(err error) string {
	if e, ok := apperr.As(err); ok && e.Code != apperr.Internal {
		return e.Message
	}
	return "an internal error occurred"
}

// fileView is a file as the case page shows it.
type fileView struct {
	intake.File
	Warnings []intake.Warning
	Thumb    string
}

// caseView is the case page's data.
type caseView struct {
	Case     cases.Case
	Events   []eventView
	Files    []fileView
	Photos   []fileView
	DICOM    []fileView
	Studies  []intake.Study
	Editable bool
	// CanCancel is whether cancelling is offered (before any claim).
	CanCancel bool
	// SiteUser is whether the viewer acts for the site (upload, submit).
	SiteUser   bool
	BodySites  []BodySiteOption
	Referrer   string
	HasReport  bool
	ReportPath string
}

// eventView is an entry of the timeline in words.
type eventView struct {
	At   time.Time
	What string
	Note string
}

func (w *Web) casePage(c *gin.Context) {
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
	evs, err := w.cases.Events(ctx, p, id)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := caseView{Case: cs, SiteUser: p.OrgKind == identity.OrgSite && p.HasAny(identity.RoleSiteStaff, identity.RoleReferringPhysician),
		BodySites: BodySites()}
	st := cases.Status(cs.Status)
	v.Editable = v.SiteUser && (st == cases.StatusDraft || st == cases.StatusInfoRequested)
	v.CanCancel = v.SiteUser && (st == cases.StatusDraft || st == cases.StatusSubmitted || st == cases.StatusRouted ||
		st == cases.StatusInfoRequested)
	for _, e := range evs {
		v.Events = append(v.Events, describeEvent(e))
	}
	if w.intake != nil {
		files, err := w.intake.CaseFiles(ctx, p, id)
		if err != nil {
			w.fail(c, err)
			return
		}
		for _, f := range files {
			fv := fileView{File: f, Warnings: intake.Warnings(f)}
			if f.PreviewStatus == intake.PreviewReady || f.PreviewStatus == intake.PreviewDeferred {
				fv.Thumb = "/api/v1/files/" + f.ID.String() + "/thumbnail"
			}
			if f.Kind == "photo" {
				v.Photos = append(v.Photos, fv)
			} else {
				v.DICOM = append(v.DICOM, fv)
			}
			v.Files = append(v.Files, fv)
		}
		if v.Studies, err = w.intake.CaseStudies(ctx, p, id); err != nil {
			w.fail(c, err)
			return
		}
	}
	switch st {
	case cases.StatusReported, cases.StatusDelivered, cases.StatusAcknowledged:
		if p.Has(identity.RoleReferringPhysician) || p.SeesWholeSite() {
			v.HasReport, v.ReportPath = true, "/cases/"+id.String()+"/report"
		}
	}
	w.render(c, http.StatusOK, "site_case", v)
}

// describeEvent says a timeline entry in words.
func describeEvent(e cases.Event) eventView {
	v := eventView{At: e.At}
	var details map[string]any
	_ = json.Unmarshal(e.Details, &details)
	switch {
	case e.Kind == "created":
		v.What = "Case opened"
	case e.ToStatus != nil && *e.ToStatus != "" && (e.FromStatus == nil || *e.FromStatus != *e.ToStatus):
		v.What = statusLabel(*e.ToStatus)
	default:
		v.What = strings.ToUpper(strings.ReplaceAll(e.Kind, "_", " ")[:1]) + strings.ReplaceAll(e.Kind, "_", " ")[1:]
	}
	for _, k := range []string{"message", "reason", "note"} {
		if s, ok := details[k].(string); ok && s != "" {
			v.Note = s
		}
	}
	return v
}

func (w *Web) submitCase(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if _, err := w.cases.Submit(c.Request.Context(), principal(c), id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/cases/"+id.String(), "Submitted. The case goes to the worklist of a reading group.")
}

func (w *Web) cancelCase(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if _, err := w.cases.Cancel(c.Request.Context(), principal(c), id, strings.TrimSpace(c.PostForm("reason"))); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/cases/"+id.String(), "The case is cancelled.")
}

// answerCase answers a request for more information: the answer is added
// to the history (with the date), then the case is submitted again.
func (w *Web) answerCase(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	answer := strings.TrimSpace(c.PostForm("answer"))
	if answer != "" {
		cs, err := w.cases.Get(ctx, p, id)
		if err != nil {
			w.fail(c, err)
			return
		}
		h := strings.TrimSpace(cs.History + "\n\nAnswer to the request for information (" +
			time.Now().UTC().Format(time.DateOnly) + "): " + answer)
		if _, err := w.cases.Update(ctx, p, id, cases.Change{History: &h}); err != nil {
			w.fail(c, err)
			return
		}
	}
	if c.PostForm("resubmit") == "" {
		w.redirect(c, "/cases/"+id.String(), "Your answer is saved. Submit the case again when it is complete.")
		return
	}
	if _, err := w.cases.Submit(ctx, p, id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/cases/"+id.String(), "Answered and submitted again.")
}

func (w *Web) incomingList(c *gin.Context) {
	studies, err := w.intake.IncomingStudies(c.Request.Context(), principal(c))
	if err != nil {
		w.fail(c, err)
		return
	}
	w.render(c, http.StatusOK, "site_incoming", studies)
}

// fmtBytes is a size in words.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
