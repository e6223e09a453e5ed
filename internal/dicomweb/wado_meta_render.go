package dicomweb

import (
	"bytes"
	"image"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"golang.org/x/image/draw"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/dicomweb/dicomwebdb"
	"github.com/teleread/teleread/internal/photo"
)

// Bounds of rendering.
const (
	// maxViewport is the largest side of a rendered image.
	maxViewport = 4096
	// thumbnailSide is the side a thumbnail fits in when no viewport is given.
	thumbnailSide = 256
	// defaultQuality is the JPEG quality of rendered images.
	defaultQuality = 90
)

// renderParams are the query parameters of a rendered request (PS3.18
// 8.3.5): window, viewport and quality.
type renderParams struct {
	window   *dicomfile.Window
	vw, vh   int
	quality  int
	png      bool
	explicit bool // a viewport was given
}

// renderParamsOf reads the query and Accept of a rendered request.
func renderParamsOf(c *gin.Context) (renderParams, error) {
	rp := renderParams{quality: defaultQuality}
	if v := c.Query("window"); v != "" {
		parts := strings.Split(v, ",")
		if len(parts) < 2 || len(parts) > 3 {
			return rp, invalid("window must be center,width[,function]")
		}
		center, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
		width, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
		if err1 != nil || err2 != nil || width < 1 {
			return rp, invalid("window must be center,width[,function] with numbers and a width of at least 1")
		}
		if len(parts) == 3 && !strings.EqualFold(strings.TrimSpace(parts[2]), "linear") {
			return rp, invalid("window function %q is not supported: only linear", parts[2])
		}
		rp.window = &dicomfile.Window{Center: center, Width: width}
	}
	if v := c.Query("viewport"); v != "" {
		parts := strings.Split(v, ",")
		if len(parts) != 2 && len(parts) != 6 {
			return rp, invalid("viewport must be width,height")
		}
		w, err1 := strconv.Atoi(strings.TrimSpace(parts[0]))
		hh, err2 := strconv.Atoi(strings.TrimSpace(parts[1]))
		if err1 != nil || err2 != nil || w < 1 || hh < 1 || w > maxViewport || hh > maxViewport {
			return rp, invalid("viewport must be width,height in pixels, from 1 to %d", maxViewport)
		}
		rp.vw, rp.vh, rp.explicit = w, hh, true
	}
	if v := c.Query("quality"); v != "" {
		q, err := strconv.Atoi(v)
		if err != nil || q < 1 || q > 100 {
			return rp, invalid("quality must be from 1 to 100")
		}
		rp.quality = q
	}
	png, err := acceptedImage(c.GetHeader("Accept"))
	if err != nil {
		return rp, err
	}
	rp.png = png
	return rp, nil
}

// acceptedImage picks the media type of a rendered image: JPEG unless the
// Accept names PNG before JPEG (or without it).
func acceptedImage(accept string) (png bool, err error) {
	if strings.TrimSpace(accept) == "" {
		return false, nil
	}
	for _, item := range strings.Split(accept, ",") {
		mt, _, err := parseMediaType(strings.TrimSpace(item))
		if err != nil {
			continue
		}
		switch mt {
		case "image/jpeg", "image/*", "*/*":
			return false, nil
		case "image/png":
			return true, nil
		}
	}
	return false, apperr.New(apperr.NotAcceptable, "rendered images are sent as image/jpeg or image/png")
}

// rendered answers one frame of an instance as a JPEG or PNG image.
func (h *Handler) rendered(c *gin.Context) {
	frame := 1
	if v := c.Param("frames"); v != "" {
		list, err := parseFrames(v)
		if err != nil {
			h.fail(c, err)
			return
		}
		if len(list) != 1 {
			h.fail(c, invalid("one frame is rendered at a time"))
			return
		}
		frame = list[0]
	}
	rp, err := renderParamsOf(c)
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
	if err := checkFrames([]int{frame}, r.Frames); err != nil {
		h.fail(c, err)
		return
	}
	if err := h.auditRetrieval(c, p, t, actionRendered, rows[:1]); err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, r, frame, rp)
}

// thumbnail answers a small rendering of an instance, or of a
// representative instance (the middle one with pixel data) of a series or
// study, at its middle frame.
func (h *Handler) thumbnail(c *gin.Context) {
	rp, err := renderParamsOf(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if !rp.explicit {
		rp.vw, rp.vh = thumbnailSide, thumbnailSide
	}
	p, t, rows, err := h.resolve(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	var images []dicomwebdb.InstancesToRetrieveRow
	for _, r := range rows {
		if r.Frames > 0 {
			images = append(images, r)
		}
	}
	if len(images) == 0 {
		h.fail(c, apperr.New(apperr.NotFound, "no instance here has pixel data"))
		return
	}
	r := images[len(images)/2]
	if err := h.auditRetrieval(c, p, t, actionThumbnail, []dicomwebdb.InstancesToRetrieveRow{r}); err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, r, int(r.Frames)/2+1, rp)
}

// render renders frame (from 1) of r and sends it.
func (h *Handler) render(c *gin.Context, r dicomwebdb.InstancesToRetrieveRow, frame int, rp renderParams) {
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
	img, err := dicomfile.RenderFrameWindow(rc, frame-1, rp.window)
	rc.Close()
	if err != nil {
		h.fail(c, storedErr(err))
		return
	}
	if rp.vw > 0 {
		img = fit(img, rp.vw, rp.vh, !rp.explicit)
	}
	var buf bytes.Buffer
	ct := "image/jpeg"
	if rp.png {
		ct = "image/png"
		err = photo.EncodePNG(&buf, img)
	} else {
		err = photo.EncodeJPEG(&buf, img, rp.quality)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, ct, buf.Bytes())
}

// fit scales img to fit in w×h, keeping its aspect ratio; shrinkOnly
// leaves an image that already fits as it is. Grey images stay grey.
func fit(img image.Image, w, h int, shrinkOnly bool) image.Image {
	b := img.Bounds()
	iw, ih := b.Dx(), b.Dy()
	if iw == 0 || ih == 0 || (shrinkOnly && iw <= w && ih <= h) || (iw == w && ih <= h) || (ih == h && iw <= w) {
		return img
	}
	nw, nh := w, ih*w/iw
	if nh > h {
		nw, nh = iw*h/ih, h
	}
	nw, nh = max(nw, 1), max(nh, 1)
	rect := image.Rect(0, 0, nw, nh)
	var dst draw.Image
	if _, gray := img.(*image.Gray); gray {
		dst = image.NewGray(rect)
	} else {
		dst = image.NewRGBA(rect)
	}
	draw.CatmullRom.Scale(dst, rect, img, b, draw.Src, nil)
	return dst
}
