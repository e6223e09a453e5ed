package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/teleread/teleread/internal/identity"
)

// Tenant is one organisation with a user, a token and a principal for each
// role it was made with.
type Tenant struct {
	Org        identity.Org
	Users      map[identity.Role]identity.User
	Tokens     map[identity.Role]string
	Principals map[identity.Role]*identity.Principal
}

// Fixtures makes organisations and users through the identity service, as
// an admin would.
type Fixtures struct {
	Service *identity.Service
	root    *identity.Principal
	mu      sync.Mutex
}

// NewFixtures bootstraps the platform admin of env's database.
func NewFixtures(t testing.TB, env *Env) *Fixtures {
	t.Helper()
	svc := identity.NewService(env.Pool)
	boot, err := svc.Bootstrap(context.Background(), "root@platform.example", "Root")
	if err != nil {
		t.Fatalf("fixtures: bootstrap: %v", err)
	}
	root, err := svc.AuthenticateToken(context.Background(), boot.Token)
	if err != nil {
		t.Fatalf("fixtures: root token: %v", err)
	}
	return &Fixtures{Service: svc, root: root}
}

// Root is the platform admin principal.
func (f *Fixtures) Root() *identity.Principal { return f.root }

// PasswordFor is the password a fixture user of role gets: only site staff
// get one (argon2id is slow on purpose; the others use tokens).
func PasswordFor(r identity.Role) string {
	if r == identity.RoleSiteStaff {
		return "correct horse battery staple"
	}
	return ""
}

// Tenant creates an organisation (or, for kind platform, uses the root's)
// with one user of each role.
func (f *Fixtures) Tenant(t testing.TB, kind identity.OrgKind, slug string, specialties []string, roles ...identity.Role) *Tenant {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx := context.Background()
	var org identity.Org
	var err error
	if kind == identity.OrgPlatform {
		org, err = f.Service.GetOrg(ctx, f.root, f.root.OrgID)
	} else {
		org, err = f.Service.CreateOrg(ctx, f.root, identity.NewOrg{Kind: kind, Name: slug, Slug: slug, Specialties: specialties})
	}
	if err != nil {
		t.Fatalf("fixtures: org %s: %v", slug, err)
	}
	tn := &Tenant{Org: org, Users: map[identity.Role]identity.User{}, Tokens: map[identity.Role]string{},
		Principals: map[identity.Role]*identity.Principal{}}
	for _, r := range roles {
		var sp []string
		if r == identity.RoleSpecialist {
			sp = specialties
		}
		u, err := f.Service.CreateUser(ctx, f.root, identity.NewUser{OrgID: org.ID, Email: fmt.Sprintf("%s@%s.example", r, slug),
			Name: string(r), Roles: []identity.Role{r}, Specialties: sp, Password: PasswordFor(r)})
		if err != nil {
			t.Fatalf("fixtures: user %s: %v", r, err)
		}
		_, secret, err := f.Service.CreateToken(ctx, f.root, identity.NewToken{UserID: u.ID, Name: "test"})
		if err != nil {
			t.Fatalf("fixtures: token %s: %v", r, err)
		}
		p, err := f.Service.AuthenticateToken(ctx, secret)
		if err != nil {
			t.Fatalf("fixtures: principal %s: %v", r, err)
		}
		tn.Users[r], tn.Tokens[r], tn.Principals[r] = u, secret, p
	}
	return tn
}
