package dicomweb

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/dicomfile"
)

// maxFramesPerRequest bounds the frame list of one request.
const maxFramesPerRequest = 10_000

// tsExplicitLE is Explicit VR Little Endian, the syntax of uncompressed
// bulk data.
const (
	tsExplicitLE = "1.2.840.10008.1.2.1"
	tsExplicitBE = "1.2.840.10008.1.2.2"
)

// parseFrames reads a comma-separated list of frame numbers (from 1).
func parseFrames(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxFramesPerRequest {
		return nil, invalid("at most %d frames may be asked for at once", maxFramesPerRequest)
	}
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, invalid("the frame list %q is not a comma-separated list of frame numbers from 1", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// checkFrames reports a frame beyond the count of the instance.
func checkFrames(frames []int, count int32) error {
	if count < 1 {
		return apperr.New(apperr.NotFound, "the instance has no pixel data, so no frames")
	}
	for _, f := range frames {
		if f > int(count) {
			return apperr.New(apperr.NotFound, "frame %d out of range: the instance has %d frames", f, count)
		}
	}
	return nil
}

// frameMediaType is the media type of a frame of compressed pixel data in
// transfer syntax ts (PS3.18 table 8.7.3-2).
func frameMediaType(ts string) string {
	switch ts {
	case "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70":
		return "image/jpeg"
	case "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81":
		return "image/jls"
	case "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91":
		return "image/jp2"
	case "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93":
		return "image/jpx"
	case "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return "image/jphc"
	}
	return "application/octet-stream"
}

// framesAccepted checks that the Accept header of a frames request allows
// the frames as stored (syntax ts, native or not): compressed frames are
// sent compressed when the client accepts any syntax (transfer-syntax=*,
// as OHIF asks), that syntax, or that media type, or names none at all;
// an Accept of uncompressed frames only is NotAcceptable for compressed
// data, since this server does not transcode.
func framesAccepted(accept, ts string, native bool) error {
	if strings.TrimSpace(accept) == "" {
		return nil
	}
	media := frameMediaType(ts)
	for _, item := range strings.Split(accept, ",") {
		mt, params, err := parseMediaType(strings.TrimSpace(item))
		if err != nil {
			continue
		}
		want, hasTS := params["transfer-syntax"]
		switch mt {
		case "*/*", "multipart/*":
			return nil
		case "multipart/related":
		default:
			continue
		}
		ty := strings.ToLower(params["type"])
		switch {
		case want == "*":
			return nil
		case native && (ty == "" || ty == "application/octet-stream") && (!hasTS || want == tsExplicitLE || want == ts):
			return nil
		case !native && ty == "" && !hasTS:
			return nil
		case !native && (ty == "" || ty == media || ty == "application/octet-stream") && want == ts:
			return nil
		case !native && ty == media && media != "application/octet-stream" && !hasTS:
			return nil
		}
	}
	if native {
		return apperr.New(apperr.NotAcceptable,
			`the frames are uncompressed: accept multipart/related; type="application/octet-stream"`)
	}
	return apperr.New(apperr.NotAcceptable,
		`the frames are stored compressed in transfer syntax %s and are not transcoded: accept multipart/related; type="%s"; transfer-syntax=%s (or transfer-syntax=*)`,
		ts, media, ts)
}

// frames answers frames of an instance as multipart/related: native
// frames as application/octet-stream, compressed ones as stored.
func (h *Handler) frames(c *gin.Context) {
	list, err := parseFrames(c.Param("frames"))
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
	if err := checkFrames(list, r.Frames); err != nil {
		h.fail(c, err)
		return
	}
	native := nativeSyntax(r.TransferSyntax)
	if err := framesAccepted(c.GetHeader("Accept"), r.TransferSyntax, native); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.auditRetrieval(c, p, t, actionFrames, rows[:1]); err != nil {
		h.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	media, ts := frameMediaType(r.TransferSyntax), r.TransferSyntax
	if native {
		media, ts = "application/octet-stream", tsExplicitLE
		if r.TransferSyntax == tsExplicitBE {
			// Not byte-swapped: labelled as what it is.
			ts = tsExplicitBE
		}
	}
	st, err := h.storedOf(ctx, r)
	if err != nil {
		h.fail(c, err)
		return
	}
	// read returns frame n (from 1).
	read := func(n int) ([]byte, error) {
		rc, err := st.open(0, -1)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		b, err := dicomfile.ReadFrame(rc, st.size, n-1)
		if err != nil {
			return nil, storedErr(err)
		}
		return b, nil
	}
	// Native frames of a file that is not deflated are read from the
	// object store at their offset.
	var layout *dicomfile.Frames
	if native {
		rc, err := st.open(0, -1)
		if err != nil {
			h.fail(c, err)
			return
		}
		layout, err = dicomfile.FrameLayout(rc, st.size)
		rc.Close()
		if err != nil {
			h.fail(c, storedErr(err))
			return
		}
		if layout.FrameSize == 0 {
			h.fail(c, apperr.New(apperr.Unprocessable, "the frames of this instance do not start on a byte boundary (1-bit data): retrieve its bulk data"))
			return
		}
		if layout.Encapsulated {
			h.fail(c, apperr.New(apperr.Unprocessable, "the stored pixel data is encapsulated but its transfer syntax %s is not", r.TransferSyntax))
			return
		}
		if layout.Offset >= 0 {
			read = func(n int) ([]byte, error) {
				rc, err := st.open(layout.Offset+int64(n-1)*layout.FrameSize, layout.FrameSize)
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				b := make([]byte, layout.FrameSize)
				if _, err := io.ReadFull(rc, b); err != nil {
					return nil, fmt.Errorf("read frame %d: %w", n, err)
				}
				return b, nil
			}
		}
	}
	first, err := read(list[0])
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	mw := newMultipart(c, media)
	base := h.instanceURL(c, r) + "/frames/"
	partType := media + "; transfer-syntax=" + ts
	for i, n := range list {
		data := first
		if i > 0 {
			if data, err = read(n); err != nil {
				h.logger.ErrorContext(ctx, "dicomweb frames broke off", "frame", n, "error", err.Error())
				panic(http.ErrAbortHandler)
			}
		}
		w, err := mw.part(partType, base+strconv.Itoa(n), int64(len(data)))
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			panic(http.ErrAbortHandler)
		}
	}
	if err := mw.Close(); err != nil {
		h.logger.ErrorContext(ctx, "dicomweb frames: closing", "error", err.Error())
	}
}

// multipartAnswer is a multipart/related answer being written.
type multipartAnswer struct {
	*multipart.Writer
}

// newMultipart sends the status and the Content-Type of a multipart/related
// answer whose parts are of type ty.
func newMultipart(c *gin.Context, ty string) multipartAnswer {
	mw := multipart.NewWriter(c.Writer)
	c.Header("Content-Type", fmt.Sprintf(`multipart/related; type="%s"; boundary=%s`, ty, mw.Boundary()))
	c.Status(http.StatusOK)
	return multipartAnswer{mw}
}

// part starts a part of n bytes.
func (m multipartAnswer) part(ct, location string, n int64) (io.Writer, error) {
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Type", ct)
	hdr.Set("Content-Length", strconv.FormatInt(n, 10))
	if location != "" {
		hdr.Set("Content-Location", location)
	}
	return m.CreatePart(hdr)
}
