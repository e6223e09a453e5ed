package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// fakeServer answers the given statuses in turn, then 201 with an upload answer.
func fakeServer(t *testing.T, answers ...func(w http.ResponseWriter)) (*httptest.Server, *atomic.Int32, *[]string) {
	t.Helper()
	var n atomic.Int32
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b)+"|"+r.Header.Get("Idempotency-Key")+"|"+r.Header.Get("Authorization"))
		i := int(n.Add(1)) - 1
		if i < len(answers) {
			answers[i](w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"files":[{"filename":"a","status":"accepted","file":{"id":"`+uuid.NewString()+`"}}],"accepted":1,"rejected":0}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n, &bodies
}

func body(s string) Body {
	return Body{Size: int64(len(s)), Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	srv, n, bodies := fakeServer(t,
		func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		},
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
	c, err := New(srv.URL, "trt_x", WithRetry(Retry{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}))
	require.NoError(t, err)
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	ans, err := c.UploadFile(context.Background(), uuid.New(), "a", body("DICM..."), FileOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, ans.Accepted)
	require.EqualValues(t, 3, n.Load())
	require.Equal(t, 7*time.Second, waits[0], "Retry-After is honoured")
	require.LessOrEqual(t, waits[1], time.Millisecond)
	for _, b := range *bodies {
		require.Equal(t, (*bodies)[0], b, "every attempt sends the same bytes, Idempotency-Key and token")
	}
	require.True(t, strings.HasSuffix((*bodies)[0], "|Bearer trt_x"))
}

func TestProblemBecomesError(t *testing.T) {
	t.Parallel()
	srv, n, _ := fakeServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"type":"https://teleread.example/problems/unprocessable","title":"Unprocessable","status":422,
			"code":"unprocessable","detail":"no file was accepted","request_id":"r1",
			"details":[{"filename":"bad.dcm","status":"rejected","reason":"invalid DICOM: truncated"}]}`)
	})
	c, err := New(srv.URL, "trt_x")
	require.NoError(t, err)
	_, err = c.UploadFile(context.Background(), uuid.New(), "bad.dcm", body("DICM"), FileOptions{})
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 422, e.Status)
	require.Equal(t, "unprocessable", e.Code)
	require.Equal(t, "no file was accepted", e.Reason)
	require.Equal(t, "r1", e.RequestID)
	require.Len(t, e.Files, 1)
	require.Equal(t, "invalid DICOM: truncated", e.FileReason())
	require.EqualValues(t, 1, n.Load(), "a 422 is not retried")
	require.Equal(t, 422, StatusOf(err))
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	c, err := New("http://127.0.0.1:1", "trt_x", WithRetry(Retry{Attempts: 2}))
	require.NoError(t, err)
	c.sleep = func(context.Context, time.Duration) error { return nil }
	_, err = c.Me(context.Background())
	require.True(t, IsUnreachable(err), "%v", err)
	_, err = New("ftp://x", "t")
	require.Error(t, err)
}
