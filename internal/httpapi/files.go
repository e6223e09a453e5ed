package httpapi

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/intake"
)

// fileRoutes registers the file routes: uploads (direct and presigned) in
// files_upload.go and files_presign.go, reads here.
func (a *API) fileRoutes(g *gin.RouterGroup) {
	g.POST("/cases/:id/files", a.needIntake, a.uploadFiles)
	g.GET("/cases/:id/files", a.needIntake, a.listFiles)
	g.GET("/cases/:id/studies", a.needIntake, a.listStudies)
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

type warningJSON struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Value   *float64 `json:"value,omitempty"`
	Fields  []string `json:"fields,omitempty"`
}

type previewJSON struct {
	Status       string `json:"status"`
	Note         string `json:"note,omitempty"`
	PreviewURL   string `json:"preview_url,omitempty"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
}

type dicomRefJSON struct {
	StudyInstanceUID  string `json:"study_instance_uid"`
	SeriesInstanceUID string `json:"series_instance_uid"`
	SOPInstanceUID    string `json:"sop_instance_uid"`
	SOPClassUID       string `json:"sop_class_uid"`
	Modality          string `json:"modality"`
	SeriesNumber      *int32 `json:"series_number,omitempty"`
	InstanceNumber    *int32 `json:"instance_number,omitempty"`
	Frames            int32  `json:"frames"`
	TransferSyntax    string `json:"transfer_syntax"`
}

type fileJSON struct {
	ID          uuid.UUID `json:"id"`
	CaseID      uuid.UUID `json:"case_id"`
	Kind        string    `json:"kind"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	// SHA256 and Size are of the bytes as uploaded; StoredSHA256 and
	// StoredSize of what is kept (the cleaned copy of a photo).
	SHA256          string         `json:"sha256"`
	Size            int64          `json:"size"`
	StoredSHA256    string         `json:"stored_sha256"`
	StoredSize      int64          `json:"stored_size"`
	Duplicate       *bool          `json:"duplicate,omitempty"`
	Width           *int32         `json:"width,omitempty"`
	Height          *int32         `json:"height,omitempty"`
	BodySite        *string        `json:"body_site,omitempty"`
	Dermoscopic     *bool          `json:"dermoscopic,omitempty"`
	Warnings        []warningJSON  `json:"warnings"`
	PatientMismatch bool           `json:"patient_mismatch"`
	Metadata        map[string]any `json:"metadata"`
	Preview         previewJSON    `json:"preview"`
	ContentURL      string         `json:"content_url"`
	DICOM           *dicomRefJSON  `json:"dicom,omitempty"`
	UploadedBy      uuid.UUID      `json:"uploaded_by"`
	CreatedAt       time.Time      `json:"created_at"`
}

func toFileJSON(f intake.File) fileJSON {
	base := "/api/v1/files/" + f.ID.String()
	out := fileJSON{ID: f.ID, CaseID: f.CaseID, Kind: f.Kind, Filename: f.Filename, ContentType: f.ContentType,
		SHA256: f.Sha256, Size: f.Size, StoredSHA256: f.StoredSha256, StoredSize: f.StoredSize, Width: f.Width,
		Height: f.Height, BodySite: f.BodySite, Dermoscopic: f.Dermoscopic, PatientMismatch: f.PatientMismatch,
		Metadata: intake.Metadata(f), Preview: previewJSON{Status: f.PreviewStatus, Note: f.PreviewNote},
		ContentURL: base + "/content", UploadedBy: f.UploadedBy, CreatedAt: f.CreatedAt, Warnings: []warningJSON{}}
	for _, w := range intake.Warnings(f) {
		out.Warnings = append(out.Warnings, warningJSON(w))
	}
	if f.PreviewStatus == intake.PreviewReady {
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
	out := listJSON[fileJSON]{Items: make([]fileJSON, 0, len(files))}
	for _, f := range files {
		out.Items = append(out.Items, toFileJSON(f))
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

type seriesJSON struct {
	SeriesInstanceUID string `json:"series_instance_uid"`
	Modality          string `json:"modality"`
	BodyPart          string `json:"body_part,omitempty"`
	Description       string `json:"description"`
	SeriesNumber      *int32 `json:"series_number,omitempty"`
	Instances         int32  `json:"instances"`
	Frames            int32  `json:"frames"`
}

type studyJSON struct {
	StudyInstanceUID string       `json:"study_instance_uid"`
	Description      string       `json:"description"`
	StudyDate        string       `json:"study_date,omitempty"`
	StudyTime        string       `json:"study_time,omitempty"`
	AccessionNumber  string       `json:"accession_number,omitempty"`
	PatientName      string       `json:"patient_name"`
	PatientID        string       `json:"patient_id"`
	PatientBirthDate string       `json:"patient_birth_date,omitempty"`
	PatientSex       string       `json:"patient_sex,omitempty"`
	Modalities       []string     `json:"modalities"`
	Series           []seriesJSON `json:"series"`
	Instances        int32        `json:"instances"`
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
	out := listJSON[studyJSON]{Items: make([]studyJSON, 0, len(studies))}
	for _, st := range studies {
		sj := studyJSON{StudyInstanceUID: st.StudyInstanceUid, Description: st.StudyDescription, StudyDate: st.StudyDate,
			StudyTime: st.StudyTime, AccessionNumber: st.AccessionNumber, PatientName: st.PatientName,
			PatientID: st.PatientID, PatientBirthDate: st.PatientBirthDate, PatientSex: st.PatientSex,
			Modalities: []string{}, Series: make([]seriesJSON, 0, len(st.Series))}
		for _, se := range st.Series {
			sj.Series = append(sj.Series, seriesJSON{SeriesInstanceUID: se.SeriesInstanceUid, Modality: se.Modality,
				BodyPart: se.BodyPart, Description: se.SeriesDescription, SeriesNumber: se.SeriesNumber,
				Instances: se.Instances, Frames: se.Frames})
			sj.Instances += se.Instances
			if se.Modality != "" && !slices.Contains(sj.Modalities, se.Modality) {
				sj.Modalities = append(sj.Modalities, se.Modality)
			}
		}
		out.Items = append(out.Items, sj)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
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
	out := toFileJSON(f)
	if ref != nil {
		out.DICOM = &dicomRefJSON{StudyInstanceUID: ref.StudyInstanceUid, SeriesInstanceUID: ref.SeriesInstanceUid,
			SOPInstanceUID: ref.SopInstanceUid, SOPClassUID: ref.SopClassUid, Modality: ref.Modality,
			SeriesNumber: ref.SeriesNumber, InstanceNumber: ref.InstanceNumber, Frames: ref.Frames,
			TransferSyntax: ref.TransferSyntax}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
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
