package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/client"
)

// presigner sends instances through the presigned path end to end, as
// `teleread upload` does for a large file: create the upload (with the
// file's SHA-256, computed before timing, as a sender that hashed while
// reading the file would have it), PUT its parts to object storage
// straight from the client, partC at a time, then complete it, which
// verifies the object and adopts it without a copy.
type presigner struct {
	c        *client.Client
	caseIDs  []string
	partSize int64
	partC    int
	mu       sync.Mutex
	sums     map[string]string // instance name -> SHA-256
}

// hashAll computes the SHA-256 of every instance (untimed).
func (p *presigner) hashAll(files []instance) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sums == nil {
		p.sums = map[string]string{}
	}
	for _, f := range files {
		if _, ok := p.sums[f.name]; ok {
			continue
		}
		h := sha256.New()
		if _, err := io.Copy(h, f.reader()); err != nil {
			return fmt.Errorf("hash %s: %w", f.name, err)
		}
		p.sums[f.name] = hex.EncodeToString(h.Sum(nil))
	}
	return nil
}

func (p *presigner) upload(ctx context.Context, r request) error {
	for _, f := range r.files {
		if err := p.one(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func (p *presigner) one(ctx context.Context, f instance) error {
	caseID, err := uuid.Parse(p.caseIDs[f.study])
	if err != nil {
		return err
	}
	p.mu.Lock()
	sum := p.sums[f.name]
	p.mu.Unlock()
	up, err := p.c.CreateUpload(ctx, caseID, api.CreateUploadRequest{Filename: f.name, Size: f.size(), SHA256: sum,
		ContentType: "application/dicom", PartSize: p.partSize}, "")
	if err != nil {
		return fmt.Errorf("create upload of %s: %w", f.name, err)
	}
	section := func(off, n int64) client.Body {
		return client.Body{Size: n, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(f, off, n)), nil
		}}
	}
	if m := up.Multipart; m != nil {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(p.partC)
		for _, part := range m.Missing {
			off := int64(part.PartNumber-1) * m.PartSize
			g.Go(func() error {
				if _, err := p.c.PutPresigned(gctx, part.URL, section(off, part.Size)); err != nil {
					return fmt.Errorf("part %d of %s: %w", part.PartNumber, f.name, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	} else if _, err := p.c.PutPresigned(ctx, up.URL, section(0, f.size())); err != nil {
		return fmt.Errorf("put %s: %w", f.name, err)
	}
	ans, err := p.c.CompleteUpload(ctx, caseID, up.ID)
	if err != nil {
		return fmt.Errorf("complete upload of %s: %w", f.name, err)
	}
	for _, fr := range ans.Files {
		if fr.Status != "accepted" {
			return fmt.Errorf("upload: %s was %s: %s", fr.Filename, fr.Status, fr.Reason)
		}
	}
	return nil
}

// multipartPutter is the presigned path's floor: minio-go's own multipart
// upload of the same bytes with the same part size and parallelism.
type multipartPutter struct {
	mc       *minio.Client
	bucket   string
	prefix   string
	partSize int64
	partC    int
}

func (p *multipartPutter) put(ctx context.Context, r request) error {
	for _, f := range r.files {
		_, err := p.mc.PutObject(ctx, p.bucket, p.prefix+f.name, f.reader(), f.size(), minio.PutObjectOptions{
			ContentType: "application/dicom", PartSize: uint64(p.partSize), NumThreads: uint(p.partC)})
		if err != nil {
			return fmt.Errorf("multipart put %s/%s: %w", p.bucket, p.prefix+f.name, err)
		}
	}
	return nil
}
