package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/logctx"
)

// IdempotencyKeyHeader makes a POST safe to retry: the first answer is kept
// and replayed.
const IdempotencyKeyHeader = "Idempotency-Key"

// rawUploadTypes are the content types of a raw (non-multipart) upload
// body. What the file is, is decided from its bytes.
var rawUploadTypes = map[string]bool{"application/dicom": true, "image/jpeg": true, "image/png": true, "image/webp": true}

type fileResultJSON struct {
	Filename string    `json:"filename"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	File     *fileJSON `json:"file,omitempty"`
}

type uploadAnswer struct {
	Files    []fileResultJSON `json:"files"`
	Accepted int              `json:"accepted"`
	Rejected int              `json:"rejected"`
}

func toFileResult(r intake.Result) fileResultJSON {
	out := fileResultJSON{Filename: r.Filename, Status: "rejected", Reason: r.Reason}
	if r.Accepted {
		fj := toFileJSON(*r.File)
		dup := r.Duplicate
		fj.Duplicate = &dup
		out.Status, out.File = "accepted", &fj
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
	key := c.GetHeader(IdempotencyKeyHeader)
	if key != "" {
		done, err := a.claimKey(c, p, key, route, route, func() (string, error) {
			if _, err := a.cases.Visible(ctx, a.pool, p, id); err != nil {
				return "", err
			}
			return eachUploadFile(c, mt, route, func(in intake.Input) (string, error) {
				h := sha256.New()
				_, err := io.Copy(h, in.Body)
				return hex.EncodeToString(h.Sum(nil)), err
			})
		})
		if done || err != nil {
			return
		}
		defer func() {
			// A panic must not leave the key in flight until it goes stale.
			if r := recover(); r != nil {
				a.releaseKey(c, p, key)
				panic(r)
			}
		}()
	}

	cs, err := a.intake.CheckUploadable(ctx, p, id)
	if err != nil {
		a.releaseKey(c, p, key)
		a.fail(c, err)
		return
	}
	var results []intake.Result
	reqHash, iterErr := eachUploadFile(c, mt, route, func(in intake.Input) (string, error) {
		r := a.intake.Add(ctx, p, cs, in)
		results = append(results, r)
		return r.SHA256, r.BodyErr
	})
	var bodyErr error
	if e, ok := apperr.As(iterErr); ok {
		// A malformed request (a bad form field, broken multipart framing):
		// files before it were handled and are listed.
		if len(results) == 0 {
			a.releaseKey(c, p, key)
			a.fail(c, e)
			return
		}
		status := HTTPStatus(e.Code)
		a.answer(c, p, key, reqHash, status, Problem{Type: "urn:teleread:problem:" + string(e.Code),
			Title: http.StatusText(status), Status: status, Detail: e.Message, Instance: c.Request.URL.Path, Code: e.Code,
			RequestID: logctx.RequestID(ctx), Fields: e.Fields, Extra: a.fileResults(results)}, false)
		return
	} else if iterErr != nil {
		bodyErr = iterErr
	}
	status, body, storable := a.uploadAnswer(c, results, bodyErr)
	a.answer(c, p, key, reqHash, status, body, storable)
}

func (a *API) fileResults(results []intake.Result) []fileResultJSON {
	out := make([]fileResultJSON, 0, len(results))
	for _, r := range results {
		out = append(out, toFileResult(r))
	}
	return out
}

// uploadAnswer turns per-file results into the answer: 201 when a file was
// accepted; otherwise a problem (422, or 413/500 when the request itself
// failed) with the per-file list in details. storable says whether a retry
// should get this answer again.
func (a *API) uploadAnswer(c *gin.Context, results []intake.Result, bodyErr error) (int, any, bool) {
	ans := uploadAnswer{Files: make([]fileResultJSON, 0, len(results))}
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
		return 0, apperr.New(apperr.Invalid, "the request holds no file: send each file as a multipart/form-data part with a filename"), false
	}
	if ans.Accepted > 0 {
		return http.StatusCreated, ans, storable
	}
	code, detail := apperr.Unprocessable, "no file was accepted: see details for the reason of each"
	var maxErr *http.MaxBytesError
	switch {
	case internal:
		code, detail = apperr.Internal, "no file was stored because of an internal error; send them again (quote the request id when reporting it)"
	case errors.As(bodyErr, &maxErr):
		code, detail = apperr.TooLarge, fmt.Sprintf("the request body is larger than the limit of %d bytes", maxErr.Limit)
	}
	status := HTTPStatus(code)
	return status, Problem{Type: "urn:teleread:problem:" + string(code), Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: c.Request.URL.Path, Code: code, RequestID: logctx.RequestID(c.Request.Context()),
		Extra: ans.Files}, storable
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
		err = add(intake.Input{Filename: c.Query("filename"), Body: c.Request.Body, BodySite: c.Query("body_site"), Dermoscopic: derm})
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

// claimKey applies an Idempotency-Key before a request is processed. It
// claims the key (provisional request hash: provisional) and returns done
// false, or answers the request itself and returns done true: a replay of
// the stored answer when hashOf (which may read the body) gives the
// request hash it was stored with, 422 for a key used with another
// request, 409 while the first request is still in flight.
func (a *API) claimKey(c *gin.Context, p *identity.Principal, key, route, provisional string, hashOf func() (string, error)) (done bool, err error) {
	if err := intake.CheckKey(key); err != nil {
		a.fail(c, err)
		return true, err
	}
	rec, err := a.intake.ClaimKey(c.Request.Context(), p, key, route, provisional)
	if err != nil {
		a.fail(c, err)
		return true, err
	}
	if rec == nil {
		return false, nil
	}
	reused := apperr.New(apperr.Unprocessable, "this Idempotency-Key was already used for a different request; use a new key for a new request")
	switch {
	case rec.Route != route:
		a.fail(c, reused)
		return true, reused
	case !rec.Done:
		e := &apperr.Error{Code: apperr.Conflict, RetryAfterSeconds: 5,
			Message: "a request with this Idempotency-Key is still being processed; retry when it has finished"}
		a.fail(c, e)
		return true, e
	}
	hash, err := hashOf()
	if err != nil {
		a.fail(c, err)
		return true, err
	}
	if hash != rec.RequestHash {
		a.fail(c, reused)
		return true, reused
	}
	ct := "application/json; charset=utf-8"
	if rec.Status >= 400 {
		ct = problemContentType
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(rec.Status, ct, rec.Response)
	return true, nil
}

// releaseKey frees a claimed key after an error answer.
func (a *API) releaseKey(c *gin.Context, p *identity.Principal, key string) {
	if key != "" {
		a.intake.ReleaseKey(c.Request.Context(), p, key)
	}
}

// answer writes an answer (body is a Problem, an *apperr.Error or a JSON
// value) and, for a request that holds an Idempotency-Key, stores it for
// replay when storable, or frees the key.
func (a *API) answer(c *gin.Context, p *identity.Principal, key, reqHash string, status int, body any, storable bool) {
	if e, ok := body.(*apperr.Error); ok {
		a.releaseKey(c, p, key)
		a.fail(c, e)
		return
	}
	js, err := json.Marshal(body)
	if err != nil {
		a.releaseKey(c, p, key)
		a.fail(c, fmt.Errorf("encode answer: %w", err))
		return
	}
	if key != "" {
		if storable {
			if err := a.intake.FinishKey(c.Request.Context(), p, key, reqHash, status, js); err != nil {
				a.logger.ErrorContext(c.Request.Context(), "store idempotent answer", "error", err.Error())
			}
		} else {
			a.releaseKey(c, p, key)
		}
	}
	ct := "application/json; charset=utf-8"
	if _, ok := body.(Problem); ok {
		ct = problemContentType
		c.Header("Cache-Control", "no-store")
		if status >= 500 {
			a.logger.ErrorContext(c.Request.Context(), "upload failed", "route", c.FullPath(), "status", status)
		}
	}
	c.Data(status, ct, js)
}
