package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/intake"
)

// rawUploadTypes are the content types of a raw (non-multipart) upload
// body. What the file is, is decided from its bytes.
var rawUploadTypes = map[string]bool{"application/dicom": true, "image/jpeg": true, "image/png": true, "image/webp": true}

// toFileResult is the outcome of one uploaded file as the API answers it.
func toFileResult(r intake.Result) api.FileResult {
	out := api.FileResult{Filename: r.Filename, Status: api.FileRejected, Reason: r.Reason}
	if r.Accepted {
		f := toFile(*r.File)
		dup := r.Duplicate
		f.Duplicate = &dup
		out.Status, out.File = api.FileAccepted, &f
	}
	return out
}

// uploadFiles streams the files of a multipart/form-data request (or one
// raw DICOM/JPEG/PNG body) into a case, one at a time, never holding a file
// in memory. Form fields body_site and dermoscopic apply to the file parts
// that follow them. A bad file is refused with its reason and does not stop
// the others.
//
// With an Idempotency-Key, the request hash is the SHA-256 of the route
// and, for each file in order, its sanitised name, body site, dermoscopic
// flag and the SHA-256 of its bytes, computed while streaming. A retry of
// an answered request therefore still sends (and the server still reads)
// the bytes, but nothing is stored again: the first answer is replayed.
func (a *API) uploadFiles(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	ctx, p := c.Request.Context(), principal(c)
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (mt != "multipart/form-data" && !rawUploadTypes[mt]) {
		a.fail(c, apperr.New(apperr.Unsupported,
			"send the files as multipart/form-data, or one file as application/dicom, image/jpeg, image/png or image/webp"))
		return
	}
	if mt == "multipart/form-data" && params["boundary"] == "" {
		a.fail(c, apperr.New(apperr.Invalid, "the multipart/form-data content type has no boundary"))
		return
	}
	route := "POST /api/v1/cases/" + id.String() + "/files"
	// The request hash is known only once the body has been read: the
	// claim holds the route, the answer the final hash, and a retry of an
	// answered request is hashed (read) before its answer is replayed.
	k := intake.Keyed{Route: route, Hash: route, HashOf: func() (string, error) {
		if _, err := a.cases.Visible(ctx, a.pool, p, id); err != nil {
			return "", err
		}
		return eachUploadFile(c, mt, route, func(in intake.Input) (string, error) {
			h := sha256.New()
			_, err := io.Copy(h, in.Body)
			return hex.EncodeToString(h.Sum(nil)), err
		})
	}}
	a.idempotent(c, k, func() (reply, error) {
		cs, err := a.intake.CheckUploadable(ctx, p, id)
		if err != nil {
			return reply{}, err
		}
		batch := a.intake.NewBatch(ctx, p, cs)
		reqHash, iterErr := eachUploadFile(c, mt, route, batch.Add)
		results := batch.Results()
		var bodyErr error
		if e, ok := apperr.As(iterErr); ok {
			// A malformed request (a bad form field, broken multipart
			// framing): files before it were handled and are listed.
			if len(results) == 0 {
				return reply{}, e
			}
			pr := edge.NewProblem(c, edge.HTTPStatus(e.Code), e.Code, e.Message)
			pr.Fields, pr.Extra = e.Fields, a.fileResults(results)
			return reply{status: pr.Status, body: pr, hash: reqHash}, nil
		} else if iterErr != nil {
			bodyErr = iterErr
		}
		if e := unavailable(results); e != nil {
			return reply{}, e
		}
		r := a.uploadAnswer(c, results, bodyErr)
		r.hash = reqHash
		return r, nil
	})
}

// unavailable is the Unavailable error (object storage down or full) of
// an upload none of whose files was accepted: the request is answered 503
// with Retry-After, and a retry with the same Idempotency-Key runs again.
func unavailable(results []intake.Result) *apperr.Error {
	var first *apperr.Error
	for _, r := range results {
		if r.Accepted {
			return nil
		}
		if e := r.Unavailable(); e != nil && first == nil {
			first = e
		}
	}
	return first
}

func (a *API) fileResults(results []intake.Result) []api.FileResult {
	out := make([]api.FileResult, 0, len(results))
	for _, r := range results {
		out = append(out, toFileResult(r))
	}
	return out
}

// uploadAnswer turns per-file results into the answer: 201 when a file was
// accepted; otherwise a problem (422, or 413/500 when the request itself
// failed) with the per-file list in details, kept for a retry unless the
// request failed on our side or in its body.
func (a *API) uploadAnswer(c *gin.Context, results []intake.Result, bodyErr error) reply {
	ans := api.UploadAnswer{Files: make([]api.FileResult, 0, len(results))}
	internal := false
	for _, r := range results {
		fr := toFileResult(r)
		var maxErr *http.MaxBytesError
		if r.BodyErr != nil && errors.As(r.BodyErr, &maxErr) {
			fr.Reason = fmt.Sprintf("the request body is larger than the limit of %d bytes", maxErr.Limit)
		}
		ans.Files = append(ans.Files, fr)
		if r.Accepted {
			ans.Accepted++
		} else {
			ans.Rejected++
		}
		internal = internal || r.Err != nil
	}
	storable := !internal && bodyErr == nil
	if len(results) == 0 {
		pr := edge.NewProblem(c, http.StatusBadRequest, apperr.Invalid, "the request holds no file: send each file as a multipart/form-data part with a filename")
		return reply{status: pr.Status, body: pr}
	}
	if ans.Accepted > 0 {
		return reply{status: http.StatusCreated, body: ans, keep: storable}
	}
	code, detail := apperr.Unprocessable, "no file was accepted: see details for the reason of each"
	var maxErr *http.MaxBytesError
	switch {
	case internal:
		code, detail = apperr.Internal, "no file was stored because of an internal error; send them again (quote the request id when reporting it)"
	case errors.As(bodyErr, &maxErr):
		code, detail = apperr.TooLarge, fmt.Sprintf("the request body is larger than the limit of %d bytes", maxErr.Limit)
	}
	pr := edge.NewProblem(c, edge.HTTPStatus(code), code, detail)
	pr.Extra = ans.Files
	return reply{status: pr.Status, body: pr, keep: storable}
}

// eachUploadFile calls fn for every file of an upload request, in order,
// and returns the request hash (see uploadFiles). fn returns the SHA-256 of
// the file's bytes, and an error that ends the request (the body can no
// longer be read).
func eachUploadFile(c *gin.Context, mt, route string, fn func(intake.Input) (string, error)) (string, error) {
	rh := sha256.New()
	io.WriteString(rh, route+"\n")
	add := func(in intake.Input) error {
		sum, err := fn(in)
		derm := ""
		if in.Dermoscopic != nil {
			derm = strconv.FormatBool(*in.Dermoscopic)
		}
		fmt.Fprintf(rh, "%s\x00%s\x00%s\x00%s\n", intake.SanitizeFilename(in.Filename), in.BodySite, derm, sum)
		return err
	}
	if mt != "multipart/form-data" {
		derm, err := parseDermoscopic(c.Query("dermoscopic"))
		if err != nil {
			return "", err
		}
		err = add(intake.Input{Filename: c.Query("filename"), Body: c.Request.Body, Size: c.Request.ContentLength,
			BodySite: c.Query("body_site"), Dermoscopic: derm})
		return hashHex(rh), err
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return "", apperr.New(apperr.Invalid, "malformed multipart/form-data body")
	}
	var bodySite string
	var derm *bool
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return hashHex(rh), err
			}
			if slow, ok := edge.SlowBody(err); ok {
				return hashHex(rh), slow
			}
			return hashHex(rh), apperr.Wrap(err, apperr.Invalid, "malformed multipart/form-data body")
		}
		if part.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(part, 1025))
			if err != nil {
				return hashHex(rh), err
			}
			switch part.FormName() {
			case "body_site":
				if len(v) > 1024 {
					return hashHex(rh), apperr.InvalidFields(map[string]string{"body_site": "must be at most 200 characters"})
				}
				bodySite = strings.TrimSpace(string(v))
			case "dermoscopic":
				if derm, err = parseDermoscopic(strings.TrimSpace(string(v))); err != nil {
					return hashHex(rh), err
				}
			}
			continue
		}
		err = add(intake.Input{Filename: part.FileName(), Body: part, BodySite: bodySite, Dermoscopic: derm})
		part.Close()
		if err != nil {
			return hashHex(rh), err
		}
	}
	return hashHex(rh), nil
}

func hashHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func parseDermoscopic(v string) (*bool, error) {
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, apperr.InvalidFields(map[string]string{"dermoscopic": "must be true or false"})
	}
	return &b, nil
}
