package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/teleread/teleread/internal/apperr"
)

// S3 limits of multipart uploads.
const (
	// MinPartSize is the smallest part but the last.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part.
	MaxPartSize = 5 << 30
	// MaxParts is the most parts one upload may have.
	MaxParts = 10000
)

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number int
	Size   int64
	ETag   string
}

// Promote copies the object at tmpKey to finalKey with a server-side copy
// (a multipart copy above 5 GiB), recording sha256 and contentType on it.
// When finalKey already exists it holds the same bytes (keys are content
// addresses), so nothing is copied and existed is true: the bytes are never
// stored twice. tmpKey is left in place: the caller removes it once the
// file is committed (or refused), so a failed commit can be retried.
func (s *Store) Promote(ctx context.Context, tmpKey, finalKey, sha256, contentType string) (existed bool, err error) {
	if _, err := s.Stat(ctx, finalKey); err == nil {
		return true, nil
	} else if !apperr.Is(err, apperr.NotFound) {
		return false, err
	}
	_, err = s.client.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: finalKey, ContentType: contentType,
			ReplaceMetadata: true, UserMetadata: map[string]string{"Sha256": sha256, "Content-Type": contentType}},
		minio.CopySrcOptions{Bucket: s.bucket, Object: tmpKey})
	if err != nil {
		return false, fmt.Errorf("copy %s to %s: %w", tmpKey, finalKey, translate(err))
	}
	return false, nil
}

// PutBytes stores data, whose SHA-256 (hex) the caller computed, at
// finalKey, a content address, in one PUT of known length, recording sha256
// and contentType on it: what Promote does for a temporary object, without
// the temporary object, the copy and the delete. The request is signed with
// that SHA-256 as its payload hash (not hashed again by the client), so the
// object store checks the bytes against it. The PUT is conditional
// (If-None-Match: *): when finalKey already exists it holds the same bytes,
// the object store keeps it, and existed is true. One request either way.
func (s *Store) PutBytes(ctx context.Context, finalKey string, data []byte, sha256, contentType string) (existed bool, err error) {
	opts := minio.PutObjectOptions{ContentType: contentType, UserMetadata: map[string]string{"Sha256": sha256},
		DisableContentSha256: true}
	opts.SetMatchETagExcept("*")
	_, err = s.core().PutObject(ctx, s.bucket, finalKey, bytes.NewReader(data), int64(len(data)), "", sha256, opts)
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusPreconditionFailed {
			return true, nil
		}
		return false, fmt.Errorf("put %s: %w", finalKey, translate(err))
	}
	return false, nil
}

// core returns the low-level S3 API of the client.
func (s *Store) core() minio.Core { return minio.Core{Client: s.client} }

// NewMultipart starts a multipart upload to key and returns its id.
func (s *Store) NewMultipart(ctx context.Context, key, contentType string) (string, error) {
	id, err := s.core().NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return "", fmt.Errorf("start multipart upload %s: %w", key, translate(err))
	}
	return id, nil
}

// PresignPart returns a URL that uploads part number part (from 1) of the
// multipart upload uploadID with a PUT, until expiry.
func (s *Store) PresignPart(ctx context.Context, key, uploadID string, part int, expiry time.Duration) (*url.URL, error) {
	params := url.Values{"uploadId": {uploadID}, "partNumber": {strconv.Itoa(part)}}
	u, err := s.client.Presign(ctx, "PUT", s.bucket, key, expiry, params)
	if err != nil {
		return nil, fmt.Errorf("presign part %d of %s: %w", part, key, translate(err))
	}
	return u, nil
}

// ListParts returns the parts of the multipart upload uploadID that have
// arrived, by part number. An upload that no longer exists (completed or
// aborted) is an apperr NotFound.
func (s *Store) ListParts(ctx context.Context, key, uploadID string) ([]Part, error) {
	var parts []Part
	marker := 0
	for {
		res, err := s.core().ListObjectParts(ctx, s.bucket, key, uploadID, marker, 1000)
		if err != nil {
			if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
				return nil, apperr.Wrap(err, apperr.NotFound, "multipart upload not found")
			}
			return nil, fmt.Errorf("list parts of %s: %w", key, translate(err))
		}
		for _, p := range res.ObjectParts {
			parts = append(parts, Part{Number: p.PartNumber, Size: p.Size, ETag: p.ETag})
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			break
		}
		marker = res.NextPartNumberMarker
	}
	slices.SortFunc(parts, func(a, b Part) int { return a.Number - b.Number })
	return parts, nil
}

// CompleteMultipart joins parts, in order, into the object.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error {
	cp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cp[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag}
	}
	if _, err := s.core().CompleteMultipartUpload(ctx, s.bucket, key, uploadID, cp, minio.PutObjectOptions{}); err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "InvalidPart" || code == "EntityTooSmall" || code == "InvalidPartOrder" {
			return apperr.Wrap(err, apperr.Conflict, "the uploaded parts cannot be joined (%s): every part but the last must be at least 5 MiB", code)
		}
		return fmt.Errorf("complete multipart upload %s: %w", key, translate(err))
	}
	return nil
}

// AbortMultipart discards a multipart upload and its parts; an upload that
// no longer exists is not an error.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	err := s.core().AbortMultipartUpload(ctx, s.bucket, key, uploadID)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return fmt.Errorf("abort multipart upload %s: %w", key, translate(err))
	}
	return nil
}

// DeleteOlder removes the objects under prefix last modified before
// before, and returns how many it removed.
func (s *Store) DeleteOlder(ctx context.Context, prefix string, before time.Time) (int, error) {
	n := 0
	var errs []error
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return n, fmt.Errorf("list %s: %w", prefix, translate(oi.Err))
		}
		if !oi.LastModified.Before(before) {
			continue
		}
		if err := s.Delete(ctx, oi.Key); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// List returns the keys under prefix, in key order.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, translate(oi.Err))
		}
		keys = append(keys, oi.Key)
	}
	return keys, nil
}

// Multipart is a multipart upload in progress.
type Multipart struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// ListUploads returns the multipart uploads in progress whose keys start
// with prefix, in key order. The intake sweep uses it to find uploads that
// no row refers to.
//
// MinIO lists multipart uploads only for an exact key or for the whole
// bucket (a shorter prefix answers nothing), so the whole bucket is listed
// and filtered here; S3 gives the same answer.
func (s *Store) ListUploads(ctx context.Context, prefix string) ([]Multipart, error) {
	var out []Multipart
	keyMarker, idMarker := "", ""
	for {
		res, err := s.core().ListMultipartUploads(ctx, s.bucket, "", keyMarker, idMarker, "", 1000)
		if err != nil {
			return nil, fmt.Errorf("list multipart uploads %s: %w", prefix, translate(err))
		}
		for _, u := range res.Uploads {
			if strings.HasPrefix(u.Key, prefix) {
				out = append(out, Multipart{Key: u.Key, UploadID: u.UploadID, Initiated: u.Initiated})
			}
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			break
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	return out, nil
}
