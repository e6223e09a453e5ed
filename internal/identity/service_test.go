package identity_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
)

func TestPrincipal(t *testing.T) {
	t.Parallel()
	p := &identity.Principal{UserID: uuid.New(), OrgID: uuid.New(), Roles: []identity.Role{identity.RoleSiteStaff}}
	require.True(t, p.Has(identity.RoleSiteStaff))
	require.False(t, p.Has(identity.RoleOrgAdmin))
	require.True(t, p.HasAny(identity.RoleOrgAdmin, identity.RoleSiteStaff))
	require.False(t, p.HasAny())
	require.False(t, p.IsPlatformAdmin())
	a := p.Actor()
	require.Equal(t, p.UserID, *a.UserID)
	require.Equal(t, p.OrgID, *a.OrgID)

	require.Nil(t, identity.FromContext(context.Background()))
	require.Same(t, p, identity.FromContext(identity.WithPrincipal(context.Background(), p)))
}

func TestOrgVisibility(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	siteAdmin := b.site.Principals[identity.RoleOrgAdmin]
	staff := b.site.Principals[identity.RoleSiteStaff]

	// Platform admins see every organisation; others only their own.
	all, err := b.svc.ListOrgs(ctx, b.root, nil)
	require.NoError(t, err)
	require.Len(t, all, 4, "platform, two sites and a reading group")
	kind := string(identity.OrgSite)
	sites, err := b.svc.ListOrgs(ctx, b.root, &kind)
	require.NoError(t, err)
	require.Len(t, sites, 2)
	for _, p := range []*identity.Principal{siteAdmin, staff} {
		own, err := b.svc.ListOrgs(ctx, p, nil)
		require.NoError(t, err)
		require.Len(t, own, 1)
		require.Equal(t, b.site.Org.ID, own[0].ID)
	}
	for _, o := range []uuid.UUID{b.site2.Org.ID, b.readers.Org.ID, b.root.OrgID} {
		_, err := b.svc.GetOrg(ctx, siteAdmin, o)
		require.True(t, apperr.Is(err, apperr.NotFound), "another tenant's organisation: %v", err)
		got, err := b.svc.GetOrg(ctx, b.root, o)
		require.NoError(t, err)
		require.Equal(t, o, got.ID)
	}
	got, err := b.svc.GetOrg(ctx, staff, b.site.Org.ID)
	require.NoError(t, err)
	require.Equal(t, "site", got.Slug)

	_, err = b.svc.CreateOrg(ctx, siteAdmin, identity.NewOrg{Kind: identity.OrgSite, Name: "x", Slug: "x-site"})
	require.True(t, apperr.Is(err, apperr.Forbidden))
	_, err = b.svc.CreateOrg(ctx, b.root, identity.NewOrg{Kind: identity.OrgReadingGroup, Name: "Rad", Slug: "rad"})
	require.True(t, apperr.Is(err, apperr.Invalid), "a reading group needs a specialty: %v", err)
	_, err = b.svc.CreateOrg(ctx, b.root, identity.NewOrg{Kind: identity.OrgSite, Name: "Dup", Slug: "site"})
	require.True(t, apperr.Is(err, apperr.Conflict), "slugs are unique: %v", err)
}

func TestUserScoping(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	siteAdmin := b.site.Principals[identity.RoleOrgAdmin]
	staff := b.site.Principals[identity.RoleSiteStaff]
	physician := b.site.Users[identity.RoleReferringPhysician]
	other := b.site2.Users[identity.RoleSiteStaff]

	t.Run("Get", func(t *testing.T) {
		u, err := b.svc.GetUser(ctx, staff, staff.UserID)
		require.NoError(t, err, "everyone sees themselves")
		require.Equal(t, staff.UserID, u.ID)
		_, err = b.svc.GetUser(ctx, staff, physician.ID)
		require.True(t, apperr.Is(err, apperr.NotFound), "users do not see colleagues")
		_, err = b.svc.GetUser(ctx, siteAdmin, physician.ID)
		require.NoError(t, err)
		_, err = b.svc.GetUser(ctx, siteAdmin, other.ID)
		require.True(t, apperr.Is(err, apperr.NotFound), "another site's user")
		_, err = b.svc.GetUser(ctx, b.root, other.ID)
		require.NoError(t, err)
	})

	t.Run("List", func(t *testing.T) {
		users, err := b.svc.ListUsers(ctx, siteAdmin, nil)
		require.NoError(t, err)
		require.Len(t, users, 3)
		for _, u := range users {
			require.Equal(t, b.site.Org.ID, u.OrgID)
		}
		none, err := b.svc.ListUsers(ctx, siteAdmin, &b.site2.Org.ID)
		require.NoError(t, err)
		require.Empty(t, none, "filtering by another site does not widen the scope")
		theirs, err := b.svc.ListUsers(ctx, b.root, &b.site2.Org.ID)
		require.NoError(t, err)
		require.Len(t, theirs, 2)
		all, err := b.svc.ListUsers(ctx, b.root, nil)
		require.NoError(t, err)
		require.Len(t, all, 3+2+2+1, "every tenant's users and the root")
	})

	t.Run("Update", func(t *testing.T) {
		name := "Dr Who"
		_, err := b.svc.UpdateUser(ctx, siteAdmin, other.ID, identity.UserChange{Name: &name})
		require.True(t, apperr.Is(err, apperr.NotFound), "another site's user: %v", err)
		_, err = b.svc.UpdateUser(ctx, b.readers.Principals[identity.RoleOrgAdmin], physician.ID, identity.UserChange{Name: &name})
		require.True(t, apperr.Is(err, apperr.NotFound))
		_, err = b.svc.UpdateUser(ctx, staff, staff.UserID, identity.UserChange{Name: &name})
		require.True(t, apperr.Is(err, apperr.Forbidden), "only admins change users: %v", err)
		u, err := b.svc.UpdateUser(ctx, siteAdmin, physician.ID, identity.UserChange{Name: &name})
		require.NoError(t, err)
		require.Equal(t, name, u.Name)
		disabled := true
		_, err = b.svc.UpdateUser(ctx, siteAdmin, siteAdmin.UserID, identity.UserChange{Disabled: &disabled})
		require.True(t, apperr.Is(err, apperr.Invalid), "admins cannot disable themselves")
	})

	t.Run("Roles", func(t *testing.T) {
		for name, tc := range map[string]struct {
			by    *identity.Principal
			org   uuid.UUID
			roles []identity.Role
			code  apperr.Code
		}{
			"SpecialistAtSite":      {siteAdmin, b.site.Org.ID, []identity.Role{identity.RoleSpecialist}, apperr.Invalid},
			"StaffInReadingGroup":   {b.root, b.readers.Org.ID, []identity.Role{identity.RoleSiteStaff}, apperr.Invalid},
			"PlatformAdminAtSite":   {b.root, b.site.Org.ID, []identity.Role{identity.RolePlatformAdmin}, apperr.Invalid},
			"PlatformAdminByAdmin":  {siteAdmin, b.site.Org.ID, []identity.Role{identity.RolePlatformAdmin}, apperr.Invalid},
			"NoRole":                {siteAdmin, b.site.Org.ID, nil, apperr.Invalid},
			"UnknownRole":           {siteAdmin, b.site.Org.ID, []identity.Role{"superuser"}, apperr.Invalid},
			"OtherSite":             {siteAdmin, b.site2.Org.ID, []identity.Role{identity.RoleSiteStaff}, apperr.NotFound},
			"NotAnAdmin":            {staff, b.site.Org.ID, []identity.Role{identity.RoleSiteStaff}, apperr.Forbidden},
			"SpecialistNoSpecialty": {b.readers.Principals[identity.RoleOrgAdmin], b.readers.Org.ID, []identity.Role{identity.RoleSpecialist}, apperr.Invalid},
		} {
			_, err := b.svc.CreateUser(ctx, tc.by, identity.NewUser{OrgID: tc.org, Email: "new@site.example", Name: "New",
				Roles: tc.roles})
			require.True(t, apperr.Is(err, tc.code), "%s: %v", name, err)
		}
		u, err := b.svc.CreateUser(ctx, siteAdmin, identity.NewUser{OrgID: b.site.Org.ID, Email: "new@site.example",
			Name: "New", Roles: []identity.Role{identity.RoleSiteStaff, identity.RoleSiteStaff}})
		require.NoError(t, err)
		require.Equal(t, []string{"site_staff"}, u.Roles, "roles are de-duplicated")
		_, err = b.svc.CreateUser(ctx, siteAdmin, identity.NewUser{OrgID: b.site.Org.ID, Email: "new@site.example",
			Name: "New", Roles: []identity.Role{identity.RoleSiteStaff}})
		require.True(t, apperr.Is(err, apperr.Conflict), "e-mails are unique: %v", err)
	})
}
