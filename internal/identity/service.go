package identity

import (
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/identity/identitydb"
	"github.com/teleread/teleread/internal/postgres"
)

// Org is an organisation: a site, a reading group or the platform.
type Org = identitydb.Org

// User is a person who signs in or uses a token.
type User = identitydb.User

// Token is an API token's record; its secret is never stored.
type Token = identitydb.ApiToken

// Service manages organisations, users and tokens, and authenticates.
type Service struct {
	pool    *pgxpool.Pool
	q       *identitydb.Queries
	now     func() time.Time
	session time.Duration
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool) *Service {
	return &Service{pool: pool, q: identitydb.New(), now: time.Now, session: 12 * time.Hour}
}

// NewOrg is the input of CreateOrg.
type NewOrg struct {
	Kind        OrgKind
	Name        string
	Slug        string
	Specialties []string
}

var slugRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// CreateOrg creates an organisation. Platform admins only.
func (s *Service) CreateOrg(ctx context.Context, p *Principal, in NewOrg) (Org, error) {
	if !p.IsPlatformAdmin() {
		return Org{}, apperr.New(apperr.Forbidden, "only platform admins create organisations")
	}
	fields := map[string]string{}
	switch in.Kind {
	case OrgSite, OrgReadingGroup, OrgPlatform:
	default:
		fields["kind"] = "must be site, reading_group or platform"
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		fields["name"] = "is required (at most 200 characters)"
	}
	if !slugRe.MatchString(in.Slug) {
		fields["slug"] = "must be 2-63 lowercase letters, digits and hyphens"
	}
	if err := checkSpecialties(in.Specialties); err != "" {
		fields["specialties"] = err
	} else if in.Kind == OrgReadingGroup && len(in.Specialties) == 0 {
		fields["specialties"] = "a reading group needs at least one specialty"
	} else if in.Kind != OrgReadingGroup && len(in.Specialties) > 0 {
		fields["specialties"] = "only reading groups have specialties"
	}
	if len(fields) > 0 {
		return Org{}, apperr.InvalidFields(fields)
	}
	var org Org
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		org, err = s.q.OrgInsert(ctx, tx, identitydb.OrgInsertParams{
			Kind: string(in.Kind), Name: in.Name, Slug: in.Slug, Specialties: nonNil(in.Specialties)})
		if err != nil {
			return postgres.Translate(err, "organisation with this slug")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "org.create",
			ObjectType: "org", ObjectID: org.ID.String(), ObjectOrgID: &org.ID,
			Details: map[string]any{"kind": org.Kind, "slug": org.Slug}})
	})
	return org, err
}

// GetOrg returns an organisation visible to p.
func (s *Service) GetOrg(ctx context.Context, p *Principal, id uuid.UUID) (Org, error) {
	org, err := s.q.OrgGet(ctx, s.pool, identitydb.OrgGetParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	return org, postgres.Translate(err, "organisation")
}

// ListOrgs returns the organisations visible to p, optionally of one kind.
func (s *Service) ListOrgs(ctx context.Context, p *Principal, kind *string) ([]Org, error) {
	orgs, err := s.q.OrgList(ctx, s.pool, identitydb.OrgListParams{Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, Kind: kind})
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	return orgs, nil
}

// NewUser is the input of CreateUser.
type NewUser struct {
	OrgID       uuid.UUID
	Email       string
	Name        string
	Roles       []Role
	Specialties []string
	// Password is optional: a user with none signs in with tokens only.
	Password string
}

// CreateUser creates a user in an organisation p administers.
func (s *Service) CreateUser(ctx context.Context, p *Principal, in NewUser) (User, error) {
	org, err := s.administeredOrg(ctx, p, in.OrgID)
	if err != nil {
		return User{}, err
	}
	fields := map[string]string{}
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
		fields["email"] = "must be a plain e-mail address"
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 200 {
		fields["name"] = "is required (at most 200 characters)"
	}
	if msg := checkRoles(p, OrgKind(org.Kind), in.Roles); msg != "" {
		fields["roles"] = msg
	}
	if msg := checkSpecialties(in.Specialties); msg != "" {
		fields["specialties"] = msg
	} else if slices.Contains(in.Roles, RoleSpecialist) && len(in.Specialties) == 0 {
		fields["specialties"] = "a specialist needs at least one specialty"
	}
	if in.Password != "" && len(in.Password) < 12 {
		fields["password"] = "must be at least 12 characters"
	}
	if len(fields) > 0 {
		return User{}, apperr.InvalidFields(fields)
	}
	var hash *string
	if in.Password != "" {
		h := HashPassword(in.Password)
		hash = &h
	}
	var u User
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		u, err = s.q.UserInsert(ctx, tx, identitydb.UserInsertParams{OrgID: org.ID, Email: in.Email, Name: in.Name,
			Roles: roleStrings(in.Roles), Specialties: nonNil(in.Specialties), PasswordHash: hash})
		if err != nil {
			return postgres.Translate(err, "user with this e-mail")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "user.create", ObjectType: "user",
			ObjectID: u.ID.String(), ObjectOrgID: &u.OrgID, Details: map[string]any{"roles": u.Roles}})
	})
	return u, err
}

// GetUser returns a user visible to p: admins see their organisation's
// users, everyone sees themselves.
func (s *Service) GetUser(ctx context.Context, p *Principal, id uuid.UUID) (User, error) {
	if id != p.UserID && !p.HasAny(RoleOrgAdmin, RolePlatformAdmin) {
		return User{}, apperr.New(apperr.NotFound, "user not found")
	}
	u, err := s.q.UserGet(ctx, s.pool, identitydb.UserGetParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	return u, postgres.Translate(err, "user")
}

// ListUsers returns the users p administers, optionally of one organisation.
func (s *Service) ListUsers(ctx context.Context, p *Principal, orgID *uuid.UUID) ([]User, error) {
	users, err := s.q.UserList(ctx, s.pool, identitydb.UserListParams{Platform: p.IsPlatformAdmin(), OrgID: p.OrgID,
		FilterOrgID: orgID})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UserChange is the input of UpdateUser; nil fields stay as they are.
type UserChange struct {
	Name        *string
	Roles       []Role
	Specialties []string
	Disabled    *bool
}

// UpdateUser changes a user p administers. Disabling a user ends their
// sessions; their tokens stop working at once.
func (s *Service) UpdateUser(ctx context.Context, p *Principal, id uuid.UUID, in UserChange) (User, error) {
	cur, err := s.q.UserGet(ctx, s.pool, identitydb.UserGetParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if err != nil {
		return User{}, postgres.Translate(err, "user")
	}
	org, err := s.administeredOrg(ctx, p, cur.OrgID)
	if err != nil {
		return User{}, err
	}
	if slices.Contains(cur.Roles, string(RolePlatformAdmin)) && !p.IsPlatformAdmin() {
		return User{}, apperr.New(apperr.Forbidden, "only platform admins change platform admins")
	}
	fields := map[string]string{}
	if in.Name != nil && (strings.TrimSpace(*in.Name) == "" || len(*in.Name) > 200) {
		fields["name"] = "must be 1-200 characters"
	}
	if in.Roles != nil {
		if msg := checkRoles(p, OrgKind(org.Kind), in.Roles); msg != "" {
			fields["roles"] = msg
		}
	}
	if in.Specialties != nil {
		if msg := checkSpecialties(in.Specialties); msg != "" {
			fields["specialties"] = msg
		}
	}
	if in.Disabled != nil && *in.Disabled && id == p.UserID {
		fields["disabled"] = "you cannot disable yourself"
	}
	if len(fields) > 0 {
		return User{}, apperr.InvalidFields(fields)
	}
	var u User
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		u, err = s.q.UserUpdate(ctx, tx, identitydb.UserUpdateParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID,
			Name: in.Name, Roles: roleStringsOrNil(in.Roles), Specialties: in.Specialties, Disabled: in.Disabled})
		if err != nil {
			return postgres.Translate(err, "user")
		}
		if u.DisabledAt != nil {
			if err := s.q.SessionDeleteForUser(ctx, tx, identitydb.SessionDeleteForUserParams{UserID: u.ID,
				Platform: p.IsPlatformAdmin(), OrgID: p.OrgID}); err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "user.update", ObjectType: "user",
			ObjectID: u.ID.String(), ObjectOrgID: &u.OrgID,
			Details: map[string]any{"roles": u.Roles, "disabled": u.DisabledAt != nil}})
	})
	return u, err
}

// administeredOrg returns the organisation if p administers it: platform
// admins every one, org admins their own. Others get NotFound, as for an
// organisation that does not exist.
func (s *Service) administeredOrg(ctx context.Context, p *Principal, orgID uuid.UUID) (Org, error) {
	if !p.HasAny(RoleOrgAdmin, RolePlatformAdmin) {
		return Org{}, apperr.New(apperr.Forbidden, "only admins manage users")
	}
	return s.GetOrg(ctx, p, orgID)
}

// checkRoles returns why roles are not allowed for a user of an
// organisation of kind, created by p, or "".
func checkRoles(p *Principal, kind OrgKind, roles []Role) string {
	if len(roles) == 0 {
		return "at least one role is required"
	}
	for _, r := range roles {
		switch r {
		case RoleSiteStaff, RoleReferringPhysician:
			if kind != OrgSite {
				return fmt.Sprintf("%s is a role of site users", r)
			}
		case RoleSpecialist:
			if kind != OrgReadingGroup {
				return "specialist is a role of reading group users"
			}
		case RoleOrgAdmin:
		case RolePlatformAdmin:
			if kind != OrgPlatform {
				return "platform_admin is a role of platform users"
			}
			if !p.IsPlatformAdmin() {
				return "only platform admins grant platform_admin"
			}
		default:
			return fmt.Sprintf("unknown role %q", r)
		}
	}
	return ""
}

func checkSpecialties(sp []string) string {
	for _, s := range sp {
		if s != SpecialtyDermatology && s != SpecialtyRadiology {
			return fmt.Sprintf("unknown specialty %q (dermatology or radiology)", s)
		}
	}
	return ""
}

func roleStrings(roles []Role) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(out, string(r)) {
			out = append(out, string(r))
		}
	}
	return out
}

func roleStringsOrNil(roles []Role) []string {
	if roles == nil {
		return nil
	}
	return roleStrings(roles)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SweepExpired deletes expired sessions and day-old login failures.
func (s *Service) SweepExpired(ctx context.Context) error {
	if err := s.q.SweepExpired(ctx, s.pool); err != nil {
		return fmt.Errorf("sweep expired sessions: %w", err)
	}
	return nil
}
