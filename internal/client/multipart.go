package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/teleread/teleread/api"
)

// FilePart is one file of an UploadFiles request.
type FilePart struct {
	Filename string
	// Body is the file's bytes: opened when the request reaches its part,
	// for each attempt, and closed after it. Its Size must be exact.
	Body Body
	// ContentType is the part's type ("" for application/dicom; the
	// server decides from the bytes anyway).
	ContentType string
	// BodySite and Dermoscopic describe a photo.
	BodySite    string
	Dermoscopic *bool
}

// UploadFiles sends files as the parts of one multipart/form-data POST
// .../files, with the same retries as UploadFile. The body streams through
// a pipe: nothing is held in memory, and a file is open only while its
// part is written. key is the Idempotency-Key of every attempt ("" makes a
// fresh one). The answer's Files are the outcomes in the order of files;
// when none was accepted, the error is an *Error whose Files carry them.
// A file that cannot be read fails the request without a retry (StatusOf
// 0, not IsUnreachable).
func (c *Client) UploadFiles(ctx context.Context, caseID uuid.UUID, files []FilePart, key string) (api.UploadAnswer, error) {
	if len(files) == 0 {
		return api.UploadAnswer{}, errors.New("upload: no file to send")
	}
	boundary := multipart.NewWriter(io.Discard).Boundary()
	// The framing is written once without the bodies to count it, so that
	// the request has a Content-Length.
	var framing counter
	if err := writeParts(&framing, boundary, files, false); err != nil {
		return api.UploadAnswer{}, &localError{err: err}
	}
	size := framing.n
	for _, f := range files {
		if f.Body.Size < 0 || f.Body.Open == nil {
			return api.UploadAnswer{}, &localError{err: fmt.Errorf("upload %s: the size of the file is not known", f.Filename)}
		}
		size += f.Body.Size
	}
	body := Body{Size: size, ContentType: "multipart/form-data; boundary=" + boundary,
		Open: func() (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			s := &stream{PipeReader: pr}
			go func() {
				err := writeParts(pw, boundary, files, true)
				var le *localError
				if errors.As(err, &le) {
					s.fail(le)
				}
				pw.CloseWithError(err)
			}()
			return s, nil
		}}
	r := request{op: opUploadFiles, path: opUploadFiles.fill(caseID.String()), body: &body, header: idempotency(key)}
	resp, err := c.send(ctx, r)
	if err != nil {
		return api.UploadAnswer{}, fmt.Errorf("upload %d files: %w", len(files), err)
	}
	var out api.UploadAnswer
	return out, decode(resp, &out)
}

// writeParts writes the multipart/form-data body of files to w, each file
// part preceded by the body_site and dermoscopic fields when they change
// (the server applies them to the file parts that follow). Without bodies
// it writes the framing only. A file that cannot be read, or whose length
// is not its Body's Size, is a *localError.
func writeParts(w io.Writer, boundary string, files []FilePart, bodies bool) error {
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	site, derm := "", ""
	for _, f := range files {
		if f.BodySite != site {
			if err := mw.WriteField("body_site", f.BodySite); err != nil {
				return err
			}
			site = f.BodySite
		}
		if d := formBool(f.Dermoscopic); d != derm {
			if err := mw.WriteField("dermoscopic", d); err != nil {
				return err
			}
			derm = d
		}
		ct := f.ContentType
		if ct == "" {
			ct = "application/dicom"
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": f.Filename}))
		h.Set("Content-Type", ct)
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if !bodies {
			continue
		}
		if err := copyBody(pw, f); err != nil {
			return err
		}
	}
	return mw.Close()
}

// copyBody writes one file's bytes into its part.
func copyBody(w io.Writer, f FilePart) error {
	rc, err := f.Body.Open()
	if err != nil {
		return &localError{err: fmt.Errorf("open %s: %w", f.Filename, err)}
	}
	defer rc.Close()
	n, err := io.Copy(w, fileReader{rc})
	var re fileError
	switch {
	case errors.As(err, &re):
		return &localError{err: fmt.Errorf("read %s: %w", f.Filename, re.err)}
	case err != nil:
		return err // the request is gone (the pipe was closed)
	case n != f.Body.Size:
		return &localError{err: fmt.Errorf("%s: %d bytes were read, not %d: the file changed", f.Filename, n, f.Body.Size)}
	}
	return nil
}

func formBool(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

// stream is the reading end of a request body written by a goroutine. It
// remembers a failure on this side (a file that cannot be read), which
// once reports instead of the transport's error so that it is not retried
// whatever the transport makes of it.
type stream struct {
	*io.PipeReader
	mu  sync.Mutex
	err *localError
}

func (s *stream) fail(err *localError) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *stream) failure() *localError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// fileReader marks the errors of reading a file as fileErrors, to tell
// them from those of writing to the request.
type fileReader struct{ r io.Reader }

type fileError struct{ err error }

func (e fileError) Error() string { return e.err.Error() }

func (r fileReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fileError{err: err}
	}
	return n, err
}

// counter counts the bytes written to it.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
