package dicomweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/dicomweb/dicomwebdb"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
)

// wadoMetaRoutes are WADO-RS metadata, bulk data, frames and rendered
// images (PS3.18 10.4).
var wadoMetaRoutes = routeSet{routes: []route{
	{method: http.MethodGet, path: "/studies/:study/metadata", rule: readers, handle: (*Handler).metadata},
	{method: http.MethodGet, path: "/studies/:study/series/:series/metadata", rule: readers, handle: (*Handler).metadata},
	{method: http.MethodGet, path: instancePath + "/metadata", rule: readers, handle: (*Handler).metadata},
	{method: http.MethodGet, path: instancePath + "/bulkdata/:tag", rule: readers, handle: (*Handler).bulkdata},
	{method: http.MethodGet, path: instancePath + "/frames/:frames", rule: readers, handle: (*Handler).frames},
	{method: http.MethodGet, path: instancePath + "/frames/:frames/rendered", rule: readers, handle: (*Handler).rendered},
	{method: http.MethodGet, path: instancePath + "/rendered", rule: readers, handle: (*Handler).rendered},
	{method: http.MethodGet, path: instancePath + "/thumbnail", rule: readers, handle: (*Handler).thumbnail},
	{method: http.MethodGet, path: "/studies/:study/series/:series/thumbnail", rule: readers, handle: (*Handler).thumbnail},
	{method: http.MethodGet, path: "/studies/:study/thumbnail", rule: readers, handle: (*Handler).thumbnail},
}}

const instancePath = "/studies/:study/series/:series/instances/:instance"

// The audit actions of these routes.
const (
	actionMetadata  = "dicomweb.metadata"
	actionBulkdata  = "dicomweb.bulkdata"
	actionFrames    = "dicomweb.frames"
	actionRendered  = "dicomweb.rendered"
	actionThumbnail = "dicomweb.thumbnail"
)

// resolve reads the target of the URL and the instances of it the caller
// may see.
func (h *Handler) resolve(c *gin.Context) (*identity.Principal, target, []dicomwebdb.InstancesToRetrieveRow, error) {
	p := identity.FromContext(c.Request.Context())
	t, err := targetOf(c)
	if err != nil {
		return p, t, nil, err
	}
	rows, err := h.instances(c, p, t)
	return p, t, rows, err
}

// instanceURL is the WADO-RS URL of the instance of r, at the root of c.
func (h *Handler) instanceURL(c *gin.Context, r dicomwebdb.InstancesToRetrieveRow) string {
	return h.retrieveURL(c, r.StudyInstanceUid) + "/series/" + r.SeriesInstanceUid + "/instances/" + r.SopInstanceUid
}

// nativeSyntax reports the transfer syntaxes whose pixel data is not
// encapsulated.
func nativeSyntax(ts string) bool {
	switch ts {
	case "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "":
		return true
	}
	return false
}

// pixelDataURI is where the pixel data of r is retrieved: its frames when
// encapsulated, else its bulk data.
func (h *Handler) pixelDataURI(c *gin.Context, r dicomwebdb.InstancesToRetrieveRow) string {
	base := h.instanceURL(c, r)
	if nativeSyntax(r.TransferSyntax) {
		return base + "/bulkdata/" + tagPixelData
	}
	n := max(int(r.Frames), 1)
	var b strings.Builder
	b.WriteString(base + "/frames/")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
	}
	return b.String()
}

const tagPixelData = "7FE00010"

// metadata answers the data sets of a study, series or instance as a
// DICOM JSON array, one stored file read at a time and written as soon as
// it is ready.
func (h *Handler) metadata(c *gin.Context) {
	if err := acceptsJSON(c.GetHeader("Accept")); err != nil {
		h.fail(c, err)
		return
	}
	p, t, rows, err := h.resolve(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.auditRetrieval(c, p, t, actionMetadata, rows); err != nil {
		h.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	// The first data set is read before the status is sent, so that a
	// failure can still be answered as such.
	first, err := h.datasetOf(ctx, c, rows[0])
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Content-Type", mediaDICOMJSON)
	c.Header("Cache-Control", "private, no-store")
	c.Status(http.StatusOK)
	w := c.Writer
	write := func(b []byte) {
		if _, err := w.Write(b); err != nil {
			panic(http.ErrAbortHandler)
		}
	}
	write([]byte("["))
	write(first)
	for _, r := range rows[1:] {
		ds, err := h.datasetOf(ctx, c, r)
		if err != nil {
			h.logger.ErrorContext(ctx, "dicomweb metadata broke off", "sop_instance_uid", r.SopInstanceUid, "error", err.Error())
			panic(http.ErrAbortHandler)
		}
		write([]byte(","))
		write(ds)
		w.Flush()
	}
	write([]byte("]\n"))
}

// datasetOf reads the stored file of r and returns its data set as DICOM
// JSON, bulk values by reference.
func (h *Handler) datasetOf(ctx context.Context, c *gin.Context, r dicomwebdb.InstancesToRetrieveRow) ([]byte, error) {
	st, err := h.storedOf(ctx, r)
	if err != nil {
		return nil, err
	}
	rc, err := st.open(0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	base := h.instanceURL(c, r)
	ds, err := dicomfile.DatasetJSON(rc, st.size, func(tag string) string {
		if tag == tagPixelData {
			return h.pixelDataURI(c, r)
		}
		return base + "/bulkdata/" + tag
	})
	if err != nil {
		return nil, storedErr(err)
	}
	return ds, nil
}

// storedErr classifies an error reading a stored file: the file was
// checked when it was stored, so a malformed one is unprocessable.
func storedErr(err error) error {
	var invalid *dicomfile.InvalidError
	var unsupported *dicomfile.UnsupportedError
	var rng *dicomfile.RangeError
	switch {
	case errors.As(err, &rng):
		return apperr.New(apperr.NotFound, "%s", rng.Error())
	case errors.As(err, &unsupported):
		return apperr.New(apperr.Unprocessable, "%s", unsupported.Error())
	case errors.Is(err, dicomfile.ErrNoPixelData):
		return apperr.New(apperr.NotFound, "the instance has no pixel data")
	case errors.As(err, &invalid):
		return apperr.Wrap(err, apperr.Unprocessable, "the stored instance cannot be read: %s", invalid.Reason)
	}
	return err
}

// acceptsJSON checks that the Accept header of a metadata request allows
// the DICOM JSON model (the XML model is not served).
func acceptsJSON(accept string) error {
	if strings.TrimSpace(accept) == "" {
		return nil
	}
	for _, item := range strings.Split(accept, ",") {
		mt, _, err := parseMediaType(strings.TrimSpace(item))
		if err != nil {
			continue
		}
		switch mt {
		case mediaDICOMJSON, "application/json", "application/*", "*/*":
			return nil
		}
	}
	return apperr.New(apperr.NotAcceptable, "metadata is sent as application/dicom+json only")
}

// bulkdata answers one top-level binary value of an instance, with
// single-range support.
func (h *Handler) bulkdata(c *gin.Context) {
	tagStr := c.Param("tag")
	tag, err := parseTag(tagStr)
	if err != nil {
		h.fail(c, err)
		return
	}
	multi, err := acceptsOctets(c.GetHeader("Accept"))
	if err != nil {
		h.fail(c, err)
		return
	}
	p, t, rows, err := h.resolve(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	r := rows[0]
	if err := h.auditRetrieval(c, p, t, actionBulkdata, rows[:1]); err != nil {
		h.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	st, err := h.storedOf(ctx, r)
	if err != nil {
		h.fail(c, err)
		return
	}
	rc, err := st.open(0, -1)
	if err != nil {
		h.fail(c, err)
		return
	}
	defer func() { rc.Close() }()
	loc, value, err := dicomfile.LocateValue(rc, st.size, tag)
	switch {
	case errors.Is(err, dicomfile.ErrNoElement):
		h.fail(c, apperr.New(apperr.NotFound, "the instance has no top-level element %s", strings.ToUpper(tagStr)))
		return
	case err != nil:
		h.fail(c, storedErr(err))
		return
	case loc.Length < 0:
		h.fail(c, apperr.New(apperr.Unprocessable,
			"element %s is encapsulated (or a sequence): retrieve encapsulated pixel data by frame", strings.ToUpper(tagStr)))
		return
	}
	size := loc.Length
	start, length, partial := int64(0), size, false
	if !multi {
		var ok bool
		start, length, partial, ok = parseRange(c.GetHeader("Range"), size)
		c.Header("Accept-Ranges", "bytes")
		if !ok {
			c.Header("Content-Range", fmt.Sprintf("bytes */%d", size))
			edge.WriteProblem(c, edge.NewProblem(c, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable",
				fmt.Sprintf("the range is outside the value's %d bytes", size)))
			return
		}
	}
	// A range far into the value is read from the object store at its
	// offset rather than through the bytes before it.
	if start > 1<<20 && loc.Offset >= 0 {
		rc.Close()
		if rc, err = st.open(loc.Offset+start, length); err != nil {
			h.fail(c, err)
			return
		}
		value = rc
	} else if start > 0 {
		if _, err := io.CopyN(io.Discard, value, start); err != nil {
			h.fail(c, fmt.Errorf("skip to the range: %w", err))
			return
		}
	}
	value = io.LimitReader(value, length)
	c.Header("Cache-Control", "private, no-store")
	if multi {
		mw := newMultipart(c, "application/octet-stream")
		pw, err := mw.part("application/octet-stream", h.instanceURL(c, r)+"/bulkdata/"+strings.ToUpper(tagStr), length)
		if err == nil {
			_, err = io.Copy(pw, value)
		}
		if err == nil {
			err = mw.Close()
		}
		if err != nil {
			h.logger.ErrorContext(ctx, "dicomweb bulk data broke off", "error", err.Error())
			panic(http.ErrAbortHandler)
		}
		return
	}
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		c.Header("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
	}
	c.Status(status)
	if n, err := io.Copy(c.Writer, value); err != nil || n != length {
		h.logger.ErrorContext(ctx, "dicomweb bulk data broke off", "sent", n, "of", length)
		panic(http.ErrAbortHandler)
	}
}

// parseTag reads a tag as eight hex digits.
func parseTag(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, invalid("the tag in the URL must be eight hex digits (e.g. 7FE00010)")
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, invalid("the tag in the URL must be eight hex digits (e.g. 7FE00010)")
	}
	return uint32(v), nil
}

// acceptsOctets tells whether a bulk data answer is to be multipart (when
// the Accept asks for multipart/related and not for a single part).
func acceptsOctets(accept string) (multi bool, err error) {
	if strings.TrimSpace(accept) == "" {
		return false, nil
	}
	for _, item := range strings.Split(accept, ",") {
		mt, params, err := parseMediaType(strings.TrimSpace(item))
		if err != nil {
			continue
		}
		switch mt {
		case "application/octet-stream", "application/*", "*/*":
			return false, nil
		case "multipart/related", "multipart/*":
			if ty := params["type"]; ty == "" || strings.EqualFold(ty, "application/octet-stream") {
				return true, nil
			}
		}
	}
	return false, apperr.New(apperr.NotAcceptable,
		`bulk data is sent as application/octet-stream or multipart/related; type="application/octet-stream"`)
}

// parseRange reads a Range header against a body of size bytes (as the
// REST file download does). It returns the slice to send and whether it
// is partial; ok is false when the range cannot be satisfied (416).
// Headers it does not handle (another unit, several ranges, bad syntax)
// are ignored, as RFC 9110 allows: the whole body is sent.
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
