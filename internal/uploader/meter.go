package uploader

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// meter reads a file, waiting on the shared rate limiter before each chunk
// and reporting the bytes read.
type meter struct {
	r      io.Reader
	c      io.Closer
	lim    *rate.Limiter
	onRead func(int)
}

func (m *meter) Read(p []byte) (int, error) {
	if m.lim != nil && len(p) > m.lim.Burst() {
		p = p[:m.lim.Burst()]
	}
	n, err := m.r.Read(p)
	if n > 0 {
		if m.lim != nil {
			if werr := m.lim.WaitN(context.Background(), n); werr != nil {
				return n, werr
			}
		}
		m.onRead(n)
	}
	return n, err
}

func (m *meter) Close() error { return m.c.Close() }
