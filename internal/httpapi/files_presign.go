package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/intake"
)

// toUpload is a presigned upload as the API answers it, with the URLs to
// send its bytes to while they have not arrived.
func toUpload(t intake.Ticket) api.Upload {
	u := t.Upload
	base := "/api/v1/cases/" + u.CaseID.String() + "/uploads/" + u.ID.String()
	out := api.Upload{ID: u.ID, CaseID: u.CaseID, Filename: u.Filename, ContentType: u.ContentType, Size: u.Size,
		SHA256: u.Sha256, Status: u.Status, Error: u.Error, FileID: u.FileID, ExpiresAt: u.ExpiresAt, CreatedAt: u.CreatedAt,
		URL: t.URL, Received: t.Received, StatusURL: base, CompleteURL: base + "/complete"}
	if t.URL != "" {
		out.Method = http.MethodPut
	}
	if !t.URLsExpireAt.IsZero() {
		at := t.URLsExpireAt.UTC()
		out.URLsExpireAt = &at
	}
	if u.MultipartID != nil {
		m := &api.UploadMultipart{PartSize: *u.PartSize, PartCount: t.PartCount, Arrived: []api.UploadPart{}, Missing: []api.UploadPart{}}
		for _, p := range t.Arrived {
			m.Arrived = append(m.Arrived, api.UploadPart{PartNumber: p.Number, Size: p.Size, ETag: p.ETag})
		}
		for _, p := range t.Missing {
			m.Missing = append(m.Missing, api.UploadPart{PartNumber: p.Number, Size: p.Size, URL: p.URL})
		}
		out.Multipart = m
	}
	return out
}

// createUpload opens a presigned upload. With an Idempotency-Key, the
// request hash is the SHA-256 of the route and the JSON body as decoded.
func (a *API) createUpload(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.CreateUploadRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	route := "POST /api/v1/cases/" + id.String() + "/uploads"
	a.idempotent(c, intake.Keyed{Route: route, Hash: requestHash(route, req)}, func() (reply, error) {
		t, err := a.intake.CreateUpload(ctx, p, id, intake.NewUpload{Filename: req.Filename, Size: req.Size,
			SHA256: req.SHA256, ContentType: req.ContentType, PartSize: req.PartSize})
		if err != nil {
			return reply{}, err
		}
		out := toUpload(t)
		c.Header("Location", out.StatusURL)
		return reply{status: http.StatusCreated, body: out, keep: true}, nil
	})
}

func (a *API) uploadStatus(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	uid, err := pathUUID(c, "upload_id")
	if err != nil {
		a.fail(c, err)
		return
	}
	t, err := a.intake.UploadStatus(c.Request.Context(), principal(c), id, uid)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, toUpload(t))
}

// completeUpload joins a presigned upload to its case and answers like a
// direct upload of that one file. Completing twice answers the same file
// again; with an Idempotency-Key the request hash is the route.
func (a *API) completeUpload(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	uid, err := pathUUID(c, "upload_id")
	if err != nil {
		a.fail(c, err)
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	route := "POST /api/v1/cases/" + id.String() + "/uploads/" + uid.String() + "/complete"
	a.idempotent(c, intake.Keyed{Route: route, Hash: route}, func() (reply, error) {
		res, err := a.intake.CompleteUpload(ctx, p, id, uid)
		if err != nil {
			return reply{}, err
		}
		if e := res.Unavailable(); e != nil {
			return reply{}, e
		}
		if res.Err != nil || res.BodyErr != nil {
			e := &apperr.Error{Code: apperr.Internal, Message: "internal error", Err: res.Err}
			if res.Err == nil {
				e.Err = res.BodyErr
			}
			return reply{}, e
		}
		return a.uploadAnswer(c, []intake.Result{res}, nil), nil
	})
}
