// Package intake is the upload pipeline: files stream from the site into
// object storage while they are identified, hashed, checked and indexed,
// and join their case in one transaction with the job that renders their
// previews. DICOM originals are kept byte for byte; photos are kept only as
// the cleaned copy photo.Process writes (their originals may carry GPS).
//
// Objects are content-addressed inside each tenant:
//
//	orgs/{org}/tmp/{uuid}             a file while it streams in
//	orgs/{org}/uploads/{upload_id}    a presigned upload until it completes
//	orgs/{org}/blobs/{sha256}         the stored bytes of one or more files
//	orgs/{org}/derived/{file_id}/...  thumbnail and preview
//
// No key ever contains user input.
package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/photo"
)

// File is one file of a case: a DICOM instance or a cleaned photo.
type File = intakedb.File

// The kinds of file.
const (
	KindDICOM = "dicom"
	KindPhoto = "photo"
)

// The preview states of a file.
const (
	PreviewPending = "pending"
	// PreviewDeferred is a DICOM instance after the first of its series:
	// rendered when first viewed (OpenDerived), not on the ingest path.
	PreviewDeferred    = "deferred"
	PreviewReady       = "ready"
	PreviewUnavailable = "unavailable"
	PreviewFailed      = "failed"
)

// Default limits; see Options.
const (
	DefaultMaxFileBytes     = 4 << 30
	DefaultMaxPhotoBytes    = 100 << 20
	DefaultSinglePutMax     = 64 << 20
	DefaultPartSize         = 16 << 20
	DefaultURLExpiry        = 2 * time.Hour
	DefaultUploadTTL        = 24 * time.Hour
	DefaultOrphanGrace      = time.Hour
	DefaultPhotoConcurrency = 4
)

// Options are the limits of the pipeline. Zero values take the defaults.
type Options struct {
	// MaxFileBytes caps one DICOM file (and a presigned upload).
	MaxFileBytes int64
	// MaxPhotoBytes caps one photo as uploaded: photos are spooled to a
	// temporary file on disk before they are cleaned.
	MaxPhotoBytes int64
	// Photo are the limits and quality thresholds of photo.Process.
	Photo photo.Options
	// TempDir is where photos are spooled; "" is the system's.
	TempDir string
	// PhotoConcurrency bounds the photos decoded at once (each holds one
	// decoded image in memory).
	PhotoConcurrency int
	// SinglePutMax is the largest presigned upload sent with one PUT; a
	// larger one is a multipart upload.
	SinglePutMax int64
	// DefaultPartSize is the part size of a multipart upload when the
	// client does not choose one.
	DefaultPartSize int64
	// URLExpiry is the lifetime of a presigned URL; GET on the upload
	// gives fresh ones.
	URLExpiry time.Duration
	// UploadTTL is how long a presigned upload may stay incomplete.
	UploadTTL time.Duration
	// OrphanGrace is the age from which the sweep aborts a multipart
	// upload under uploads/ that no pending or completing upload refers
	// to. It is far longer than the moment between starting a multipart
	// upload and committing its row.
	OrphanGrace time.Duration
	// KeyStaleAfter is how long an Idempotency-Key's in-flight claim
	// lives without being renewed; a request renews its claim every
	// KeyStaleAfter/4 while it runs, so only the claim of a request whose
	// process died goes stale and a retry takes it over.
	KeyStaleAfter time.Duration
	// Logger receives failures that answers only name (never patient data).
	Logger *slog.Logger
}

// DefaultKeyStaleAfter is Options.KeyStaleAfter unless set: a client's
// retries (409 with Retry-After) reach a key whose request died within a
// minute, instead of waiting for the hours-long upload claim.
const DefaultKeyStaleAfter = time.Minute

func (o Options) withDefaults() Options {
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxPhotoBytes <= 0 {
		o.MaxPhotoBytes = DefaultMaxPhotoBytes
	}
	if o.PhotoConcurrency <= 0 {
		o.PhotoConcurrency = DefaultPhotoConcurrency
	}
	if o.SinglePutMax <= 0 {
		o.SinglePutMax = DefaultSinglePutMax
	}
	if o.DefaultPartSize <= 0 {
		o.DefaultPartSize = DefaultPartSize
	}
	if o.URLExpiry <= 0 {
		o.URLExpiry = DefaultURLExpiry
	}
	if o.UploadTTL <= 0 {
		o.UploadTTL = DefaultUploadTTL
	}
	if o.OrphanGrace <= 0 {
		o.OrphanGrace = DefaultOrphanGrace
	}
	if o.KeyStaleAfter <= 0 {
		o.KeyStaleAfter = DefaultKeyStaleAfter
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Service ingests files into cases and serves them back.
type Service struct {
	pool   *pgxpool.Pool
	store  Storage
	cases  *cases.Service
	jobs   cases.JobInserter
	q      *intakedb.Queries
	opts   Options
	photos chan struct{}
	// renders bounds the deferred previews rendered on request.
	renders chan struct{}
	// small recycles the buffers of DICOM files read whole.
	small *sync.Pool
	// groups joins the single small files of concurrent requests into one
	// transaction (group.go).
	groups groups
}

// maxSmallDICOM is the largest DICOM file read whole into memory and put
// at its content address in one PUT; larger ones stream to a temporary
// object first.
const maxSmallDICOM = 2 << 20

// New returns a Service. store is the object storage (a *blob.Store). jobs
// enqueues the preview job of each new file in the transaction that adds
// it, and the clean-up jobs of compensating steps that failed.
func New(pool *pgxpool.Pool, store Storage, cs *cases.Service, jobs cases.JobInserter, opts Options) *Service {
	opts = opts.withDefaults()
	return &Service{pool: pool, store: store, cases: cs, jobs: jobs, q: intakedb.New(), opts: opts,
		photos: make(chan struct{}, opts.PhotoConcurrency), renders: make(chan struct{}, runtime.GOMAXPROCS(0)),
		small:  &sync.Pool{New: func() any { b := make([]byte, maxSmallDICOM+1); return &b }},
		groups: groups{m: map[groupKey]*group{}}}
}

// PreviewArgs is the River job that renders a file's thumbnail and
// preview. It carries the id only.
type PreviewArgs struct {
	FileID uuid.UUID `json:"file_id"`
}

// Kind names the job.
func (PreviewArgs) Kind() string { return "preview" }

// InsertOpts gives rendering fewer attempts than River's default: a file
// that fails ten times with back-off is marked failed.
func (PreviewArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 10} }

// Warning is a problem with an accepted file that the sender should see: a
// photo quality check, or a DICOM patient that does not match the case.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Value is the measured value behind a quality warning.
	Value *float64 `json:"value,omitempty"`
	// Fields names what differs, for patient_mismatch.
	Fields []string `json:"fields,omitempty"`
}

// Warnings decodes a file's warnings.
func Warnings(f File) []Warning {
	var ws []Warning
	_ = json.Unmarshal(f.Warnings, &ws)
	if ws == nil {
		ws = []Warning{}
	}
	return ws
}

// Metadata decodes a file's metadata: what was stripped from a photo, or
// the technical attributes of a DICOM instance.
func Metadata(f File) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(f.Metadata, &m)
	return m
}

// Object keys. None contains user input.
func tmpKey(org uuid.UUID) string { return fmt.Sprintf("orgs/%s/tmp/%s", org, uuid.New()) }

// objectKey is the key of a staged object: a large file's own, written once
// (migrations/00018).
func objectKey(org uuid.UUID) string { return fmt.Sprintf("orgs/%s/objects/%s", org, uuid.New()) }

func blobKey(org uuid.UUID, sha string) string { return fmt.Sprintf("orgs/%s/blobs/%s", org, sha) }

func uploadKey(org, id uuid.UUID) string { return fmt.Sprintf("orgs/%s/uploads/%s", org, id) }

func derivedKey(org, file uuid.UUID, name string) string {
	return fmt.Sprintf("orgs/%s/derived/%s/%s", org, file, name)
}

// cleanupCtx is for removing objects after a failure: it outlives a
// cancelled request, but not forever.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}
