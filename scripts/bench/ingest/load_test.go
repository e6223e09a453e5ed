package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	require.Equal(t, time.Duration(50), percentile(d, 50))
	require.Equal(t, time.Duration(95), percentile(d, 95))
	require.Equal(t, time.Duration(100), percentile(d, 100))
	require.Equal(t, time.Duration(7), percentile([]time.Duration{7}, 99))
	require.Zero(t, percentile(nil, 50))
}

func TestAPIRequests(t *testing.T) {
	t.Parallel()
	files := []instance{{name: "a", study: 0}, {name: "b", study: 0}, {name: "c", study: 0}, {name: "d", study: 1}}
	require.Len(t, apiRequests(files, 0), 4, "one file per request")
	reqs := apiRequests(files, 2)
	require.Len(t, reqs, 3)
	require.Len(t, reqs[0].files, 2)
	require.Equal(t, "c", reqs[1].files[0].name, "a request never spans two studies")
	require.Equal(t, "d", reqs[2].files[0].name)
}

func TestRunLoad(t *testing.T) {
	t.Parallel()
	reqs := apiRequests(make([]instance, 50), 0)
	var calls atomic.Int32
	res, err := runLoad(context.Background(), reqs, 4, func(context.Context, request) error {
		calls.Add(1)
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 50, calls.Load())
	require.Len(t, res.latencies, 50)

	boom := errors.New("boom")
	_, err = runLoad(context.Background(), reqs, 4, func(context.Context, request) error { return boom })
	require.ErrorIs(t, err, boom)
}

func TestMultipartRequest(t *testing.T) {
	t.Parallel()
	files := []instance{
		{name: "one.dcm", head: []byte("head1"), tail: []byte("tail")},
		{name: "two.dcm", head: []byte("head22"), tail: []byte("tail")},
	}
	req, err := multipartRequest(context.Background(), "http://127.0.0.1/x", files)
	require.NoError(t, err)
	body, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	require.EqualValues(t, len(body), req.ContentLength)

	_, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	require.NoError(t, err)
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, f := range files {
		p, err := mr.NextPart()
		require.NoError(t, err)
		require.Equal(t, "file", p.FormName())
		require.Equal(t, f.name, p.FileName())
		require.Equal(t, "application/dicom", p.Header.Get("Content-Type"))
		got, err := io.ReadAll(p)
		require.NoError(t, err)
		require.Equal(t, string(f.head)+string(f.tail), string(got))
	}
	_, err = mr.NextPart()
	require.ErrorIs(t, err, io.EOF)
}
