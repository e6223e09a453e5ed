package identity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/identity/identitydb"
	"github.com/teleread/teleread/internal/postgres"
)

// Login throttling: after this many failures within the window, further
// attempts for the same e-mail (or from the same address) are refused.
const (
	loginWindow       = 15 * time.Minute
	maxFailuresPerKey = 5
	maxFailuresPerIP  = 30
)

// errBadCredentials is the one answer for every failed authentication, so
// that callers learn nothing about which part was wrong.
func errBadCredentials() error {
	return apperr.New(apperr.Unauthorized, "invalid or expired credentials")
}

// AuthenticateToken returns the principal of a bearer token.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 200 {
		return nil, apperr.New(apperr.Unauthorized, "malformed token: expected a Teleread API token (trt_...)")
	}
	row, err := s.q.TokenAuthenticate(ctx, s.pool, hashSecret(token))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errBadCredentials()
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate token: %w", err)
	}
	now := s.now()
	switch {
	case row.RevokedAt != nil:
		return nil, apperr.New(apperr.Unauthorized, "the token was revoked")
	case row.ExpiresAt != nil && !row.ExpiresAt.After(now):
		return nil, apperr.New(apperr.Unauthorized, "the token has expired")
	case row.DisabledAt != nil:
		return nil, errBadCredentials()
	}
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) > time.Minute {
		if err := s.q.TokenTouch(ctx, s.pool, row.TokenID); err != nil {
			return nil, fmt.Errorf("touch token: %w", err)
		}
	}
	return &Principal{UserID: row.UserID, OrgID: row.OrgID, OrgKind: OrgKind(row.OrgKind), Email: row.Email,
		Name: row.Name, Roles: toRoles(row.Roles), Specialties: row.Specialties, TokenID: row.TokenID}, nil
}

// Session is a signed-in web session.
type Session struct {
	ID        uuid.UUID
	Secret    string // the cookie value; stored only as a hash
	CSRFToken string
	ExpiresAt time.Time
	Principal *Principal
}

// Login checks an e-mail and password and opens a session. Failures are
// throttled per e-mail and per client address across all API servers
// (admitLogin), and audited.
func (s *Service) Login(ctx context.Context, email, password, clientIP, requestID string) (*Session, error) {
	email = strings.TrimSpace(email)
	if email == "" || password == "" {
		return nil, apperr.InvalidFields(map[string]string{"email": "required", "password": "required"})
	}
	if err := s.admitLogin(ctx, email, clientIP); err != nil {
		return nil, err
	}
	u, err := s.q.UserGetByEmail(ctx, s.pool, email)
	ok := false
	switch {
	case err == nil && u.PasswordHash != nil && u.DisabledAt == nil:
		ok, err = CheckPassword(*u.PasswordHash, password)
		if err != nil {
			return nil, fmt.Errorf("check password of user %s: %w", u.ID, err)
		}
	case err == nil || errors.Is(err, pgx.ErrNoRows):
		_, _ = CheckPassword(dummyHash, password) // same time as a real check
	default:
		return nil, fmt.Errorf("find user: %w", err)
	}
	if !ok {
		// The attempt is already counted as a failure (admitLogin).
		err := audit.RecordTx(ctx, s.pool, audit.Event{Actor: audit.Actor{ClientIP: clientIP, RequestID: requestID},
			Action: "login.fail", ObjectType: "login", ObjectID: "password"})
		if err != nil {
			return nil, fmt.Errorf("record login failure: %w", err)
		}
		return nil, errBadCredentials()
	}
	sess := &Session{Secret: newSecret(32), CSRFToken: newSecret(24), ExpiresAt: s.now().Add(s.session)}
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.SessionInsert(ctx, tx, identitydb.SessionInsertParams{SecretHash: hashSecret(sess.Secret),
			CsrfToken: sess.CSRFToken, OrgID: u.OrgID, UserID: u.ID, ExpiresAt: sess.ExpiresAt})
		if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		sess.ID = row.ID
		if err := s.q.LoginFailureClear(ctx, tx, email); err != nil {
			return fmt.Errorf("clear login failures: %w", err)
		}
		uid, oid := u.ID, u.OrgID
		return audit.Record(ctx, tx, audit.Event{
			Actor:  audit.Actor{UserID: &uid, OrgID: &oid, ClientIP: clientIP, RequestID: requestID},
			Action: "login.success", ObjectType: "session", ObjectID: row.ID.String(), ObjectOrgID: &oid})
	})
	if err != nil {
		return nil, err
	}
	org, err := s.q.OrgGet(ctx, s.pool, identitydb.OrgGetParams{ID: u.OrgID, OrgID: u.OrgID})
	if err != nil {
		return nil, fmt.Errorf("load organisation: %w", err)
	}
	sess.Principal = &Principal{UserID: u.ID, OrgID: u.OrgID, OrgKind: OrgKind(org.Kind), Email: u.Email, Name: u.Name,
		Roles: toRoles(u.Roles), Specialties: u.Specialties, SessionID: sess.ID, CSRFToken: sess.CSRFToken}
	return sess, nil
}

// AuthenticateSession returns the principal of a session cookie and slides
// its expiry.
func (s *Service) AuthenticateSession(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > 200 {
		return nil, errBadCredentials()
	}
	row, err := s.q.SessionAuthenticate(ctx, s.pool, hashSecret(secret))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errBadCredentials()
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate session: %w", err)
	}
	if row.DisabledAt != nil {
		return nil, errBadCredentials()
	}
	if err := s.q.SessionTouch(ctx, s.pool, identitydb.SessionTouchParams{ID: row.SessionID, ExpiresAt: s.now().Add(s.session)}); err != nil {
		return nil, fmt.Errorf("touch session: %w", err)
	}
	return &Principal{UserID: row.UserID, OrgID: row.OrgID, OrgKind: OrgKind(row.OrgKind), Email: row.Email,
		Name: row.Name, Roles: toRoles(row.Roles), Specialties: row.Specialties, SessionID: row.SessionID,
		CSRFToken: row.CsrfToken}, nil
}

// Logout ends p's session.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if p.SessionID == uuid.Nil {
		return apperr.New(apperr.Invalid, "not signed in with a session")
	}
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.SessionDelete(ctx, tx, identitydb.SessionDeleteParams{ID: p.SessionID, OrgID: p.OrgID}); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "logout", ObjectType: "session",
			ObjectID: p.SessionID.String(), ObjectOrgID: &p.OrgID})
	})
}

func toRoles(rs []string) []Role {
	out := make([]Role, len(rs))
	for i, r := range rs {
		out[i] = Role(r)
	}
	return out
}

// admitLogin lets a sign-in attempt check its password only while the
// e-mail and the client address are under their failure budgets, and
// counts the attempt as a failure before the check: a success clears it,
// so concurrent attempts on any number of API servers get at most
// maxFailuresPerKey password checks per e-mail in a window. Counting and
// recording happen under per-e-mail and per-address advisory locks held
// for one short transaction (not during the password check), so that two
// attempts never both see the last free place.
func (s *Service) admitLogin(ctx context.Context, email, clientIP string) error {
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.LoginThrottleLock(ctx, tx, identitydb.LoginThrottleLockParams{Email: email, ClientIp: clientIP}); err != nil {
			return fmt.Errorf("lock login throttle: %w", err)
		}
		counts, err := s.q.LoginFailureCount(ctx, tx, identitydb.LoginFailureCountParams{
			Email: email, ClientIp: clientIP, Since: s.now().Add(-loginWindow)})
		if err != nil {
			return fmt.Errorf("count login failures: %w", err)
		}
		if counts.ByEmail >= maxFailuresPerKey || counts.ByIp >= maxFailuresPerIP {
			wait := int(math.Ceil(time.Until(counts.Oldest.Add(loginWindow)).Seconds()))
			return &apperr.Error{Code: apperr.RateLimited, Message: "too many failed sign-ins; try again later",
				RetryAfterSeconds: max(wait, 1)}
		}
		if err := s.q.LoginFailureInsert(ctx, tx, identitydb.LoginFailureInsertParams{Email: email, ClientIp: clientIP}); err != nil {
			return fmt.Errorf("record login attempt: %w", err)
		}
		return nil
	})
}
