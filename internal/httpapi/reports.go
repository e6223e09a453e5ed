package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/reports"
)

// reportRoutes registers the report routes: drafting, signing and addenda
// on the case; reading, PDF and FHIR on the report.
func (a *API) reportRoutes(g *gin.RouterGroup) {
	g.GET("/cases/:id/report", a.needReports, a.getCaseReport)
	g.PUT("/cases/:id/report", a.needReports, a.putCaseReport)
	g.POST("/cases/:id/report/sign", a.needReports, a.signCaseReport)
	g.POST("/cases/:id/report/addenda", a.needReports, a.addReportAddendum)
	g.GET("/reports/:id", a.needReports, a.getReport)
	g.GET("/reports/:id/pdf", a.needReports, a.reportPDF)
	g.GET("/reports/:id/fhir", a.needReports, a.reportFHIR)
}

// needReports answers 503 when the server was built without reports (a
// router made for tests of other routes).
func (a *API) needReports(c *gin.Context) {
	if a.reports == nil {
		a.fail(c, apperr.New(apperr.Unavailable, "reports are not configured on this server"))
		return
	}
	c.Next()
}

// toReport is a report as the API answers it, with its links.
func (a *API) toReport(r reports.Report) api.Report {
	l := a.reports.LinksOf(r.ID)
	out := api.Report{ID: r.ID, CaseID: r.CaseID, Status: r.Status, Version: r.Version, Findings: r.Findings,
		Impression: r.Impression, Diagnoses: make([]api.Diagnosis, 0, len(r.Diagnoses)),
		Recommendations: r.Recommendations, FollowUpInterval: r.FollowUp, Critical: r.Critical,
		AuthorID: r.AuthorID, UpdatedBy: r.UpdatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Signatures: make([]api.Signature, 0, len(r.Signatures)), Addenda: make([]api.Addendum, 0, len(r.Addenda)),
		Links: api.ReportLinks{Self: l.Self, PDF: l.PDF, FHIR: l.FHIR}}
	if r.ContentSHA256 != "" {
		out.ContentSHA256 = &r.ContentSHA256
	}
	for _, d := range r.Diagnoses {
		out.Diagnoses = append(out.Diagnoses, api.Diagnosis(d))
	}
	for _, s := range r.Signatures {
		out.Signatures = append(out.Signatures, api.Signature{Kind: s.Kind, SignerID: s.SignerID, SignerName: s.SignerName,
			SignedAt: s.SignedAt, SHA256: s.SHA256})
	}
	for _, ad := range r.Addenda {
		out.Addenda = append(out.Addenda, toAddendum(ad))
	}
	return out
}

// toAddendum is a report's addendum as the API answers it.
func toAddendum(ad reports.Addendum) api.Addendum {
	return api.Addendum{ID: ad.ID, Text: ad.Text, SignerID: ad.SignerID, SignerName: ad.SignerName,
		SignedAt: ad.SignedAt, SHA256: ad.SHA256}
}

// etag is a draft's version as an entity tag; If-Match takes it back.
func etag(version int32) string { return `"` + strconv.Itoa(int(version)) + `"` }

// writeReport answers with a report, its version as the ETag, and no
// caching (it holds patient data).
func (a *API) writeReport(c *gin.Context, status int, r reports.Report) {
	c.Header("ETag", etag(r.Version))
	c.Header("Cache-Control", "no-store")
	c.JSON(status, a.toReport(r))
}

func (a *API) getCaseReport(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	r, err := a.reports.GetForCase(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.writeReport(c, http.StatusOK, r)
}

// ifMatchVersion reads If-Match: the ETag of the version the editor
// started from ("3", or 3; W/ is tolerated). Absent, the save is
// unconditional.
func ifMatchVersion(c *gin.Context) (*int32, error) {
	v := strings.TrimSpace(c.GetHeader("If-Match"))
	if v == "" {
		return nil, nil
	}
	v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return nil, apperr.New(apperr.Invalid, "If-Match must be the ETag of the draft you edited, such as \"3\"")
	}
	out := int32(n)
	return &out, nil
}

func (a *API) putCaseReport(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	ifMatch, err := ifMatchVersion(c)
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.ReportDraftRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	in := reports.Content{Findings: req.Findings, Impression: req.Impression, Recommendations: req.Recommendations,
		FollowUp: req.FollowUpInterval, Critical: req.Critical, Diagnoses: make([]reports.Diagnosis, 0, len(req.Diagnoses))}
	for _, d := range req.Diagnoses {
		in.Diagnoses = append(in.Diagnoses, reports.Diagnosis(d))
	}
	res, err := a.reports.SaveDraft(c.Request.Context(), principal(c), id, in, ifMatch)
	var stale *reports.VersionMismatchError
	if errors.As(err, &stale) {
		a.preconditionFailed(c, stale)
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	a.writeReport(c, status, res.Report)
}

// preconditionFailed answers a save based on an old version: 412, with the
// current version as the ETag, so the editor can reload and merge.
func (a *API) preconditionFailed(c *gin.Context, stale *reports.VersionMismatchError) {
	c.Header("ETag", etag(stale.Current))
	p := edge.NewProblem(c, http.StatusPreconditionFailed, "precondition_failed",
		fmt.Sprintf("the draft was saved elsewhere meanwhile and is at version %d: reload it, then save again", stale.Current))
	p.Extra = api.VersionConflict{CurrentVersion: stale.Current}
	edge.WriteProblem(c, p)
}

func (a *API) signCaseReport(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	r, err := a.reports.Sign(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.writeReport(c, http.StatusOK, r)
}

func (a *API) addReportAddendum(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.AddendumRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	route := "POST /api/v1/cases/" + id.String() + "/report/addenda"
	c.Header("Cache-Control", "no-store")
	a.idempotentTx(c, intake.Keyed{Route: route, Hash: requestHash(route, req)}, func(keep keeper) (reply, error) {
		ad, err := a.reports.AddAddendumThen(c.Request.Context(), principal(c), id, req.Text,
			func(ctx context.Context, tx pgx.Tx, ad reports.Addendum) error {
				return keep(ctx, tx, reply{status: http.StatusCreated, body: toAddendum(ad), keep: true})
			})
		if err != nil {
			return reply{}, err
		}
		return reply{status: http.StatusCreated, body: toAddendum(ad), keep: true}, nil
	})
}

func (a *API) getReport(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	r, err := a.reports.Get(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.writeReport(c, http.StatusOK, r)
}

func (a *API) reportPDF(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	doc, err := a.reports.PDF(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Content-Type", "application/pdf")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, doc.Filename))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := doc.WriteTo(c.Writer); err != nil {
		// The status is sent; the client sees a truncated body.
		a.logger.WarnContext(c.Request.Context(), "report pdf write failed", "report_id", id.String(), "error", err.Error())
	}
}

func (a *API) reportFHIR(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	body, err := a.reports.FHIR(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, reports.FHIRContentType, body)
}
