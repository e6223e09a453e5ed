// Package blob stores bytes in S3-compatible object storage (MinIO) with
// minio-go: streaming puts that compute SHA-256 on the way, content-addressed
// keys per tenant, reads with ranges, presigned URLs and deletes. It is the
// only package that imports minio-go.
package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/teleread/teleread/internal/apperr"
)

// PartSize is the multipart part size used for streaming puts. It bounds the
// memory one upload holds (one part buffer) and, with S3's 10,000-part limit,
// the largest object (80 GiB).
const PartSize = 8 << 20

// Config says where the storage is.
type Config struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	UseTLS    bool
	Region    string
}

// Store is a bucket in an S3-compatible server.
type Store struct {
	client *minio.Client
	bucket string
	region string
	// parts recycles Put's part buffers, so that concurrent uploads reuse
	// memory instead of allocating a part each.
	parts *sync.Pool
}

// Info describes a stored object.
type Info struct {
	Key          string
	Size         int64
	SHA256       string // hex; empty when not known
	ContentType  string
	ETag         string
	LastModified time.Time
}

// New returns a Store for cfg. It does not contact the server; call
// EnsureBucket or Ping for that.
func New(cfg Config) (*Store, error) {
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.UseTLS,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("object storage client for %s: %w", cfg.Endpoint, err)
	}
	parts := &sync.Pool{New: func() any { b := make([]byte, PartSize); return &b }}
	return &Store{client: client, bucket: cfg.Bucket, region: cfg.Region, parts: parts}, nil
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// EnsureBucket creates the bucket when it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("check bucket %s: %w", s.bucket, translate(err))
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Ping checks that the server answers and the bucket exists.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("object storage: %w", translate(err))
	}
	if !ok {
		return fmt.Errorf("object storage: bucket %s does not exist", s.bucket)
	}
	return nil
}

// Put streams r into key and returns its size and SHA-256, computed while
// streaming. size is the exact length when known, or -1. The bytes are never
// held in memory beyond one part buffer.
//
// When the size is unknown, Put first reads up to one part into a pooled
// buffer: an object that fits (most DICOM instances and photos) goes up in a
// single PUT of known length instead of a three-request multipart upload
// with a fresh part buffer, which measured about 40% of MinIO's CPU per
// file (docs/benchmarks.md).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (Info, error) {
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	var body io.Reader = cr
	putSize := size
	if size < 0 {
		bp := s.parts.Get().(*[]byte)
		defer s.parts.Put(bp)
		n, err := io.ReadFull(cr, *bp)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			body, putSize = bytes.NewReader((*bp)[:n]), int64(n)
		case err != nil:
			return Info{}, fmt.Errorf("put %s: read: %w", key, err)
		default:
			body = io.MultiReader(bytes.NewReader((*bp)[:n]), cr)
		}
	}
	if putSize > PartSize {
		return s.putStream(ctx, key, cr, h, size, contentType)
	}
	up, err := s.client.PutObject(ctx, s.bucket, key, body, putSize, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    PartSize,
		NumThreads:  1,
		// The payload is not hashed a second time for the request's
		// signature (UNSIGNED-PAYLOAD, as minio-go always does over TLS):
		// Put computes the SHA-256 that is recorded, and over plain HTTP
		// (development, loopback) the streaming signature cost a second
		// SHA-256 and about an eighth of the bytes in allocations.
		DisableContentSha256: true,
	})
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, translate(err))
	}
	if size >= 0 && cr.n != size {
		_ = s.Delete(context.WithoutCancel(ctx), key)
		return Info{}, apperr.New(apperr.Invalid, "body was %d bytes, expected %d", cr.n, size)
	}
	return Info{Key: key, Size: up.Size, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: contentType, ETag: up.ETag}, nil
}

// StreamPartSize is the part size of a streaming put of known length. No
// part is buffered (each streams from the reader with its length known), so
// it costs no memory; large parts mean few requests (a 2 GB file in 32).
// With S3's 10,000-part limit it allows objects of 640 GiB.
const StreamPartSize = 64 << 20

// putStream is Put of a body of known size above one part: a multipart
// upload whose parts stream from cr one after the other, each with its
// length known, so that no part is held in memory (minio-go's PutObject
// reads each part of a stream into a fresh buffer of the part size, which
// 8 uploads of 2 GB at once would hold 8 times). A failure aborts the
// multipart upload.
func (s *Store) putStream(ctx context.Context, key string, cr *countingReader, h hash.Hash, size int64, contentType string) (Info, error) {
	core := s.core()
	id, err := core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return Info{}, fmt.Errorf("put %s: start multipart upload: %w", key, translate(err))
	}
	var parts []minio.CompletePart
	fail := func(err error) (Info, error) {
		_ = s.AbortMultipart(context.WithoutCancel(ctx), key, id)
		return Info{}, err
	}
	for off, n := int64(0), 1; off < size; n++ {
		l := min(StreamPartSize, size-off)
		before := cr.n
		part, err := core.PutObjectPart(ctx, s.bucket, key, id, n, io.LimitReader(cr, l), l,
			minio.PutObjectPartOptions{DisableContentSha256: true})
		if err != nil {
			// The body ended early only if it said so; a part the object
			// store refused midway (a full disk) is the store's failure.
			if cr.eof && cr.n-before < l {
				return fail(apperr.New(apperr.Invalid, "body ended after %d bytes, expected %d", cr.n, size))
			}
			return fail(fmt.Errorf("put %s: part %d: %w", key, n, translate(err)))
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: part.ETag})
		off += l
	}
	// The body must end where its length said.
	if m, _ := cr.Read(make([]byte, 1)); m > 0 {
		return fail(apperr.New(apperr.Invalid, "body was longer than %d bytes", size))
	}
	up, err := core.CompleteMultipartUpload(ctx, s.bucket, key, id, parts, minio.PutObjectOptions{})
	if err != nil {
		return fail(fmt.Errorf("put %s: complete multipart upload: %w", key, translate(err)))
	}
	return Info{Key: key, Size: size, SHA256: hex.EncodeToString(h.Sum(nil)), ContentType: contentType, ETag: up.ETag}, nil
}

// Stat returns the object's metadata, or an apperr NotFound.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, translate(err))
	}
	return infoOf(oi), nil
}

// Get opens the object for reading. offset and length select a range;
// length < 0 reads to the end. The caller closes the reader.
func (s *Store) Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error) {
	opts := minio.GetObjectOptions{}
	if offset > 0 || length >= 0 {
		end := int64(0)
		if length >= 0 {
			end = offset + length - 1
		}
		if err := opts.SetRange(offset, end); err != nil {
			return nil, Info{}, apperr.Wrap(err, apperr.Invalid, "invalid range")
		}
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, Info{}, fmt.Errorf("get %s: %w", key, translate(err))
	}
	oi, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, Info{}, fmt.Errorf("get %s: %w", key, translate(err))
	}
	return obj, infoOf(oi), nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, translate(err))
	}
	return nil
}

// PresignPut returns a URL that writes key until expiry.
func (s *Store) PresignPut(ctx context.Context, key string, expiry time.Duration) (*url.URL, error) {
	u, err := s.client.PresignedPutObject(ctx, s.bucket, key, expiry)
	if err != nil {
		return nil, fmt.Errorf("presign put %s: %w", key, translate(err))
	}
	return u, nil
}

// DeletePrefix removes every object under prefix. Tests use it to clean up.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	objects := s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	for rerr := range s.client.RemoveObjects(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		return fmt.Errorf("delete %s: %w", rerr.ObjectName, rerr.Err)
	}
	return nil
}

// RemoveBucket deletes every object and then the bucket. Tests use it.
func (s *Store) RemoveBucket(ctx context.Context) error {
	if err := s.DeletePrefix(ctx, ""); err != nil {
		return err
	}
	if err := s.client.RemoveBucket(ctx, s.bucket); err != nil {
		return fmt.Errorf("remove bucket %s: %w", s.bucket, err)
	}
	return nil
}

func infoOf(oi minio.ObjectInfo) Info {
	return Info{Key: oi.Key, Size: oi.Size, ContentType: oi.ContentType, ETag: oi.ETag, LastModified: oi.LastModified,
		SHA256: oi.UserMetadata["Sha256"]}
}

// Retry-After of the answers when object storage cannot be used.
const (
	unavailableRetryAfter = 10
	fullRetryAfter        = 60
)

// translate maps storage "not found" answers to apperr.NotFound, and an
// object store that cannot be reached (refused or dropped connections,
// timeouts) or answers with a server error (5xx, a full drive) to
// apperr.Unavailable with a Retry-After: the request was fine, the client
// sends it again later (the fault drills in internal/faults hold this).
// A cancelled request stays what it is.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	resp := minio.ToErrorResponse(err)
	var ue *url.Error
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey" || resp.Code == "NoSuchBucket":
		return apperr.Wrap(err, apperr.NotFound, "object not found")
	case resp.StatusCode == http.StatusInsufficientStorage || resp.Code == "XMinioStorageFull" ||
		resp.Code == "XMinioAdminBucketQuotaExceeded":
		return &apperr.Error{Code: apperr.Unavailable, RetryAfterSeconds: fullRetryAfter, Err: err,
			Message: "object storage is full: nothing was stored; send it again later"}
	case resp.StatusCode >= http.StatusInternalServerError:
		return &apperr.Error{Code: apperr.Unavailable, RetryAfterSeconds: unavailableRetryAfter, Err: err,
			Message: "object storage failed to answer; send it again later"}
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &ue) || isNetwork(err):
		return &apperr.Error{Code: apperr.Unavailable, RetryAfterSeconds: unavailableRetryAfter, Err: err,
			Message: "object storage is unreachable; send it again later"}
	}
	return err
}

// isNetwork reports a failure of the connection to the object store.
func isNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

type countingReader struct {
	r   io.Reader
	n   int64
	eof bool // the body ended
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		c.eof = true
	}
	return n, err
}
