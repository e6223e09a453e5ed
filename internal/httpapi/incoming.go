package httpapi

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/intake"
)

func toIncomingStudy(s intake.IncomingStudy) api.IncomingStudy {
	mods := []string{}
	if s.Modalities != "" {
		mods = strings.Split(s.Modalities, `\`)
	}
	return api.IncomingStudy{ID: s.ID, StudyInstanceUID: s.StudyInstanceUid, PatientName: s.PatientName,
		PatientID: s.PatientID, PatientBirthDate: s.PatientBirthDate, PatientSex: s.PatientSex, StudyDate: s.StudyDate,
		StudyTime: s.StudyTime, Description: s.StudyDescription, AccessionNumber: s.AccessionNumber, Modalities: mods,
		Instances: s.Instances, FirstReceivedAt: s.FirstReceivedAt, LastReceivedAt: s.LastReceivedAt}
}

// listIncoming lists the site's incoming studies.
func (a *API) listIncoming(c *gin.Context) {
	studies, err := a.intake.IncomingStudies(c.Request.Context(), principal(c))
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.List[api.IncomingStudy]{Items: make([]api.IncomingStudy, len(studies))}
	for i, s := range studies {
		out.Items[i] = toIncomingStudy(s)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// attachIncoming makes incoming studies files of a draft case and answers
// like an upload of their instances.
func (a *API) attachIncoming(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.AttachIncomingRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	if len(req.IncomingStudyIDs) == 0 {
		a.fail(c, apperr.InvalidFields(map[string]string{"incoming_study_ids": "name at least one incoming study"}))
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	cs, err := a.intake.CheckUploadable(ctx, p, id)
	if err != nil {
		a.fail(c, err)
		return
	}
	results, err := a.intake.Attach(ctx, p, cs, req.IncomingStudyIDs)
	if err != nil {
		a.fail(c, err)
		return
	}
	r := a.uploadAnswer(c, results, nil)
	if pr, ok := r.body.(edge.Problem); ok {
		edge.WriteProblem(c, pr)
		return
	}
	c.JSON(http.StatusOK, r.body)
}
