package httpapi

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/intake"
)

// fileRoutes registers the file routes: uploads (direct and presigned) in
// files_upload.go and files_presign.go, reads here.
func (a *API) fileRoutes(g *gin.RouterGroup) {
	g.POST("/cases/:id/files", a.needIntake, a.uploadFiles)
	g.GET("/cases/:id/files", a.needIntake, a.listFiles)
	g.POST("/cases/:id/files/lookup", a.needIntake, a.lookupFiles)
	g.GET("/cases/:id/studies", a.needIntake, a.listStudies)
	g.POST("/cases/:id/incoming-studies", a.needIntake, a.attachIncoming)
	g.GET("/incoming-studies", a.needIntake, a.listIncoming)
	g.POST("/cases/:id/uploads", a.needIntake, a.createUpload)
	g.GET("/cases/:id/uploads/:upload_id", a.needIntake, a.uploadStatus)
	g.POST("/cases/:id/uploads/:upload_id/complete", a.needIntake, a.completeUpload)
	g.GET("/files/:id", a.needIntake, a.getFile)
	g.GET("/files/:id/content", a.needIntake, a.fileContent)
	g.GET("/files/:id/preview", a.needIntake, a.fileDerived(intake.DerivedPreview))
	g.GET("/files/:id/thumbnail", a.needIntake, a.fileDerived(intake.DerivedThumbnail))
}

// needIntake answers 503 when the server was built without the upload
// pipeline (a router made for tests of other routes).
func (a *API) needIntake(c *gin.Context) {
	if a.intake == nil {
		a.fail(c, apperr.New(apperr.Unavailable, "file intake is not configured on this server"))
		return
	}
	c.Next()
}

// toFile is a file as the API answers it.
func toFile(f intake.File) api.File {
	base := "/api/v1/files/" + f.ID.String()
	out := api.File{ID: f.ID, CaseID: f.CaseID, Kind: f.Kind, Filename: f.Filename, ContentType: f.ContentType,
		SHA256: f.Sha256, Size: f.Size, StoredSHA256: f.StoredSha256, StoredSize: f.StoredSize, Width: f.Width,
		Height: f.Height, BodySite: f.BodySite, Dermoscopic: f.Dermoscopic, PatientMismatch: f.PatientMismatch,
		Metadata: intake.Metadata(f), Preview: api.Preview{Status: f.PreviewStatus, Note: f.PreviewNote},
		ContentURL: base + "/content", UploadedBy: f.UploadedBy, CreatedAt: f.CreatedAt, Warnings: []api.Warning{}}
	for _, w := range intake.Warnings(f) {
		out.Warnings = append(out.Warnings, api.Warning(w))
	}
	if f.PreviewStatus == intake.PreviewReady || f.PreviewStatus == intake.PreviewDeferred {
		// A deferred preview is rendered by the request for it.
		out.Preview.PreviewURL, out.Preview.ThumbnailURL = base+"/preview", base+"/thumbnail"
	}
	return out
}

func (a *API) listFiles(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	files, err := a.intake.CaseFiles(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.List[api.File]{Items: make([]api.File, 0, len(files))}
	for _, f := range files {
		out.Items = append(out.Items, toFile(f))
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (a *API) listStudies(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	studies, err := a.intake.CaseStudies(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.List[api.Study]{Items: make([]api.Study, 0, len(studies))}
	for _, st := range studies {
		out.Items = append(out.Items, toStudy(st))
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// toStudy is a DICOM study of a case as the API answers it: its series,
// and its instances and modalities summed over them.
func toStudy(st intake.Study) api.Study {
	out := api.Study{StudyInstanceUID: st.StudyInstanceUid, Description: st.StudyDescription, StudyDate: st.StudyDate,
		StudyTime: st.StudyTime, AccessionNumber: st.AccessionNumber, PatientName: st.PatientName,
		PatientID: st.PatientID, PatientBirthDate: st.PatientBirthDate, PatientSex: st.PatientSex,
		Modalities: []string{}, Series: make([]api.Series, 0, len(st.Series))}
	for _, se := range st.Series {
		out.Series = append(out.Series, api.Series{SeriesInstanceUID: se.SeriesInstanceUid, Modality: se.Modality,
			BodyPart: se.BodyPart, Description: se.SeriesDescription, SeriesNumber: se.SeriesNumber,
			Instances: se.Instances, Frames: se.Frames})
		out.Instances += se.Instances
		if se.Modality != "" && !slices.Contains(out.Modalities, se.Modality) {
			out.Modalities = append(out.Modalities, se.Modality)
		}
	}
	return out
}

func (a *API) getFile(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	f, ref, err := a.intake.ViewFile(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := toFile(f)
	if ref != nil {
		out.DICOM = toDICOMRef(*ref)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// toDICOMRef places a DICOM file in its study and series.
func toDICOMRef(ref intake.DICOMRef) *api.DICOMRef {
	return &api.DICOMRef{StudyInstanceUID: ref.StudyInstanceUid, SeriesInstanceUID: ref.SeriesInstanceUid,
		SOPInstanceUID: ref.SopInstanceUid, SOPClassUID: ref.SopClassUid, Modality: ref.Modality,
		SeriesNumber: ref.SeriesNumber, InstanceNumber: ref.InstanceNumber, Frames: ref.Frames,
		TransferSyntax: ref.TransferSyntax}
}

// fileContent streams a file's stored bytes (the DICOM original, or the
// cleaned photo) with single-range support: http.ServeContent needs a
// ReadSeeker, and the object store reads ranges itself.
func (a *API) fileContent(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	f, err := a.intake.ContentFile(ctx, p, id)
	if err != nil {
		a.fail(c, err)
		return
	}
	etag := `"` + f.StoredSha256 + `"`
	h := c.Writer.Header()
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "private, no-store")
	if inm := c.GetHeader("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		c.Status(http.StatusNotModified)
		return
	}
	size := f.StoredSize
	start, length, partial, ok := parseRange(c.GetHeader("Range"), size)
	if ir := c.GetHeader("If-Range"); ir != "" && ir != etag {
		start, length, partial, ok = 0, size, false, true
	}
	if !ok {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		edge.WriteProblem(c, edge.NewProblem(c, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable",
			fmt.Sprintf("the range is outside the file's %d bytes", size)))
		return
	}
	rc, err := a.intake.OpenContent(ctx, p, f, start, length)
	if err != nil {
		a.fail(c, err)
		return
	}
	defer rc.Close()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Filename}))
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("Last-Modified", f.CreatedAt.UTC().Format(http.TimeFormat))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
	}
	c.Status(status)
	if n, err := io.Copy(c.Writer, rc); err != nil {
		a.logger.WarnContext(ctx, "file download cut short", "file_id", f.ID.String(), "sent", n, "error", err.Error())
	}
}

// parseRange reads a Range header against a body of size bytes. It returns
// the slice to send and whether it is partial; ok is false when the range
// cannot be satisfied (416). Headers it does not handle (another unit,
// several ranges, bad syntax) are ignored, as RFC 9110 allows: the whole
// body is sent.
func parseRange(header string, size int64) (start, length int64, partial, ok bool) {
	whole := func() (int64, int64, bool, bool) { return 0, size, false, true }
	spec, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return whole()
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return whole()
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return whole()
		}
		if n == 0 {
			return 0, 0, false, false
		}
		n = min(n, size)
		return size - n, n, n < size, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return whole()
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return whole()
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, false
	}
	return a, b - a + 1, a > 0 || b < size-1, true
}

func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag {
			return true
		}
	}
	return false
}

// fileDerived serves a file's preview or thumbnail.
func (a *API) fileDerived(which intake.Derived) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := pathUUID(c, "id")
		if err != nil {
			a.fail(c, err)
			return
		}
		ctx := c.Request.Context()
		f, rc, info, err := a.intake.OpenDerived(ctx, principal(c), id, which)
		if err != nil {
			a.fail(c, err)
			return
		}
		defer rc.Close()
		h := c.Writer.Header()
		ct := info.ContentType
		if ct == "" {
			ct = "image/jpeg"
		}
		h.Set("Content-Type", ct)
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		h.Set("Cache-Control", "private, no-store")
		c.Status(http.StatusOK)
		if n, err := io.Copy(c.Writer, rc); err != nil {
			a.logger.WarnContext(ctx, "preview cut short", "file_id", f.ID.String(), "sent", n, "error", err.Error())
		}
	}
}
