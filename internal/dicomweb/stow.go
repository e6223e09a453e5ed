package dicomweb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
)

// stowRoutes are STOW-RS (PS3.18 10.5): into one case of the caller's
// site, or site-wide into its incoming studies (docs/dicomweb.md).
var stowRoutes = routeSet{routes: []route{
	{method: http.MethodPost, path: "/studies", rule: writers, handle: (*Handler).stow},
	{method: http.MethodPost, path: "/studies/:study", rule: writers, handle: (*Handler).stow},
}}

// Failure reasons of the Store Instances Response (PS3.4 Annex B, as
// PS3.18 10.5.3 uses them).
const (
	// failProcessing: the instance may be fine; storing it failed (or the
	// request broke off inside it). Send it again.
	failProcessing = 0x0110
	// failResources: the instance is over the size limit.
	failResources = 0xA700
	// failMismatch: the instance does not belong where it was sent (another
	// study than the URL's, a patient other than the case's, a UID that is
	// not a DICOM UID).
	failMismatch = 0xA900
	// failUnderstand: the part is not a DICOM file that can be read.
	failUnderstand = 0xC000
)

// stowError refuses an instance with a failure reason.
type stowError struct {
	code   int
	reason string
}

func (e *stowError) Error() string { return e.reason }

// stowResult is what became of one part.
type stowResult struct {
	part           int
	classUID, uid  string
	studyUID       string
	seriesUID      string
	failure        int // 0: stored
	reason         string
	alreadyPresent bool
	// unavailable is set when object storage could not be used: the
	// instance may be fine and can be sent again.
	unavailable *apperr.Error
}

// stow stores the instances of a multipart/related request, part by part,
// each through intake's per-file path, and answers the Store Instances
// Response: 200 when every instance was stored, 202 when some failed, 409
// when none was, 415 for another media type, 400 for a malformed request.
func (h *Handler) stow(c *gin.Context) {
	ctx, p := c.Request.Context(), identity.FromContext(c.Request.Context())
	study := c.Param("study")
	if study != "" && !ValidUID(study) {
		h.fail(c, invalid("the study in the URL is not a DICOM UID (digits and dots, at most 64 characters)"))
		return
	}
	mt, params, err := parseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "multipart/related" {
		h.fail(c, apperr.New(apperr.Unsupported, `send the instances as multipart/related; type="application/dicom"`))
		return
	}
	if t := params["type"]; t != "" && !strings.EqualFold(t, "application/dicom") {
		h.fail(c, apperr.New(apperr.Unsupported,
			`only parts of type application/dicom are stored (not %q): send multipart/related; type="application/dicom"`, t))
		return
	}
	if params["boundary"] == "" {
		h.fail(c, invalid("the multipart/related content type has no boundary"))
		return
	}
	// Into a case, or (site-wide) among the site's incoming studies.
	var cs *cases.Case
	if id := c.Param("case"); id != "" {
		caseID, err := uuid.Parse(id)
		if err != nil {
			h.fail(c, apperr.New(apperr.NotFound, "case not found"))
			return
		}
		got, err := h.intake.CheckUploadable(ctx, p, caseID)
		if err != nil {
			h.fail(c, err)
			return
		}
		cs = &got
	}

	var results []stowResult
	// Into a case, the parts' instances are committed together (a
	// transaction per batch, not per instance); slots[i] is the batch
	// Result of results[i], or -1.
	var batch *intake.Batch
	var slots []int
	if cs != nil {
		batch = h.intake.NewBatch(ctx, p, *cs)
	}
	mr := multipart.NewReader(c.Request.Body, params["boundary"])
	for n := 1; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) && n > 1 {
			break
		}
		if err != nil {
			var maxErr *http.MaxBytesError
			slow, isSlow := edge.SlowBody(err)
			switch {
			case n == 1 && errors.As(err, &maxErr):
				h.fail(c, err)
				return
			case n == 1 && isSlow:
				h.fail(c, slow)
				return
			case n == 1:
				h.fail(c, invalid("malformed multipart/related body: no part was found (check the boundary)"))
				return
			}
			reason := "the request ended inside this part (truncated or malformed multipart framing)"
			if isSlow {
				reason = slow.Message
			}
			if errors.As(err, &maxErr) {
				reason = fmt.Sprintf("the request body is larger than the limit of %d bytes", maxErr.Limit)
			}
			results = append(results, stowResult{part: n, failure: failProcessing, reason: reason})
			slots = append(slots, -1)
			break
		}
		res, slot, broken := h.storePart(c, batch, study, n, part)
		part.Close()
		results, slots = append(results, res), append(slots, slot)
		if broken {
			break
		}
	}
	if batch != nil {
		done := batch.Results()
		for i, slot := range slots {
			if slot >= 0 {
				results[i] = stowResultOf(results[i].part, done[slot])
			}
		}
	}
	h.storeResponse(c, results)
}

// storePart stores one part: into the case's batch (its Result then is
// batch's slot), or among the site's incoming studies when batch is nil.
// broken reports that the request body can no longer be read.
func (h *Handler) storePart(c *gin.Context, batch *intake.Batch, study string, n int, part *multipart.Part) (
	res stowResult, slot int, broken bool) {
	ctx, p := c.Request.Context(), identity.FromContext(c.Request.Context())
	if ct := part.Header.Get("Content-Type"); ct != "" {
		if pmt, _, err := mime.ParseMediaType(ct); err != nil || !strings.EqualFold(pmt, "application/dicom") {
			_, err := io.Copy(io.Discard, part)
			return stowResult{part: n, failure: failUnderstand,
				reason: fmt.Sprintf("the part is %q, not application/dicom", ct)}, -1, err != nil
		}
	}
	check := func(info intake.DICOMInfo) error {
		for _, u := range []string{info.StudyInstanceUID, info.SeriesInstanceUID, info.SOPInstanceUID} {
			if !ValidUID(u) {
				return &stowError{code: failMismatch, reason: fmt.Sprintf("%q is not a valid DICOM UID", u)}
			}
		}
		if study != "" && info.StudyInstanceUID != study {
			return &stowError{code: failMismatch, reason: fmt.Sprintf(
				"the instance belongs to study %s, not to the study %s of the request", info.StudyInstanceUID, study)}
		}
		return nil
	}
	in := intake.Input{Filename: fmt.Sprintf("stow-%d.dcm", n), Body: part, OnlyDICOM: true, StrictPatient: true,
		CheckDICOM: check}
	if batch != nil {
		slot = batch.Len()
		_, bodyErr := batch.Add(in)
		return stowResult{part: n}, slot, bodyErr != nil
	}
	r := h.intake.Receive(ctx, p, in)
	return stowResultOf(n, r), -1, r.BodyErr != nil
}

// stowResultOf is the answer for part n of what intake made of it.
func stowResultOf(n int, r intake.Result) stowResult {
	out := stowResult{part: n, reason: r.Reason, alreadyPresent: r.Duplicate, unavailable: r.Unavailable()}
	if r.DICOM != nil {
		out.classUID, out.uid = r.DICOM.SOPClassUID, r.DICOM.SOPInstanceUID
		out.studyUID, out.seriesUID = r.DICOM.StudyInstanceUID, r.DICOM.SeriesInstanceUID
	}
	var se *stowError
	switch {
	case r.Accepted:
		out.reason = ""
	case errors.As(r.CheckErr, &se):
		out.failure = se.code
	case r.NotDICOM:
		out.failure = failUnderstand
	case r.TooLarge:
		out.failure = failResources
	case strings.Contains(r.Reason, "patient"):
		out.failure = failMismatch
	default:
		out.failure = failProcessing
	}
	return out
}

// storeResponse writes the Store Instances Response: JSON, or the XML
// model when Accept prefers it. Each failure's reason is also sent as a
// Warning header, since the response data set has no place for text.
// Instances stored into a case get their RetrieveURL; incoming studies
// are not retrievable until they are a case's.
func (h *Handler) storeResponse(c *gin.Context, results []stowResult) {
	// Nothing stored because object storage is down or full: 503 with
	// Retry-After (PS3.18 lists 503 among the STOW-RS answers), so that
	// the sender queues the study and sends it again.
	var down *apperr.Error
	for _, r := range results {
		if r.failure == 0 {
			down = nil
			break
		}
		if down == nil && r.unavailable != nil {
			down = r.unavailable
		}
	}
	if down != nil {
		h.fail(c, down)
		return
	}
	retrievable := c.Param("case") != ""
	ds := Dataset{}
	var refs, failed []Dataset
	studies := map[string]bool{}
	for _, r := range results {
		item := Dataset{}
		if r.classUID != "" {
			item[tagReferencedSOPClassUID] = str("UI", r.classUID)
		}
		if r.uid != "" {
			item[tagReferencedSOPInstanceUID] = str("UI", r.uid)
		}
		if r.failure == 0 {
			if retrievable {
				item[tagRetrieveURL] = str("UR", h.retrieveURL(c, r.studyUID)+"/series/"+r.seriesUID+"/instances/"+r.uid)
			}
			refs = append(refs, item)
			studies[r.studyUID] = true
			continue
		}
		item[tagFailureReason] = num("US", int64(r.failure))
		failed = append(failed, item)
		who := fmt.Sprintf("part %d", r.part)
		if r.uid != "" {
			who += " (" + r.uid + ")"
		}
		c.Writer.Header().Add("Warning", warning(who+": "+r.reason))
	}
	if len(refs) > 0 {
		ds[tagReferencedSOPSequence] = seq(refs...)
	}
	if len(failed) > 0 {
		ds[tagFailedSOPSequence] = seq(failed...)
	}
	if len(studies) == 1 && retrievable {
		for uid := range studies {
			ds[tagRetrieveURL] = str("UR", h.retrieveURL(c, uid))
		}
	}
	status := http.StatusOK
	switch {
	case len(refs) == 0:
		status = http.StatusConflict
	case len(failed) > 0:
		status = http.StatusAccepted
	}
	var buf bytes.Buffer
	ct := mediaDICOMJSON
	var err error
	if prefersXML(c.GetHeader("Accept")) {
		ct = mediaDICOMXML
		err = writeXML(&buf, ds)
	} else {
		err = writeJSONObject(&buf, ds)
	}
	if err != nil {
		h.fail(c, fmt.Errorf("encode store response: %w", err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, ct+"; charset=utf-8", buf.Bytes())
}

// retrieveURL is the WADO-RS URL of a study, under the root the request
// came in on (site-wide, or the case's).
func (h *Handler) retrieveURL(c *gin.Context, study string) string {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	root := Prefix
	if id := c.Param("case"); id != "" {
		root += "/cases/" + id
	}
	return scheme + "://" + c.Request.Host + root + "/studies/" + study
}

// warning is an HTTP Warning header value (RFC 7234 5.5) with text as
// its quoted text: printable ASCII only, at most 300 characters.
func warning(text string) string {
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == '"' || r == '\\':
			b.WriteRune('\'')
		case r < 0x20 || r > 0x7e:
			b.WriteRune('?')
		default:
			b.WriteRune(r)
		}
		if b.Len() >= 300 {
			break
		}
	}
	return `299 teleread "` + b.String() + `"`
}

// prefersXML reports whether an Accept header asks for the XML model
// rather than JSON.
func prefersXML(accept string) bool {
	return strings.Contains(accept, mediaDICOMXML) && !strings.Contains(accept, mediaDICOMJSON)
}

// ValidUID reports whether s is a DICOM UID (PS3.5 9.1): 1 to 64
// characters, components of digits separated by single dots. (Leading
// zeros, which PS3.5 forbids, are let through: older devices write them,
// and they do no harm here.)
func ValidUID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, comp := range strings.Split(s, ".") {
		if comp == "" {
			return false
		}
		for i := 0; i < len(comp); i++ {
			if comp[i] < '0' || comp[i] > '9' {
				return false
			}
		}
	}
	return true
}
