package dicomweb

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/dicomweb/dicomwebdb"
	"github.com/teleread/teleread/internal/identity"
)

// wadoRoutes retrieve whole instances (PS3.18 10.4): a study, a series or
// one instance as multipart/related; type="application/dicom", the stored
// bytes streamed from object storage as they arrived.
var wadoRoutes = routeSet{routes: []route{
	{method: http.MethodGet, path: "/studies/:study", rule: readers, handle: (*Handler).retrieve},
	{method: http.MethodGet, path: "/studies/:study/series/:series", rule: readers, handle: (*Handler).retrieve},
	{method: http.MethodGet, path: "/studies/:study/series/:series/instances/:instance", rule: readers, handle: (*Handler).retrieve},
}}

// maxRetrieve bounds the instances of one retrieval.
const maxRetrieve = 100_000

// target is the study, series, instance and case a request names.
type target struct {
	study, series, instance string
	caseID                  uuid.UUID
}

// targetOf reads and checks the UIDs (and case) of the URL.
func targetOf(c *gin.Context) (target, error) {
	t := target{study: c.Param("study"), series: c.Param("series"), instance: c.Param("instance")}
	for name, v := range map[string]string{"study": t.study, "series": t.series, "instance": t.instance} {
		if v != "" && !ValidUID(v) {
			return t, invalid("the %s in the URL is not a DICOM UID (digits and dots, at most 64 characters)", name)
		}
	}
	if id := c.Param("case"); id != "" {
		var err error
		if t.caseID, err = uuid.Parse(id); err != nil {
			return t, apperr.New(apperr.NotFound, "case not found")
		}
	}
	return t, nil
}

// instances lists the instances of t that p may see; none is NotFound.
func (h *Handler) instances(c *gin.Context, p *identity.Principal, t target) ([]dicomwebdb.InstancesToRetrieveRow, error) {
	rows, err := h.q.InstancesToRetrieve(c.Request.Context(), h.pool, dicomwebdb.InstancesToRetrieveParams{
		StudyUid: t.study, SeriesUid: t.series, SopUid: t.instance, CaseID: t.caseID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: p.SeesWholeSite(), UserID: p.UserID, Lim: maxRetrieve})
	if err != nil {
		return nil, fmt.Errorf("find instances: %w", err)
	}
	if len(rows) == 0 {
		what := "study"
		switch {
		case t.instance != "":
			what = "instance"
		case t.series != "":
			what = "series"
		}
		return nil, apperr.New(apperr.NotFound, "%s not found", what)
	}
	return rows, nil
}

// auditRetrieval records, before any byte is sent, who read which study
// (of which case, how many instances, how): one entry per case read.
func (h *Handler) auditRetrieval(c *gin.Context, p *identity.Principal, t target, action string, rows []dicomwebdb.InstancesToRetrieveRow) error {
	type key struct{ caseID, org uuid.UUID }
	count := map[key]int{}
	var order []key
	for _, r := range rows {
		k := key{r.CaseID, r.OrgID}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	for _, k := range order {
		details := map[string]any{"study_uid": t.study, "instances": count[k]}
		if t.series != "" {
			details["series_uid"] = t.series
		}
		if t.instance != "" {
			details["sop_instance_uid"] = t.instance
		}
		if err := audit.RecordRead(c.Request.Context(), h.pool, audit.Event{Actor: p.Actor(), Action: action,
			ObjectType: "case", ObjectID: k.caseID.String(), ObjectOrgID: &k.org, Details: details}); err != nil {
			return err
		}
	}
	return nil
}

// retrieve streams the instances of a study, series or instance.
func (h *Handler) retrieve(c *gin.Context) {
	p := identity.FromContext(c.Request.Context())
	t, err := targetOf(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	syntax, err := acceptedSyntax(c.GetHeader("Accept"))
	if err != nil {
		h.fail(c, err)
		return
	}
	rows, err := h.instances(c, p, t)
	if err != nil {
		h.fail(c, err)
		return
	}
	if syntax != "*" && syntax != "" {
		for _, r := range rows {
			if r.TransferSyntax != syntax {
				h.fail(c, apperr.New(apperr.NotAcceptable,
					"instance %s is stored in transfer syntax %s and is not transcoded: accept transfer-syntax=* (or that syntax)",
					r.SopInstanceUid, r.TransferSyntax))
				return
			}
		}
	}
	if err := h.auditRetrieval(c, p, t, "dicomweb.retrieve", rows); err != nil {
		h.fail(c, err)
		return
	}
	mw := multipart.NewWriter(c.Writer)
	c.Header("Content-Type", fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary()))
	c.Header("Cache-Control", "private, no-store")
	c.Status(http.StatusOK)
	ctx := c.Request.Context()
	for _, r := range rows {
		hdr := textproto.MIMEHeader{}
		ct := "application/dicom"
		if r.TransferSyntax != "" {
			ct += "; transfer-syntax=" + r.TransferSyntax
		}
		hdr.Set("Content-Type", ct)
		st, err := h.storedOf(ctx, r)
		if err == nil {
			hdr.Set("Content-Length", fmt.Sprint(st.size))
			hdr.Set("Content-Location", h.retrieveURL(c, r.StudyInstanceUid)+"/series/"+r.SeriesInstanceUid+"/instances/"+r.SopInstanceUid)
			var w io.Writer
			if w, err = mw.CreatePart(hdr); err == nil {
				err = copyStored(w, st)
			}
		}
		if err != nil {
			// The status is sent: all that is left is to break the
			// answer off, so that the client sees it is incomplete.
			h.logger.ErrorContext(ctx, "dicomweb retrieve broke off", "error", err.Error())
			panic(http.ErrAbortHandler)
		}
	}
	if err := mw.Close(); err != nil {
		h.logger.ErrorContext(ctx, "dicomweb retrieve: closing", "error", err.Error())
	}
}

// copyStored copies the bytes of an instance to w.
func copyStored(w io.Writer, st storedInstance) error {
	rc, err := st.open(0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// acceptedSyntax reads the transfer syntax a retrieval may be sent in from
// its Accept header: "" when none is named (we send what is stored), "*"
// for any. An Accept that allows no multipart/related of application/dicom
// is NotAcceptable.
func acceptedSyntax(accept string) (string, error) {
	if strings.TrimSpace(accept) == "" {
		return "", nil
	}
	for _, item := range strings.Split(accept, ",") {
		mt, params, err := parseMediaType(strings.TrimSpace(item))
		if err != nil {
			continue
		}
		switch {
		case mt == "*/*" || mt == "multipart/*":
			return "", nil
		case mt == "multipart/related":
			if t := params["type"]; t != "" && !strings.EqualFold(t, "application/dicom") {
				continue
			}
			return params["transfer-syntax"], nil
		}
	}
	return "", apperr.New(apperr.NotAcceptable,
		`instances are sent as multipart/related; type="application/dicom": accept that (with transfer-syntax=*)`)
}
