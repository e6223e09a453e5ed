package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// runLoad runs do(0..n-1) with c workers and fails on the first error.
func runLoad(ctx context.Context, n, c int, do func(context.Context, int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(c, n) {
		wg.Go(func() {
			for i := range next {
				if err := do(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	return elapsed, context.Cause(ctx)
}

func newHTTPClient(c int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 2 * c
	t.MaxIdleConnsPerHost = 2 * c
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}
}

// stower sends STOW-RS requests to one endpoint.
type stower struct {
	client *http.Client
	token  string                 // Bearer token; empty: none
	url    func(study int) string // the endpoint for a study's request
}

// store sends r and checks that the answer stores every instance of it.
func (s *stower) store(ctx context.Context, r stowRequest) error {
	endpoint := s.url(r.study)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(r.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType())
	req.Header.Set("Accept", "application/dicom+json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("POST %s: read answer: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s (warnings %q): %.500s", endpoint, resp.Status, resp.Header.Values("Warning"), bytes.TrimSpace(body))
	}
	if err := checkStoreResponse(body, r); err != nil {
		return fmt.Errorf("POST %s: %w", endpoint, err)
	}
	return nil
}

// dicomJSON is an element of the DICOM JSON model, as far as the Store
// Instances Response needs.
type dicomJSON struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// checkStoreResponse checks a Store Instances Response: one
// ReferencedSOPSequence (00081199) item per instance of r, each with its
// SOP Instance UID (00081155), and no FailedSOPSequence (00081198) item.
func checkStoreResponse(body []byte, r stowRequest) error {
	var ds map[string]dicomJSON
	if err := json.Unmarshal(body, &ds); err != nil {
		return fmt.Errorf("answer is not a DICOM JSON object: %w: %.300s", err, body)
	}
	if f := ds["00081198"]; len(f.Value) > 0 {
		return fmt.Errorf("%d of %d instances failed (FailedSOPSequence): %.500s", len(f.Value), len(r.files), body)
	}
	refs := ds["00081199"].Value
	if len(refs) != len(r.files) {
		return fmt.Errorf("sent %d instances, ReferencedSOPSequence lists %d: %.500s", len(r.files), len(refs), body)
	}
	want := map[string]bool{}
	for _, f := range r.files {
		want[f.uid] = true
	}
	for _, raw := range refs {
		var item map[string]dicomJSON
		if err := json.Unmarshal(raw, &item); err != nil {
			return fmt.Errorf("ReferencedSOPSequence item: %w", err)
		}
		var uid string
		if v := item["00081155"].Value; len(v) == 1 {
			_ = json.Unmarshal(v[0], &uid)
		}
		if !want[uid] {
			return fmt.Errorf("ReferencedSOPSequence names %q, not one of the instances sent (or twice)", uid)
		}
		delete(want, uid)
	}
	return nil
}

// rawPutter puts instances straight into a bucket.
type rawPutter struct {
	mc     *minio.Client
	bucket string
}

func (p *rawPutter) put(ctx context.Context, prefix string, f instance) error {
	key := prefix + f.uid + ".dcm"
	_, err := p.mc.PutObject(ctx, p.bucket, key, bytes.NewReader(f.data), int64(len(f.data)),
		minio.PutObjectOptions{ContentType: "application/dicom"})
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", p.bucket, key, err)
	}
	return nil
}

// count returns the objects under prefix.
func (p *rawPutter) count(ctx context.Context, prefix string) (int, error) {
	n := 0
	for obj := range p.mc.ListObjects(ctx, p.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return 0, fmt.Errorf("list bucket %s: %w", p.bucket, obj.Err)
		}
		n++
	}
	return n, nil
}
