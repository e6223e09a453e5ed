package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// seenRequest is what a fake server read of one multipart request.
type seenRequest struct {
	key           string
	contentLength int64
	read          int64
	parts         []string // "field=value" or "file:name:content-type:bytes"
}

// multipartServer records each request's parts and answers with the given
// statuses in turn, then 201.
func multipartServer(t *testing.T, statuses ...int) (*httptest.Server, *[]seenRequest, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	var seen []seenRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seenRequest{key: r.Header.Get("Idempotency-Key"), contentLength: r.ContentLength}
		cr := &counter{}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, cr), r.Body}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			b, _ := io.ReadAll(p)
			if p.FileName() == "" {
				s.parts = append(s.parts, p.FormName()+"="+string(b))
			} else {
				s.parts = append(s.parts, "file:"+p.FileName()+":"+p.Header.Get("Content-Type")+":"+string(b))
			}
		}
		s.read = cr.n
		mu.Lock()
		i := len(seen)
		seen = append(seen, s)
		mu.Unlock()
		if i < len(statuses) {
			w.WriteHeader(statuses[i])
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"files":[{"filename":"a","status":"accepted","file":{"id":"`+uuid.NewString()+
			`"}},{"filename":"b","status":"rejected","reason":"invalid DICOM"}],"accepted":1,"rejected":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen, &mu
}

// countedBody is body(s) that counts how often it is opened.
func countedBody(s string, opens *atomic.Int32) Body {
	b := body(s)
	open := b.Open
	b.Open = func() (io.ReadCloser, error) { opens.Add(1); return open() }
	return b
}

func TestUploadFiles(t *testing.T) {
	t.Parallel()
	srv, seen, mu := multipartServer(t, http.StatusBadGateway)
	c, err := New(srv.URL, "trt_x", WithRetry(Retry{Attempts: 3}))
	require.NoError(t, err)
	c.sleep = func(context.Context, time.Duration) error { return nil }
	var opens atomic.Int32
	yes, no := true, false
	files := []FilePart{
		{Filename: "IM0001", Body: countedBody("DICM one", &opens)},
		{Filename: "épaule \"gauche\".jpg", Body: countedBody("jpeg bytes", &opens), ContentType: "image/jpeg",
			BodySite: "left shoulder", Dermoscopic: &yes},
		{Filename: "close-up.jpg", Body: countedBody("more jpeg", &opens), ContentType: "image/jpeg",
			BodySite: "left shoulder", Dermoscopic: &no},
		{Filename: "IM0002", Body: countedBody("DICM two", &opens)},
	}
	ans, err := c.UploadFiles(context.Background(), uuid.New(), files, "key-1")
	require.NoError(t, err)
	require.Equal(t, 1, ans.Accepted)
	require.Len(t, ans.Files, 2)
	require.Equal(t, "invalid DICOM", ans.Files[1].Reason)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, *seen, 2, "the 502 is retried")
	want := []string{
		"file:IM0001:application/dicom:DICM one",
		"body_site=left shoulder", "dermoscopic=true",
		"file:épaule \"gauche\".jpg:image/jpeg:jpeg bytes",
		"dermoscopic=false",
		"file:close-up.jpg:image/jpeg:more jpeg",
		"body_site=", "dermoscopic=",
		"file:IM0002:application/dicom:DICM two",
	}
	for _, s := range *seen {
		require.Equal(t, "key-1", s.key, "the same Idempotency-Key for every attempt")
		require.Equal(t, want, s.parts)
		require.Positive(t, s.contentLength)
		require.Equal(t, s.contentLength, s.read, "the Content-Length is exact")
	}
	require.EqualValues(t, 8, opens.Load(), "each file is opened once per attempt")
}

func TestUploadFilesUnreadableFileIsNotRetried(t *testing.T) {
	t.Parallel()
	srv, _, _ := multipartServer(t)
	c, err := New(srv.URL, "trt_x", WithRetry(Retry{Attempts: 5}))
	require.NoError(t, err)
	c.sleep = func(context.Context, time.Duration) error { return nil }
	var opens atomic.Int32
	gone := Body{Size: 4, Open: func() (io.ReadCloser, error) { return nil, errors.New("no such file") }}
	short := body("DICM")
	short.Size = 10 // the file shrank after it was measured
	for name, bad := range map[string]Body{"Gone": gone, "Shrank": short} {
		t.Run(name, func(t *testing.T) {
			before := opens.Load()
			_, err := c.UploadFiles(context.Background(), uuid.New(),
				[]FilePart{{Filename: "a", Body: countedBody("DICM a", &opens)}, {Filename: "b", Body: bad}}, "")
			require.Error(t, err)
			require.Zero(t, StatusOf(err), "%v", err)
			require.False(t, IsUnreachable(err), "%v", err)
			require.Contains(t, err.Error(), "b")
			require.EqualValues(t, 1, opens.Load()-before, "not retried")
		})
	}
}

func TestUploadFilesNoneAccepted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"title":"Unprocessable","status":422,"code":"unprocessable","detail":"no file was accepted",
			"details":[{"filename":"a","status":"rejected","reason":"the file is empty"},
			{"filename":"b","status":"rejected","reason":"invalid DICOM: truncated"}]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "trt_x")
	require.NoError(t, err)
	_, err = c.UploadFiles(context.Background(), uuid.New(),
		[]FilePart{{Filename: "a", Body: body("")}, {Filename: "b", Body: body("DICM")}}, "")
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 422, e.Status)
	require.Len(t, e.Files, 2)
	require.True(t, strings.HasPrefix(e.Files[1].Reason, "invalid DICOM"))
}
