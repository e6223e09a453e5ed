package viewer

import (
	"compress/gzip"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// compressible are the kinds of file sent gzipped to a browser that takes
// it: OHIF's scripts, styles and WebAssembly shrink to a quarter or less
// (the app bundle from 17 MB to 4.2 MB).
var compressible = map[string]bool{".js": true, ".mjs": true, ".css": true, ".wasm": true, ".json": true,
	".map": true, ".svg": true, ".html": true}

// minGzip is the smallest file worth compressing.
const minGzip = 1024

// serveFile answers c with the content of r (size bytes, named p) under
// etag: gzipped on the fly (at the fastest level, streamed, with its own
// ETag) when the client accepts gzip and it is worth it, else through
// http.ServeContent (ranges, conditional requests). Hashed files are
// cached by browsers for a year, so each is compressed about once per user
// and version.
func serveFile(c *gin.Context, p, etag string, size int64, r io.ReadSeeker) {
	h := c.Writer.Header()
	if !compressible[strings.ToLower(path.Ext(p))] || size < minGzip {
		h.Set("ETag", etag)
		http.ServeContent(c.Writer, c.Request, "", zeroTime, r)
		return
	}
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(c.Request) || c.GetHeader("Range") != "" {
		h.Set("ETag", etag)
		http.ServeContent(c.Writer, c.Request, "", zeroTime, r)
		return
	}
	gzTag := strings.TrimSuffix(etag, `"`) + `-gz"`
	h.Set("ETag", gzTag)
	if match := c.GetHeader("If-None-Match"); match != "" && (match == gzTag || match == "*") {
		c.Status(http.StatusNotModified)
		return
	}
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length")
	c.Status(http.StatusOK)
	if c.Request.Method == http.MethodHead {
		return
	}
	zw, _ := gzip.NewWriterLevel(c.Writer, gzip.BestSpeed) // a valid level: no error
	if _, err := io.Copy(zw, r); err != nil {
		_ = c.Error(err) // the client went away, or the file could not be read
		return
	}
	if err := zw.Close(); err != nil {
		_ = c.Error(err)
	}
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q = strings.ReplaceAll(strings.TrimSpace(q), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
