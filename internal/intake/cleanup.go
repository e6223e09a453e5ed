package intake

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/postgres"
)

// The clean-up actions a CleanupArgs job finishes.
const (
	// CleanupAbortMultipart aborts a multipart upload that no live upload
	// refers to (its row was never written, or it was refused).
	CleanupAbortMultipart = "abort_multipart"
	// CleanupDeleteObject deletes a temporary object or the bytes of a
	// finished presigned upload.
	CleanupDeleteObject = "delete_object"
	// CleanupRemoveBlob deletes a stored object once no file refers to it.
	CleanupRemoveBlob = "remove_blob"
	// CleanupReleaseUpload gives a claimed presigned upload back to its
	// client after a completion that failed.
	CleanupReleaseUpload = "release_upload"
	// CleanupReleaseKey forgets an in-flight Idempotency-Key after a
	// request that failed.
	CleanupReleaseKey = "release_key"
)

// CleanupArgs is the River job that retries a compensating step which
// failed inline (an abort, a delete, a release). It carries ids and object
// keys only; object keys never contain user input. Every action is
// idempotent.
type CleanupArgs struct {
	Action string    `json:"action"`
	OrgID  uuid.UUID `json:"org_id"`
	// Key is the object key (abort_multipart, delete_object, remove_blob)
	// or the Idempotency-Key (release_key).
	Key string `json:"key,omitempty"`
	// MultipartID is the multipart upload to abort.
	MultipartID string `json:"multipart_id,omitempty"`
	// UploadID and ClaimedAt name the claim of a presigned upload to
	// release; ClaimedAt of release_key is the time of the claim to release.
	UploadID  uuid.UUID `json:"upload_id,omitempty"`
	ClaimedAt time.Time `json:"claimed_at,omitzero"`
}

// Kind names the job.
func (CleanupArgs) Kind() string { return "intake_cleanup" }

// InsertOpts keeps River's default attempts (25, with back-off over about
// three weeks): a clean-up is cheap and must not be lost.
func (CleanupArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{} }

// ownKey reports whether key is a temporary object or a presigned upload,
// not a content-addressed blob (removed only by remove_blob, under lock).
func ownKey(key string) bool {
	return uploadKeyRe.MatchString(key) || tmpKeyRe.MatchString(key) || objectKeyRe.MatchString(key)
}

// Cleanup carries out one clean-up job. It is idempotent: an upload or
// object already gone, or a claim already released, is done.
func (s *Service) Cleanup(ctx context.Context, a CleanupArgs) error {
	switch a.Action {
	case CleanupAbortMultipart:
		if !ownKey(a.Key) || a.MultipartID == "" {
			return apperr.New(apperr.Invalid, "clean-up: bad multipart upload %q", a.Key)
		}
		live, err := s.q.UploadLive(ctx, s.pool, intakedb.UploadLiveParams{ObjectKey: a.Key, MultipartID: &a.MultipartID})
		if err != nil {
			return fmt.Errorf("check upload: %w", err)
		}
		if live {
			return nil // a client may still send its parts
		}
		return s.store.AbortMultipart(ctx, a.Key, a.MultipartID)
	case CleanupDeleteObject:
		if !ownKey(a.Key) {
			return apperr.New(apperr.Invalid, "clean-up: bad object key %q", a.Key)
		}
		return s.deleteUploadObject(ctx, a.OrgID, a.Key)
	case CleanupRemoveBlob:
		return s.deleteUnreferenced(ctx, a.OrgID, a.Key)
	case CleanupReleaseUpload:
		claimed := a.ClaimedAt
		if err := s.q.UploadRelease(ctx, s.pool, intakedb.UploadReleaseParams{ID: a.UploadID, OrgID: a.OrgID,
			ClaimedAt: &claimed}); err != nil {
			return fmt.Errorf("release upload: %w", err)
		}
		return nil
	case CleanupReleaseKey:
		if err := s.q.IdempotencyRelease(ctx, s.pool, intakedb.IdempotencyReleaseParams{OrgID: a.OrgID, Key: a.Key,
			ClaimedAt: a.ClaimedAt}); err != nil {
			return fmt.Errorf("release idempotency key: %w", err)
		}
		return nil
	}
	return apperr.New(apperr.Invalid, "clean-up: unknown action %q", a.Action)
}

// deleteUploadObject deletes a temporary object, a staged object or a
// presigned upload's bytes, unless a file adopted them (commit.go, adopt;
// for example a completion that committed its file but died before it
// marked the upload completed).
func (s *Service) deleteUploadObject(ctx context.Context, org uuid.UUID, key string) error {
	if uploadKeyRe.MatchString(key) || objectKeyRe.MatchString(key) {
		used, err := s.q.FileBlobInUse(ctx, s.pool, intakedb.FileBlobInUseParams{OrgID: org, BlobKey: key})
		if err != nil {
			return fmt.Errorf("check object %s: %w", key, err)
		}
		if used {
			return nil
		}
	}
	return s.store.Delete(ctx, key)
}

// compensate reports a compensating step that failed (ids only, never
// patient data) and enqueues a job that retries it. If even that fails,
// the sweep is the last resort: it aborts multipart uploads without a live
// row and removes old temporary objects, an upload's claim goes stale
// after claimStaleAfter and an idempotency key's after KeyStaleAfter.
func (s *Service) compensate(ctx context.Context, a CleanupArgs, failure error) {
	log := s.opts.Logger.With("action", a.Action, "org_id", a.OrgID)
	if a.UploadID != uuid.Nil {
		log = log.With("upload_id", a.UploadID)
	}
	if a.Key != "" && a.Action != CleanupReleaseKey {
		log = log.With("object_key", a.Key) // made of ids only
	}
	log.WarnContext(ctx, "clean-up failed; retrying it as a job", "error", failure.Error())
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	err := postgres.InTx(cctx, s.pool, func(tx pgx.Tx) error {
		_, err := s.jobs.InsertTx(cctx, tx, a, nil)
		return err
	})
	if err != nil {
		log.ErrorContext(ctx, "enqueue clean-up job", "error", err.Error())
	}
}
