package intake

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/teleread/teleread/internal/intake/intakedb"
)

// The keys of multipart uploads intake starts: presigned uploads, and
// streaming puts of temporary objects larger than one part.
var (
	uploadKeyRe = regexp.MustCompile(`^orgs/[0-9a-f-]{36}/uploads/[0-9a-f-]{36}$`)
	tmpKeyRe    = regexp.MustCompile(`^orgs/[0-9a-f-]{36}/tmp/[0-9a-f-]{36}$`)
	objectKeyRe = regexp.MustCompile(`^orgs/[0-9a-f-]{36}/objects/[0-9a-f-]{36}$`)
)

// KeyRetention is how long an Idempotency-Key and its answer are kept.
const KeyRetention = 24 * time.Hour

// tmpRetention is the age at which a temporary object is surely left over
// from a process that died while streaming it.
const tmpRetention = 24 * time.Hour

// Sweep expires presigned uploads that were never completed (aborting
// their multipart uploads and deleting their bytes), aborts multipart
// uploads that no live upload refers to (see abortOrphans), forgets
// idempotency keys older than KeyRetention, and deletes temporary objects
// left by processes that died mid-upload, and adds photos missing from the
// photo index to it (BackfillPhotos). It is safe to run from several
// workers; an error is returned for River to run it again.
func (s *Service) Sweep(ctx context.Context) error {
	var errs []error
	for {
		expired, err := s.q.UploadListExpired(ctx, s.pool, intakedb.UploadListExpiredParams{StaleAfter: claimStaleAfter, Lim: 100})
		if err != nil {
			return fmt.Errorf("list expired uploads: %w", err)
		}
		for _, u := range expired {
			if u.MultipartID != nil {
				if err := s.store.AbortMultipart(ctx, u.ObjectKey, *u.MultipartID); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			if err := s.deleteUploadObject(ctx, u.OrgID, u.ObjectKey); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.q.UploadFinish(ctx, s.pool, intakedb.UploadFinishParams{Status: UploadExpired,
				Error: "the upload was not completed in time", ID: u.ID, OrgID: u.OrgID}); err != nil {
				return fmt.Errorf("expire upload: %w", err)
			}
		}
		if len(expired) < 100 || len(errs) > 0 {
			break
		}
	}
	if err := s.abortOrphans(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.removeStaged(ctx); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.q.IdempotencyDeleteOld(ctx, s.pool, KeyRetention); err != nil {
		errs = append(errs, fmt.Errorf("delete old idempotency keys: %w", err))
	}
	if n, err := s.BackfillPhotos(ctx); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		s.opts.Logger.InfoContext(ctx, "photos added to the photo index", "count", n)
	}
	orgs, err := s.q.OrgIDs(ctx, s.pool)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list organisations: %w", err))...)
	}
	before := time.Now().Add(-tmpRetention)
	for _, org := range orgs {
		if _, err := s.store.DeleteOlder(ctx, fmt.Sprintf("orgs/%s/tmp/", org), before); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeStaged deletes the staged objects (migrations/00018) older than
// tmpRetention that no file adopted: their upload was refused, failed, or
// its process died. An upload streams at most that long. The object may
// be gone already (removed when its upload was refused), or never have
// been completed: a process killed while streaming a large file leaves a
// multipart upload in progress under the staged key, which is aborted
// here too, so that the staged row accounts for everything its upload
// left (the SIGKILL drill in internal/faults holds this).
func (s *Service) removeStaged(ctx context.Context) error {
	var errs []error
	var inProgress map[string][]string // staged key → multipart upload ids, listed once
	for {
		old, err := s.q.StagedObjectsOld(ctx, s.pool, intakedb.StagedObjectsOldParams{OlderThan: tmpRetention, Lim: 100})
		if err != nil {
			return fmt.Errorf("list staged objects: %w", err)
		}
		if len(old) > 0 && inProgress == nil {
			listed, err := s.store.ListUploads(ctx, "orgs/")
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			inProgress = map[string][]string{}
			for _, m := range listed {
				inProgress[m.Key] = append(inProgress[m.Key], m.UploadID)
			}
		}
		removed := 0
		for _, o := range old {
			aborted := true
			for _, id := range inProgress[o.Key] {
				if err := s.store.AbortMultipart(ctx, o.Key, id); err != nil {
					errs = append(errs, err)
					aborted = false
				}
			}
			if !aborted {
				continue
			}
			if err := s.deleteUploadObject(ctx, o.OrgID, o.Key); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.q.StagedObjectDelete(ctx, s.pool, intakedb.StagedObjectDeleteParams{Key: o.Key, OrgID: o.OrgID}); err != nil {
				return errors.Join(append(errs, fmt.Errorf("forget staged object: %w", err))...)
			}
			removed++
		}
		if removed > 0 {
			s.opts.Logger.InfoContext(ctx, "removed staged objects no upload committed", "count", removed)
		}
		if len(old) < 100 || len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
}

// abortOrphans aborts the multipart uploads in object storage that nothing
// will complete: under uploads/, those started more than
// Options.OrphanGrace ago that no pending or completing upload refers to
// (the row was never written, or the abort after a refusal or expiry
// failed); under tmp/ and objects/, those of streaming puts older than
// tmpRetention (the process died). Their parts would otherwise be kept, and billed, forever.
func (s *Service) abortOrphans(ctx context.Context) error {
	listed, err := s.store.ListUploads(ctx, "orgs/")
	if err != nil {
		return err
	}
	var errs []error
	aborted := 0
	now := time.Now()
	for _, m := range listed {
		switch {
		case uploadKeyRe.MatchString(m.Key):
			if now.Sub(m.Initiated) < s.opts.OrphanGrace {
				continue
			}
			live, err := s.q.UploadLive(ctx, s.pool, intakedb.UploadLiveParams{ObjectKey: m.Key, MultipartID: &m.UploadID})
			if err != nil {
				errs = append(errs, fmt.Errorf("check upload: %w", err))
				continue
			}
			if live {
				continue
			}
		case tmpKeyRe.MatchString(m.Key), objectKeyRe.MatchString(m.Key):
			if now.Sub(m.Initiated) < tmpRetention {
				continue
			}
		default:
			continue
		}
		if err := s.store.AbortMultipart(ctx, m.Key, m.UploadID); err != nil {
			errs = append(errs, err)
			continue
		}
		aborted++
	}
	if aborted > 0 {
		s.opts.Logger.InfoContext(ctx, "aborted orphaned multipart uploads", "count", aborted)
	}
	return errors.Join(errs...)
}
