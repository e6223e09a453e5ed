package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/identity/identitydb"
	"github.com/teleread/teleread/internal/postgres"
)

// DemoLogin is one demo user's way in, as printed by `teleread seed --demo`.
type DemoLogin struct {
	Role     Role   `json:"role"`
	Email    string `json:"email"`
	Password string `json:"password"`
	Token    string `json:"token"`
	Org      string `json:"org"`
	OrgID    string `json:"org_id"`
	UserID   string `json:"user_id"`
}

type demoOrg struct {
	slug, name  string
	kind        OrgKind
	specialties []string
}

type demoUser struct {
	org, email, name string
	role             Role
	specialties      []string
}

var (
	demoOrgs = []demoOrg{
		{"platform", "Teleread platform", OrgPlatform, nil},
		{"demo-site", "Demo Primary Care Clinic", OrgSite, nil},
		{"demo-derm", "Demo Dermatology Readers", OrgReadingGroup, []string{SpecialtyDermatology}},
		{"demo-rad", "Demo Radiology Readers", OrgReadingGroup, []string{SpecialtyRadiology}},
	}
	demoUsers = []demoUser{
		{"demo-site", "staff@demo-site.example", "Sam Staff", RoleSiteStaff, nil},
		{"demo-site", "gp@demo-site.example", "Dr Grace Physician", RoleReferringPhysician, nil},
		{"demo-site", "admin@demo-site.example", "Ada Siteadmin", RoleOrgAdmin, nil},
		{"demo-derm", "derm@demo-derm.example", "Dr Dana Derm", RoleSpecialist, []string{SpecialtyDermatology}},
		{"demo-rad", "rad@demo-rad.example", "Dr Ray Rad", RoleSpecialist, []string{SpecialtyRadiology}},
		{"platform", "admin@teleread.example", "Pat Platform", RolePlatformAdmin, nil},
	}
)

// SeedDemo creates (or refreshes) the demo organisations and users, sets
// their passwords to the printed demo values and issues each a fresh API
// token named "demo", revoking earlier demo tokens. Running it again is
// safe. It is for demonstrations and local development only.
func (s *Service) SeedDemo(ctx context.Context) ([]DemoLogin, error) {
	var out []DemoLogin
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		orgs := map[string]Org{}
		for _, o := range demoOrgs {
			org, err := s.q.OrgGetBySlug(ctx, tx, o.slug)
			if errors.Is(err, pgx.ErrNoRows) {
				org, err = s.q.OrgInsert(ctx, tx, identitydb.OrgInsertParams{Kind: string(o.kind), Name: o.name,
					Slug: o.slug, Specialties: nonNil(o.specialties)})
			}
			if err != nil {
				return fmt.Errorf("seed organisation %s: %w", o.slug, err)
			}
			orgs[o.slug] = org
		}
		for _, du := range demoUsers {
			org := orgs[du.org]
			password := "demo-" + string(du.role) + "-password"
			hash := HashPassword(password)
			u, err := s.q.UserGetByEmail(ctx, tx, du.email)
			if errors.Is(err, pgx.ErrNoRows) {
				u, err = s.q.UserInsert(ctx, tx, identitydb.UserInsertParams{OrgID: org.ID, Email: du.email,
					Name: du.name, Roles: []string{string(du.role)}, Specialties: nonNil(du.specialties), PasswordHash: &hash})
			} else if err == nil {
				err = s.q.UserSetPassword(ctx, tx, identitydb.UserSetPasswordParams{ID: u.ID, PasswordHash: &hash})
			}
			if err != nil {
				return fmt.Errorf("seed user %s: %w", du.email, err)
			}
			if err := s.q.TokenRevokeNamed(ctx, tx, identitydb.TokenRevokeNamedParams{UserID: u.ID, Name: "demo"}); err != nil {
				return fmt.Errorf("revoke old demo tokens: %w", err)
			}
			secret, prefix := newToken()
			expires := s.now().Add(30 * 24 * time.Hour)
			tok, err := s.q.TokenInsert(ctx, tx, identitydb.TokenInsertParams{OrgID: org.ID, UserID: u.ID, Name: "demo",
				Prefix: prefix, SecretHash: hashSecret(secret), ExpiresAt: &expires})
			if err != nil {
				return fmt.Errorf("seed token for %s: %w", du.email, err)
			}
			oid := org.ID
			if err := audit.Record(ctx, tx, audit.Event{Action: "seed.demo_user", ObjectType: "user",
				ObjectID: u.ID.String(), ObjectOrgID: &oid, Details: map[string]any{"token_id": tok.ID.String()}}); err != nil {
				return err
			}
			out = append(out, DemoLogin{Role: du.role, Email: du.email, Password: password, Token: secret,
				Org: org.Slug, OrgID: org.ID.String(), UserID: u.ID.String()})
		}
		return nil
	})
	return out, err
}

// Bootstrap creates the platform organisation and a first platform admin
// with a generated password and token, for a new installation. It refuses
// when a platform admin already exists.
func (s *Service) Bootstrap(ctx context.Context, email, name string) (DemoLogin, error) {
	var out DemoLogin
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := s.q.PlatformAdminCount(ctx, tx)
		if err != nil {
			return fmt.Errorf("count platform admins: %w", err)
		}
		if n > 0 {
			return errors.New("a platform admin already exists; create further users through the API")
		}
		org, err := s.q.OrgGetBySlug(ctx, tx, "platform")
		if errors.Is(err, pgx.ErrNoRows) {
			org, err = s.q.OrgInsert(ctx, tx, identitydb.OrgInsertParams{Kind: string(OrgPlatform),
				Name: "Teleread platform", Slug: "platform", Specialties: []string{}})
		}
		if err != nil {
			return fmt.Errorf("platform organisation: %w", err)
		}
		password := newSecret(18)
		hash := HashPassword(password)
		u, err := s.q.UserInsert(ctx, tx, identitydb.UserInsertParams{OrgID: org.ID, Email: email, Name: name,
			Roles: []string{string(RolePlatformAdmin)}, Specialties: []string{}, PasswordHash: &hash})
		if err != nil {
			return postgres.Translate(err, "user with this e-mail")
		}
		secret, prefix := newToken()
		expires := s.now().Add(7 * 24 * time.Hour)
		if _, err := s.q.TokenInsert(ctx, tx, identitydb.TokenInsertParams{OrgID: org.ID, UserID: u.ID, Name: "bootstrap",
			Prefix: prefix, SecretHash: hashSecret(secret), ExpiresAt: &expires}); err != nil {
			return fmt.Errorf("bootstrap token: %w", err)
		}
		oid, uid := org.ID, u.ID
		out = DemoLogin{Role: RolePlatformAdmin, Email: email, Password: password, Token: secret, Org: org.Slug,
			OrgID: oid.String(), UserID: uid.String()}
		return audit.Record(ctx, tx, audit.Event{Action: "seed.bootstrap", ObjectType: "user",
			ObjectID: uid.String(), ObjectOrgID: &oid})
	})
	return out, err
}
