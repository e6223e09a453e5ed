package intake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
)

// Keyed is a request and the Idempotency-Key it was sent with.
type Keyed struct {
	// Key is the Idempotency-Key; "" runs the request without one.
	Key string
	// Route names the request (method and path); a key is for one route.
	Route string
	// Hash is the request hash when it is known before the request runs;
	// otherwise a provisional one, and the run's Answer gives the final.
	Hash string
	// HashOf, when set, computes the hash of a request whose key was
	// answered before (it may read the body), to compare it with the
	// stored one; without it Hash is compared.
	HashOf func() (string, error)
}

// Answer is the encoded answer to a request (an HTTP status and body,
// opaque here).
type Answer struct {
	Status int
	Body   []byte
	// Hash is the final request hash, when the request only knew a
	// provisional one; "" keeps Keyed.Hash.
	Hash string
	// Keep stores the answer to replay it to a retry; an answer that is
	// not kept (after an internal error) lets a retry run again.
	Keep bool
	// Replayed reports an answer stored by an earlier request.
	Replayed bool
}

// Idempotent runs a request at most once per Idempotency-Key of the
// caller's organisation. The first request claims the key and runs; its
// answer is stored when kept, and the key released otherwise (or when run
// returns an error, which is returned as it is). A retry of the same
// request (same route, same hash) gets the stored answer with Replayed
// set; the key used for another request is Unprocessable; while the first
// request runs, Conflict with a retry delay. A running request renews its
// claim every Options.KeyStaleAfter/4; a claim not renewed for
// KeyStaleAfter is taken to be of a request whose process died (SIGKILL,
// a crash), and a retry takes the key over.
//
// The answer is stored after run returns, unless run stored one in the
// transaction of its work with Claim.Store (a request whose work must not
// be done twice: a retry after a crash between that commit and the
// answer would otherwise take the stale key over and do it again). run's
// Claim is nil when the request has no key.
func (s *Service) Idempotent(ctx context.Context, p *identity.Principal, k Keyed, run func(*Claim) (Answer, error)) (ans Answer, err error) {
	if k.Key == "" {
		return run(nil)
	}
	if err := CheckKey(k.Key); err != nil {
		return Answer{}, err
	}
	claimedAt, rec, err := s.claimKey(ctx, p, k)
	if err != nil {
		return Answer{}, err
	}
	if rec != nil {
		return s.replay(k, rec)
	}
	cl := &Claim{s: s, p: p, k: k, renew: s.renewClaim(ctx, p, k.Key, claimedAt)}
	done := false
	defer func() {
		if !done {
			// run failed or panicked: a retry must not wait until the
			// key goes stale. (An answer run stored and committed stays:
			// the release frees only a claim without one.)
			s.releaseKey(ctx, p, k.Key, cl.renew.stop())
		}
	}()
	ans, err = run(cl)
	if err != nil || !ans.Keep {
		return ans, err
	}
	done = true
	claimedAt = cl.renew.stop()
	n, ferr := s.q.IdempotencyFinish(ctx, s.pool, cl.finish(claimedAt, ans))
	switch {
	case ferr != nil && !cl.stored:
		// The request is done; a retry will run it again when the key is
		// released (as the job does) or goes stale.
		s.opts.Logger.ErrorContext(ctx, "store idempotent answer", "error", ferr.Error())
		s.releaseKey(ctx, p, k.Key, claimedAt)
	case ferr != nil:
		// The answer stored with the work stands.
		s.opts.Logger.ErrorContext(ctx, "update idempotent answer", "error", ferr.Error())
	case n == 0:
		s.opts.Logger.WarnContext(ctx, "idempotency claim taken over before its answer was stored", "route", k.Route)
	}
	return ans, nil
}

// Claim is a running request's hold on its Idempotency-Key.
type Claim struct {
	s      *Service
	p      *identity.Principal
	k      Keyed
	renew  *renewal
	stored bool
}

// Store records ans as the answer to the request in tx, the transaction
// of the request's work, so that the work and its answer commit together:
// a retry after the process died between that commit and the answer gets
// ans and does not do the work again. It fails, and tx must roll back,
// when a retry took the claim over (it had gone stale) and may be doing
// the work itself. An answer run returns afterwards with Keep replaces
// ans (a request whose work goes on after the commit stores what a retry
// should hear if it dies there). On a nil Claim it does nothing.
func (c *Claim) Store(ctx context.Context, tx pgx.Tx, ans Answer) error {
	if c == nil {
		return nil
	}
	n, err := c.s.q.IdempotencyFinish(ctx, tx, c.finish(c.renew.stop(), ans))
	if err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	if n == 0 {
		return &apperr.Error{Code: apperr.Conflict, RetryAfterSeconds: 5,
			Message: "another request with this Idempotency-Key took it over; retry to get its answer"}
	}
	c.stored = true
	return nil
}

// finish is the statement storing ans as the answer of the claim made at
// claimedAt.
func (c *Claim) finish(claimedAt time.Time, ans Answer) intakedb.IdempotencyFinishParams {
	hash := ans.Hash
	if hash == "" {
		hash = c.k.Hash
	}
	st := int32(ans.Status)
	return intakedb.IdempotencyFinishParams{OrgID: c.p.OrgID, Key: c.k.Key, ClaimedAt: claimedAt,
		RequestHash: hash, StatusCode: &st, Response: ans.Body}
}

// replay answers a request whose key was used before.
func (s *Service) replay(k Keyed, rec *intakedb.IdempotencyKey) (Answer, error) {
	reused := apperr.New(apperr.Unprocessable, "this Idempotency-Key was already used for a different request; use a new key for a new request")
	if rec.Route != k.Route {
		return Answer{}, reused
	}
	if rec.StatusCode == nil {
		return Answer{}, &apperr.Error{Code: apperr.Conflict, RetryAfterSeconds: 5,
			Message: "a request with this Idempotency-Key is still being processed; retry when it has finished"}
	}
	hash := k.Hash
	if k.HashOf != nil {
		var err error
		if hash, err = k.HashOf(); err != nil {
			return Answer{}, err
		}
	}
	if hash != rec.RequestHash {
		return Answer{}, reused
	}
	return Answer{Status: int(*rec.StatusCode), Body: rec.Response, Hash: hash, Keep: true, Replayed: true}, nil
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

// claimKey records k as in flight with its (provisional) hash. It returns
// when the claim was made, or the record of the earlier request that used
// the key.
func (s *Service) claimKey(ctx context.Context, p *identity.Principal, k Keyed) (time.Time, *intakedb.IdempotencyKey, error) {
	row, err := s.q.IdempotencyClaim(ctx, s.pool, intakedb.IdempotencyClaimParams{OrgID: p.OrgID, Key: k.Key,
		Route: k.Route, RequestHash: k.Hash})
	if err == nil {
		return row.CreatedAt, nil, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	row, err = s.q.IdempotencyTakeOver(ctx, s.pool, intakedb.IdempotencyTakeOverParams{OrgID: p.OrgID, Key: k.Key,
		Route: k.Route, RequestHash: k.Hash, StaleAfter: s.opts.KeyStaleAfter})
	if err == nil {
		return row.CreatedAt, nil, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil, fmt.Errorf("take over idempotency key: %w", err)
	}
	row, err = s.q.IdempotencyGet(ctx, s.pool, intakedb.IdempotencyGetParams{OrgID: p.OrgID, Key: k.Key})
	if errors.Is(err, pgx.ErrNoRows) {
		// Released between the two statements: try once more.
		return s.claimKey(ctx, p, k)
	}
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("load idempotency key: %w", err)
	}
	return time.Time{}, &row, nil
}

// releaseKey forgets the claim on key made at claimedAt, so that a retry
// runs again. A failure is retried by a clean-up job (without it a retry
// would get 409 until the key goes stale); the claim's time keeps a late
// release from freeing a later claim of the same key.
func (s *Service) releaseKey(ctx context.Context, p *identity.Principal, key string, claimedAt time.Time) {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	err := s.q.IdempotencyRelease(cctx, s.pool, intakedb.IdempotencyReleaseParams{OrgID: p.OrgID, Key: key, ClaimedAt: claimedAt})
	if err != nil {
		s.compensate(ctx, CleanupArgs{Action: CleanupReleaseKey, OrgID: p.OrgID, Key: key, ClaimedAt: claimedAt}, err)
	}
}

// renewal renews an in-flight claim until stop.
type renewal struct {
	mu        sync.Mutex
	claimedAt time.Time
	quit      chan struct{}
	done      chan struct{}
	once      sync.Once
}

// renewClaim renews the claim on key made at claimedAt every
// KeyStaleAfter/4 until stop is called. A renewal that fails is tried
// again at the next tick; the claim goes stale only if none succeeds for
// KeyStaleAfter.
func (s *Service) renewClaim(ctx context.Context, p *identity.Principal, key string, claimedAt time.Time) *renewal {
	r := &renewal{claimedAt: claimedAt, quit: make(chan struct{}), done: make(chan struct{})}
	every := max(s.opts.KeyStaleAfter/4, 10*time.Millisecond)
	go func() {
		defer close(r.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
			}
			r.mu.Lock()
			at := r.claimedAt
			r.mu.Unlock()
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
			next, err := s.q.IdempotencyRenew(cctx, s.pool, intakedb.IdempotencyRenewParams{OrgID: p.OrgID, Key: key, ClaimedAt: at})
			cancel()
			if errors.Is(err, pgx.ErrNoRows) {
				return // taken over, or released: nothing to renew
			}
			if err != nil {
				s.opts.Logger.WarnContext(ctx, "renew idempotency claim", "error", err.Error())
				continue
			}
			r.mu.Lock()
			r.claimedAt = next
			r.mu.Unlock()
		}
	}()
	return r
}

// stop ends the renewals and returns the claim's latest time, which
// names the claim for IdempotencyFinish's caller and releaseKey.
func (r *renewal) stop() time.Time {
	r.once.Do(func() { close(r.quit) })
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claimedAt
}
