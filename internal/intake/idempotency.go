package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
)

// KeyRecord is an Idempotency-Key already used by the caller's
// organisation: the request it was used for and, once answered, the
// answer (an HTTP status and JSON body, kept opaque here).
type KeyRecord struct {
	Route       string
	RequestHash string
	Done        bool
	Status      int
	Response    []byte
}

// CheckKey validates an Idempotency-Key header value: 1 to 200 printable
// ASCII characters.
func CheckKey(key string) error {
	if len(key) == 0 || len(key) > 200 {
		return apperr.New(apperr.Invalid, "the Idempotency-Key header must be 1 to 200 characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7E {
			return apperr.New(apperr.Invalid, "the Idempotency-Key header must be printable ASCII without spaces")
		}
	}
	return nil
}

// ClaimKey records key as in flight for route with a provisional request
// hash. It returns nil when the caller now holds the key, or the record of
// the earlier request that used it. A request in flight for longer than
// claimStaleAfter is taken to have died and its key is taken over.
func (s *Service) ClaimKey(ctx context.Context, p *identity.Principal, key, route, hash string) (*KeyRecord, error) {
	_, err := s.q.IdempotencyClaim(ctx, s.pool, intakedb.IdempotencyClaimParams{OrgID: p.OrgID, Key: key, Route: route, RequestHash: hash})
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	_, err = s.q.IdempotencyTakeOver(ctx, s.pool, intakedb.IdempotencyTakeOverParams{OrgID: p.OrgID, Key: key,
		Route: route, RequestHash: hash, StaleAfter: claimStaleAfter})
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("take over idempotency key: %w", err)
	}
	k, err := s.q.IdempotencyGet(ctx, s.pool, intakedb.IdempotencyGetParams{OrgID: p.OrgID, Key: key})
	if errors.Is(err, pgx.ErrNoRows) {
		// Released between the two statements: try once more.
		return s.ClaimKey(ctx, p, key, route, hash)
	}
	if err != nil {
		return nil, fmt.Errorf("load idempotency key: %w", err)
	}
	rec := &KeyRecord{Route: k.Route, RequestHash: k.RequestHash, Response: k.Response}
	if k.StatusCode != nil {
		rec.Done, rec.Status = true, int(*k.StatusCode)
	}
	return rec, nil
}

// FinishKey stores the answer to the request that holds key, with its
// final request hash, so that a retry replays it.
func (s *Service) FinishKey(ctx context.Context, p *identity.Principal, key, hash string, status int, response []byte) error {
	st := int32(status)
	err := s.q.IdempotencyFinish(ctx, s.pool, intakedb.IdempotencyFinishParams{OrgID: p.OrgID, Key: key,
		RequestHash: hash, StatusCode: &st, Response: response})
	if err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// ReleaseKey forgets an in-flight key whose request ended without an
// answer worth replaying (an error), so that a retry runs again. A failure
// is retried by a clean-up job (without it a retry would get 409 until the
// key goes stale).
func (s *Service) ReleaseKey(ctx context.Context, p *identity.Principal, key string) {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	// The claim being released was made before now (a minute allows for
	// this process's clock behind the database's): a release retried by a
	// job later frees no claim made after that.
	before := time.Now().Add(time.Minute)
	err := s.q.IdempotencyRelease(cctx, s.pool, intakedb.IdempotencyReleaseParams{OrgID: p.OrgID, Key: key, ClaimedBefore: before})
	if err != nil {
		s.compensate(ctx, CleanupArgs{Action: CleanupReleaseKey, OrgID: p.OrgID, Key: key, ClaimedAt: before}, err)
	}
}
