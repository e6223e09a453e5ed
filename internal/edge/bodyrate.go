package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
)

// minBodyRate holds a request body to a minimum transfer rate: at least
// minBytes in every window. A client that sends less (a slow-loris body,
// or a link that has died without closing) gets its read failed with a
// Timeout error, answered 408, and its connection closed, which frees its
// goroutine and its organisation's upload slot.
//
// A plain http.Server ReadTimeout would bound the whole body and so cut
// a multi-gigabyte upload on a slow but honest link; here the deadline is
// pushed forward each time another minBytes arrive, so such an upload
// goes on as long as it moves. The connection's read deadline is set with
// http.ResponseController and cleared when the body ends, so the
// handler's own work after reading (committing a large file) is not cut.
func (e *Edge) minBodyRate() gin.HandlerFunc {
	return func(c *gin.Context) {
		window, minBytes := e.bodyWindow, e.bodyMinBytes
		if window <= 0 || c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
			c.Next()
			return
		}
		rc := http.NewResponseController(c.Writer)
		if err := rc.SetReadDeadline(time.Now().Add(window)); err != nil {
			// A writer that cannot set deadlines (a test recorder): no
			// rate to hold.
			c.Next()
			return
		}
		c.Request.Body = &rateBody{ReadCloser: c.Request.Body, rc: rc, window: window, minBytes: minBytes}
		c.Next()
	}
}

// rateBody pushes the read deadline forward by window each time minBytes
// more have arrived.
type rateBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	window   time.Duration
	minBytes int64
	got      int64 // since the deadline was last pushed
	done     bool
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.got += int64(n)
	if !b.done && b.got >= b.minBytes {
		b.got = 0
		_ = b.rc.SetReadDeadline(time.Now().Add(b.window))
	}
	switch {
	case errors.Is(err, io.EOF) && !b.done:
		// The body is in: the server's own reads of the connection (to
		// notice a client going away) must not hit our deadline.
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return n, apperr.Wrap(err, apperr.Timeout,
			"the request body arrived too slowly (less than %s in %s); send it again", byteCount(b.minBytes), b.window)
	}
	return n, err
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// SlowBody reports whether err (from reading a request body) is the
// minimum-rate deadline of minBodyRate, and returns its error to answer
// with (408) when it is.
func SlowBody(err error) (*apperr.Error, bool) {
	var ae *apperr.Error
	for e := err; e != nil; {
		if errors.As(e, &ae) && ae.Code == apperr.Timeout {
			return ae, true
		}
		if ae == nil {
			break
		}
		e = ae.Err
		ae = nil
	}
	return nil, false
}
