package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// request is one unit of work of a phase: one raw upload, one multipart
// upload of several files, or one PutObject.
type request struct {
	files []instance
}

// loadResult is what a phase measured.
type loadResult struct {
	files     int
	bytes     int64
	elapsed   time.Duration
	latencies []time.Duration // one per request
}

// runLoad sends reqs with c workers, each calling do, and fails on the first
// error.
func runLoad(ctx context.Context, reqs []request, c int, do func(context.Context, request) error) (loadResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res := loadResult{latencies: make([]time.Duration, len(reqs))}
	for _, r := range reqs {
		res.files += len(r.files)
		for _, f := range r.files {
			res.bytes += f.size()
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(c, len(reqs)) {
		wg.Go(func() {
			for i := range next {
				t := time.Now()
				if err := do(ctx, reqs[i]); err != nil {
					cancel(err)
					return
				}
				res.latencies[i] = time.Since(t)
			}
		})
	}
feed:
	for i := range reqs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	res.elapsed = time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	return res, nil
}

// apiRequests groups instances into upload requests: one file each, or up
// to k files of the same study (case) per multipart request.
func apiRequests(files []instance, k int) []request {
	var reqs []request
	for _, f := range files {
		if n := len(reqs); k > 1 && n > 0 && len(reqs[n-1].files) < k && reqs[n-1].files[0].study == f.study {
			reqs[n-1].files = append(reqs[n-1].files, f)
			continue
		}
		reqs = append(reqs, request{files: []instance{f}})
	}
	return reqs
}

// uploader sends instances to the upload API.
type uploader struct {
	client    *http.Client
	baseURL   string
	token     string
	caseIDs   []string // by study index
	multipart bool
}

func newHTTPClient(c int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * c
	t.MaxIdleConnsPerHost = 2 * c
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}
}

// upload sends r and checks that the server accepted every file.
func (u *uploader) upload(ctx context.Context, r request) error {
	caseID := u.caseIDs[r.files[0].study]
	endpoint := u.baseURL + "/api/v1/cases/" + caseID + "/files"
	var req *http.Request
	var err error
	if u.multipart {
		req, err = multipartRequest(ctx, endpoint, r.files)
	} else {
		f := r.files[0]
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"?filename="+url.QueryEscape(f.name), f.reader())
		if req != nil {
			req.ContentLength = f.size()
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(f.reader()), nil }
			req.Header.Set("Content-Type", "application/dicom")
		}
	}
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", r.files[0].name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("upload %s: read answer: %w", r.files[0].name, err)
	}
	if resp.StatusCode != http.StatusCreated {
		err := fmt.Errorf("upload %s: %s: %s", r.files[0].name, resp.Status, bytes.TrimSpace(body))
		if resp.StatusCode == http.StatusNotFound && strings.Contains(string(body), "no such route") {
			err = fmt.Errorf("%w\nthe upload route POST /api/v1/cases/{id}/files is not served yet; measure the raw floor alone with -order b", err)
		}
		return err
	}
	var out struct {
		Files []struct {
			Filename string `json:"filename"`
			Status   string `json:"status"`
			Reason   string `json:"reason"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("upload %s: answer is not the files document: %w: %.300s", r.files[0].name, err, body)
	}
	if len(out.Files) != len(r.files) {
		return fmt.Errorf("upload %s: sent %d files, answer lists %d: %.300s", r.files[0].name, len(r.files), len(out.Files), body)
	}
	for _, f := range out.Files {
		if f.Status != "accepted" {
			return fmt.Errorf("upload: %s was %s: %s", f.Filename, f.Status, f.Reason)
		}
	}
	return nil
}

// multipartRequest streams files as form parts named "file". The body is
// written through a pipe while it is sent; its length is computed first so
// that the request carries a Content-Length.
func multipartRequest(ctx context.Context, endpoint string, files []instance) (*http.Request, error) {
	boundary := multipart.NewWriter(nil).Boundary()
	write := func(w io.Writer) error {
		mw := multipart.NewWriter(w)
		if err := mw.SetBoundary(boundary); err != nil {
			return err
		}
		for _, f := range files {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, f.name))
			h.Set("Content-Type", "application/dicom")
			pw, err := mw.CreatePart(h)
			if err != nil {
				return err
			}
			if _, err := f.reader().WriteTo(pw); err != nil {
				return err
			}
		}
		return mw.Close()
	}
	var n countWriter
	if err := write(&n); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, pr)
	if err != nil {
		pr.Close()
		return nil, err
	}
	req.ContentLength = int64(n)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	return req, nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// rawPutter puts instances straight into a bucket.
type rawPutter struct {
	mc     *minio.Client
	bucket string
	prefix string
}

func (p *rawPutter) put(ctx context.Context, r request) error {
	for _, f := range r.files {
		_, err := p.mc.PutObject(ctx, p.bucket, p.prefix+f.name, f.reader(), f.size(),
			minio.PutObjectOptions{ContentType: "application/dicom"})
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", p.bucket, p.prefix+f.name, err)
		}
	}
	return nil
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// summarize turns a loadResult into the reported figures.
func summarize(path string, r loadResult) phaseResult {
	lat := slices.Clone(r.latencies)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	sec := r.elapsed.Seconds()
	return phaseResult{
		Path: path, Instances: r.files, Requests: len(r.latencies), Bytes: r.bytes, Seconds: sec,
		InstancesPerSec: float64(r.files) / sec, MBPerSec: float64(r.bytes) / 1e6 / sec,
		LatencyMS: latencyMS{P50: ms(percentile(lat, 50)), P95: ms(percentile(lat, 95)), P99: ms(percentile(lat, 99)), Max: ms(percentile(lat, 100))},
	}
}
