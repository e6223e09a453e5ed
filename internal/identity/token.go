package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/identity/identitydb"
	"github.com/teleread/teleread/internal/postgres"
)

// MaxTokenTTL bounds how long a token may live.
const MaxTokenTTL = 366 * 24 * time.Hour

// NewToken is the input of CreateToken.
type NewToken struct {
	// UserID is whose token it is; zero means p's own.
	UserID uuid.UUID
	Name   string
	// TTL is how long the token lives; zero means 90 days.
	TTL time.Duration
}

// CreateToken creates an API token and returns its record and its secret,
// which is shown this once and stored only as a hash. Anyone may create
// tokens for themselves; admins for users they administer.
func (s *Service) CreateToken(ctx context.Context, p *Principal, in NewToken) (Token, string, error) {
	if in.UserID == uuid.Nil {
		in.UserID = p.UserID
	}
	fields := map[string]string{}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		fields["name"] = "is required (at most 100 characters)"
	}
	if in.TTL == 0 {
		in.TTL = 90 * 24 * time.Hour
	}
	if in.TTL < time.Minute || in.TTL > MaxTokenTTL {
		fields["ttl"] = "must be from one minute to 366 days"
	}
	if len(fields) > 0 {
		return Token{}, "", apperr.InvalidFields(fields)
	}
	owner, err := s.tokenOwner(ctx, p, in.UserID)
	if err != nil {
		return Token{}, "", err
	}
	if owner.DisabledAt != nil {
		return Token{}, "", apperr.New(apperr.Conflict, "the user is disabled")
	}
	secret, prefix := newToken()
	expires := s.now().Add(in.TTL)
	var tok Token
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		creator := p.UserID
		tok, err = s.q.TokenInsert(ctx, tx, identitydb.TokenInsertParams{OrgID: owner.OrgID, UserID: owner.ID,
			Name: in.Name, Prefix: prefix, SecretHash: hashSecret(secret), CreatedBy: &creator, ExpiresAt: &expires})
		if err != nil {
			return postgres.Translate(err, "token")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "token.create", ObjectType: "token",
			ObjectID: tok.ID.String(), ObjectOrgID: &tok.OrgID,
			Details: map[string]any{"user_id": owner.ID.String(), "expires_at": expires.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return Token{}, "", err
	}
	return tok, secret, nil
}

// tokenOwner returns the user whose tokens p may manage.
func (s *Service) tokenOwner(ctx context.Context, p *Principal, userID uuid.UUID) (User, error) {
	if userID != p.UserID && !p.HasAny(RoleOrgAdmin, RolePlatformAdmin) {
		return User{}, apperr.New(apperr.NotFound, "user not found")
	}
	u, err := s.q.UserGet(ctx, s.pool, identitydb.UserGetParams{ID: userID, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if err != nil {
		return User{}, postgres.Translate(err, "user")
	}
	return u, nil
}

// ListTokens lists tokens: admins those of their organisation (or of one
// user), others their own.
func (s *Service) ListTokens(ctx context.Context, p *Principal, userID *uuid.UUID) ([]Token, error) {
	if !p.HasAny(RoleOrgAdmin, RolePlatformAdmin) {
		own := p.UserID
		userID = &own
	}
	toks, err := s.q.TokenList(ctx, s.pool, identitydb.TokenListParams{Platform: p.IsPlatformAdmin(), OrgID: p.OrgID,
		UserID: userID})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return toks, nil
}

// RevokeToken revokes a token p may manage; revoking twice is harmless.
func (s *Service) RevokeToken(ctx context.Context, p *Principal, id uuid.UUID) (Token, error) {
	tok, err := s.q.TokenGet(ctx, s.pool, identitydb.TokenGetParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if err != nil {
		return Token{}, postgres.Translate(err, "token")
	}
	if tok.UserID != p.UserID && !p.HasAny(RoleOrgAdmin, RolePlatformAdmin) {
		return Token{}, apperr.New(apperr.NotFound, "token not found")
	}
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tok, err = s.q.TokenRevoke(ctx, tx, identitydb.TokenRevokeParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
		if err != nil {
			return postgres.Translate(err, "token")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "token.revoke", ObjectType: "token",
			ObjectID: tok.ID.String(), ObjectOrgID: &tok.OrgID})
	})
	return tok, err
}
