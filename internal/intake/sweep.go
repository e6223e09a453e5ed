package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/teleread/teleread/internal/intake/intakedb"
)

// KeyRetention is how long an Idempotency-Key and its answer are kept.
const KeyRetention = 24 * time.Hour

// tmpRetention is the age at which a temporary object is surely left over
// from a process that died while streaming it.
const tmpRetention = 24 * time.Hour

// Sweep expires presigned uploads that were never completed (aborting
// their multipart uploads and deleting their bytes), forgets idempotency
// keys older than KeyRetention, and deletes temporary objects left by
// processes that died mid-upload. It is safe to run from several workers.
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
			if err := s.store.Delete(ctx, u.ObjectKey); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.q.UploadFinish(ctx, s.pool, intakedb.UploadFinishParams{Status: UploadExpired,
				Error: "the upload was not completed in time", ID: u.ID}); err != nil {
				return fmt.Errorf("expire upload: %w", err)
			}
		}
		if len(expired) < 100 || len(errs) > 0 {
			break
		}
	}
	if _, err := s.q.IdempotencyDeleteOld(ctx, s.pool, KeyRetention); err != nil {
		errs = append(errs, fmt.Errorf("delete old idempotency keys: %w", err))
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
