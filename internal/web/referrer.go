package web

import (
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/reports"
)

// referrerPages are the pages of referring physicians: the inbox
// (critical and unread first), the report with its key images, PDF and
// FHIR links and the acknowledge button, and where each of their cases is.
var referrerPages = pageSet{
	{method: http.MethodGet, path: "/inbox", rule: siteUsers, handle: (*Web).inbox},
	{method: http.MethodGet, path: "/my-cases", rule: referrers, handle: (*Web).myCases},
	{method: http.MethodGet, path: "/cases/:id/report", rule: siteUsers, handle: (*Web).reportPage},
	{method: http.MethodPost, path: "/reports/:id/acknowledge", rule: referrers, handle: (*Web).acknowledge},
}

// inboxView is the inbox's data.
type inboxView struct {
	Items      []delivery.InboxItem
	UnreadOnly bool
}

func (w *Web) inbox(c *gin.Context) {
	q := delivery.InboxQuery{UnreadOnly: c.Query("unread") == "1", Limit: 200}
	items, err := w.delivery.Inbox(c.Request.Context(), principal(c), q)
	if err != nil {
		w.fail(c, err)
		return
	}
	// Critical results not yet acknowledged first, then unread, then the
	// rest; newest first within each, as the domain answers.
	rank := func(it delivery.InboxItem) int {
		switch {
		case it.Critical && it.AcknowledgedAt == nil:
			return 0
		case it.Unread:
			return 1
		}
		return 2
	}
	sort.SliceStable(items, func(i, j int) bool { return rank(items[i]) < rank(items[j]) })
	w.render(c, http.StatusOK, "referrer_inbox", inboxView{Items: items, UnreadOnly: q.UnreadOnly})
}

// myCaseView is one of a referring physician's cases and where it is.
type myCaseView struct {
	cases.Case
	// Stage is where the case is, in words; Next is what happens next.
	Stage, Next string
}

func (w *Web) myCases(c *gin.Context) {
	list, err := w.cases.List(c.Request.Context(), principal(c), cases.Filter{Limit: 200})
	if err != nil {
		w.fail(c, err)
		return
	}
	out := make([]myCaseView, 0, len(list))
	for _, cs := range list {
		out = append(out, myCaseView{Case: cs, Stage: statusLabel(cs.Status), Next: nextStep(cases.Status(cs.Status))})
	}
	w.render(c, http.StatusOK, "referrer_cases", out)
}

// nextStep says what happens next to a case in status s.
func nextStep(s cases.Status) string {
	switch s {
	case cases.StatusDraft:
		return "The site adds the files and submits it."
	case cases.StatusSubmitted:
		return "Teleread picks the reading group."
	case cases.StatusRouted:
		return "A specialist claims it from the worklist."
	case cases.StatusInReview:
		return "A specialist is reading it and writes the report."
	case cases.StatusInfoRequested:
		return "The site answers the specialist's question."
	case cases.StatusReported, cases.StatusDelivered:
		return "Read the report and acknowledge it."
	case cases.StatusAcknowledged:
		return "Done."
	case cases.StatusCancelled:
		return "Nothing: it was withdrawn."
	}
	return ""
}

// reportView is the report page's data.
type reportView struct {
	Case      cases.Case
	Report    reports.Report
	Images    []fileView
	PDF, FHIR string
	// CanAcknowledge is whether the viewer is the referring physician and
	// has not acknowledged yet; Acknowledged says when it was.
	CanAcknowledge bool
	Acknowledged   bool
}

func (w *Web) reportPage(c *gin.Context) {
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
	r, err := w.reports.GetForCase(ctx, p, id)
	if err != nil {
		w.fail(c, err)
		return
	}
	base := "/api/v1/reports/" + r.ID.String()
	v := reportView{Case: cs, Report: r, PDF: base + "/pdf", FHIR: base + "/fhir",
		Acknowledged: cs.Status == string(cases.StatusAcknowledged)}
	v.CanAcknowledge = p.Has(identity.RoleReferringPhysician) && cs.ReferringPhysicianID == p.UserID &&
		cs.Status == string(cases.StatusDelivered)
	if w.intake != nil {
		files, err := w.intake.CaseFiles(ctx, p, id)
		if err != nil {
			w.fail(c, err)
			return
		}
		v.Images = keyImages(files, 12)
	}
	w.render(c, http.StatusOK, "referrer_report", v)
}

// keyImages are the files with a preview to show beside the report: every
// photo, and the first image of each DICOM study's files, at most max.
func keyImages(files []intake.File, max int) []fileView {
	var out []fileView
	dicom := 0
	for _, f := range files {
		if f.PreviewStatus != intake.PreviewReady && f.PreviewStatus != intake.PreviewDeferred {
			continue
		}
		if f.Kind != "photo" {
			if dicom >= 3 {
				continue
			}
			dicom++
		}
		out = append(out, fileView{File: f, Warnings: intake.Warnings(f),
			Thumb: "/api/v1/files/" + f.ID.String() + "/preview"})
		if len(out) == max {
			break
		}
	}
	return out
}

func (w *Web) acknowledge(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	ack, err := w.delivery.Acknowledge(c.Request.Context(), principal(c), id)
	if err != nil {
		w.fail(c, err)
		return
	}
	target := "/inbox"
	if ack.CaseID != uuid.Nil {
		target = "/cases/" + ack.CaseID.String() + "/report"
	}
	w.redirect(c, target, "Acknowledged. The specialist's site can see that you have read the report.")
}
