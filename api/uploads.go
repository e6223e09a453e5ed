package api

import (
	"time"

	"github.com/google/uuid"
)

// IdempotencyKeyHeader makes a POST safe to retry: the first answer is kept
// and replayed, marked with the Idempotent-Replayed header.
const IdempotencyKeyHeader = "Idempotency-Key"

// IdempotentReplayedHeader is "true" on an answer replayed for a retry.
const IdempotentReplayedHeader = "Idempotent-Replayed"

// The outcomes of one file of an upload (FileResult.Status).
const (
	FileAccepted = "accepted"
	FileRejected = "rejected"
)

// The states of a presigned upload (Upload.Status).
const (
	UploadPending    = "pending"
	UploadCompleting = "completing"
	UploadCompleted  = "completed"
	UploadFailed     = "failed"
	UploadExpired    = "expired"
)

// FileResult is the outcome of one file of an upload (schema FileResult):
// the file when accepted, the reason when rejected.
type FileResult struct {
	Filename string `json:"filename"`
	// Status is FileAccepted or FileRejected.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	File   *File  `json:"file,omitempty"`
}

// UploadAnswer is the 201 answer of POST /api/v1/cases/{id}/files and of
// completing a presigned upload (schema UploadAnswer). When no file is
// accepted the answer is a Problem whose Details is the []FileResult.
type UploadAnswer struct {
	Files    []FileResult `json:"files"`
	Accepted int          `json:"accepted"`
	Rejected int          `json:"rejected"`
}

// CreateUploadRequest is the body of POST /api/v1/cases/{id}/uploads,
// which opens a presigned upload and answers an Upload.
type CreateUploadRequest struct {
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the bytes to come.
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	// PartSize, if set, asks for a multipart upload in parts of that size.
	PartSize int64 `json:"part_size"`
}

// UploadPart is one part of a multipart upload (schema UploadPart): with
// its ETag once arrived, or the URL to PUT it to while missing.
type UploadPart struct {
	PartNumber int    `json:"part_number"`
	Size       int64  `json:"size"`
	ETag       string `json:"etag,omitempty"`
	URL        string `json:"url,omitempty"`
}

// UploadMultipart is the state of a multipart presigned upload.
type UploadMultipart struct {
	PartSize  int64        `json:"part_size"`
	PartCount int          `json:"part_count"`
	Arrived   []UploadPart `json:"arrived"`
	Missing   []UploadPart `json:"missing"`
}

// Upload is a presigned upload (schema Upload): where to send the bytes
// straight to object storage, and then where to complete it.
type Upload struct {
	ID          uuid.UUID `json:"id"`
	CaseID      uuid.UUID `json:"case_id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	// Status is one of the Upload* states; Error says why it failed.
	Status    string     `json:"status"`
	Error     string     `json:"error,omitempty"`
	FileID    *uuid.UUID `json:"file_id,omitempty"`
	ExpiresAt time.Time  `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	// Method and URL send a single-PUT upload while it has not arrived.
	Method   string `json:"method,omitempty"`
	URL      string `json:"url,omitempty"`
	Received bool   `json:"received"`
	// Multipart lists the parts that arrived and URLs for the others.
	Multipart    *UploadMultipart `json:"multipart,omitempty"`
	URLsExpireAt *time.Time       `json:"urls_expire_at,omitempty"`
	// StatusURL answers this Upload again; a POST to CompleteURL joins
	// the arrived file to its case and answers an UploadAnswer.
	StatusURL   string `json:"status_url"`
	CompleteURL string `json:"complete_url"`
}
