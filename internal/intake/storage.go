package intake

import (
	"context"
	"io"
	"net/url"
	"time"

	"github.com/teleread/teleread/internal/blob"
)

// Storage is what intake needs of object storage. *blob.Store is the one
// Teleread uses; tests wrap it to make one operation fail.
type Storage interface {
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (blob.Info, error)
	Stat(ctx context.Context, key string) (blob.Info, error)
	Get(ctx context.Context, key string, offset, length int64) (io.ReadCloser, blob.Info, error)
	Delete(ctx context.Context, key string) error
	DeleteOlder(ctx context.Context, prefix string, before time.Time) (int, error)
	Promote(ctx context.Context, tmpKey, finalKey, sha256, contentType string) (existed bool, err error)
	PutBytes(ctx context.Context, finalKey string, data []byte, sha256, contentType string) (existed bool, err error)
	PresignPut(ctx context.Context, key string, expiry time.Duration) (*url.URL, error)
	NewMultipart(ctx context.Context, key, contentType string) (string, error)
	PresignPart(ctx context.Context, key, uploadID string, part int, expiry time.Duration) (*url.URL, error)
	ListParts(ctx context.Context, key, uploadID string) ([]blob.Part, error)
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []blob.Part) error
	AbortMultipart(ctx context.Context, key, uploadID string) error
	ListUploads(ctx context.Context, prefix string) ([]blob.Multipart, error)
}

var _ Storage = (*blob.Store)(nil)
