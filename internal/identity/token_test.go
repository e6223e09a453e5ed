package identity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("CreateAndAuthenticate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Principals[identity.RoleSiteStaff]
		tok, secret, err := b.svc.CreateToken(ctx, staff, identity.NewToken{Name: " uploader "})
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(secret, identity.TokenPrefix))
		require.True(t, strings.HasPrefix(secret, tok.Prefix), "the prefix shown in lists starts the secret")
		require.Len(t, tok.Prefix, len(identity.TokenPrefix)+6)
		require.Equal(t, "uploader", tok.Name)
		require.Equal(t, staff.UserID, tok.UserID)
		require.Equal(t, b.site.Org.ID, tok.OrgID)
		require.NotNil(t, tok.ExpiresAt)
		require.WithinDuration(t, time.Now().Add(90*24*time.Hour), *tok.ExpiresAt, time.Minute, "90 days by default")

		// Stored as its SHA-256 only.
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM api_tokens WHERE id = $1 AND secret_hash = sha256(convert_to($2, 'UTF8'))",
			tok.ID, secret))
		require.Zero(t, b.count(t, "SELECT count(*) FROM api_tokens WHERE position(convert_to($1, 'UTF8') in secret_hash) > 0 OR name = $1 OR prefix = $1",
			secret))

		p, err := b.svc.AuthenticateToken(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, staff.UserID, p.UserID)
		require.Equal(t, b.site.Org.ID, p.OrgID)
		require.Equal(t, identity.OrgSite, p.OrgKind)
		require.Equal(t, []identity.Role{identity.RoleSiteStaff}, p.Roles)
		require.Equal(t, tok.ID, p.TokenID)
		require.Equal(t, uuid.Nil, p.SessionID)
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM api_tokens WHERE id = $1 AND last_used_at IS NOT NULL", tok.ID))
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'token.create' AND object_id = $1",
			tok.ID.String()))
	})

	t.Run("BadSecrets", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		secret := b.site.Tokens[identity.RoleSiteStaff]
		for name, s := range map[string]string{
			"Malformed": "Bearer " + secret,
			"Unknown":   identity.TokenPrefix + strings.Repeat("A", 43),
			"Altered":   altered(secret),
			"TooLong":   identity.TokenPrefix + strings.Repeat("A", 300),
		} {
			_, err := b.svc.AuthenticateToken(ctx, s)
			require.True(t, apperr.Is(err, apperr.Unauthorized), "%s: %v", name, err)
		}
	})

	t.Run("Validation", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Principals[identity.RoleSiteStaff]
		for name, in := range map[string]identity.NewToken{
			"NoName":   {Name: "  "},
			"TooShort": {Name: "x", TTL: time.Second},
			"TooLong":  {Name: "x", TTL: identity.MaxTokenTTL + time.Hour},
		} {
			_, _, err := b.svc.CreateToken(ctx, staff, in)
			require.True(t, apperr.Is(err, apperr.Invalid), "%s: %v", name, err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Principals[identity.RoleSiteStaff]
		_, secret, err := b.svc.CreateToken(ctx, staff, identity.NewToken{Name: "short", TTL: time.Hour})
		require.NoError(t, err)
		_, err = b.svc.AuthenticateToken(ctx, secret)
		require.NoError(t, err)
		b.shift(time.Hour + time.Second)
		_, err = b.svc.AuthenticateToken(ctx, secret)
		require.True(t, apperr.Is(err, apperr.Unauthorized), "expired: %v", err)
		require.ErrorContains(t, err, "expired")
	})

	t.Run("Revoke", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Principals[identity.RoleSiteStaff]
		tok, secret, err := b.svc.CreateToken(ctx, staff, identity.NewToken{Name: "revoked"})
		require.NoError(t, err)

		// Other tenants, and users who do not administer it, see no token.
		for name, p := range map[string]*identity.Principal{
			"OtherSiteAdmin": b.site2.Principals[identity.RoleOrgAdmin],
			"ReadingGroup":   b.readers.Principals[identity.RoleOrgAdmin],
			"SameSiteUser":   b.site.Principals[identity.RoleReferringPhysician],
		} {
			_, err := b.svc.RevokeToken(ctx, p, tok.ID)
			require.True(t, apperr.Is(err, apperr.NotFound), "%s: %v", name, err)
		}
		_, err = b.svc.AuthenticateToken(ctx, secret)
		require.NoError(t, err, "refused revocations change nothing")

		for range 2 {
			got, err := b.svc.RevokeToken(ctx, staff, tok.ID)
			require.NoError(t, err, "revoking twice is harmless")
			require.NotNil(t, got.RevokedAt)
		}
		_, err = b.svc.AuthenticateToken(ctx, secret)
		require.True(t, apperr.Is(err, apperr.Unauthorized))
		require.ErrorContains(t, err, "revoked")

		// The site's admin revokes its users' tokens; a platform admin any.
		_, s2, err := b.svc.CreateToken(ctx, staff, identity.NewToken{Name: "by admin"})
		require.NoError(t, err)
		p2, err := b.svc.AuthenticateToken(ctx, s2)
		require.NoError(t, err)
		_, err = b.svc.RevokeToken(ctx, b.site.Principals[identity.RoleOrgAdmin], p2.TokenID)
		require.NoError(t, err)
		_, err = b.svc.RevokeToken(ctx, b.root, b.site2.Principals[identity.RoleSiteStaff].TokenID)
		require.NoError(t, err)
		_, err = b.svc.AuthenticateToken(ctx, b.site2.Tokens[identity.RoleSiteStaff])
		require.True(t, apperr.Is(err, apperr.Unauthorized))
	})

	t.Run("Owners", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Principals[identity.RoleSiteStaff]
		physician := b.site.Users[identity.RoleReferringPhysician]
		_, _, err := b.svc.CreateToken(ctx, staff, identity.NewToken{UserID: physician.ID, Name: "x"})
		require.True(t, apperr.Is(err, apperr.NotFound), "users make tokens only for themselves: %v", err)
		_, _, err = b.svc.CreateToken(ctx, b.site2.Principals[identity.RoleOrgAdmin], identity.NewToken{UserID: physician.ID, Name: "x"})
		require.True(t, apperr.Is(err, apperr.NotFound), "another site's admin: %v", err)
		tok, _, err := b.svc.CreateToken(ctx, b.site.Principals[identity.RoleOrgAdmin], identity.NewToken{UserID: physician.ID, Name: "x"})
		require.NoError(t, err)
		require.Equal(t, physician.ID, tok.UserID)

		own, err := b.svc.ListTokens(ctx, staff, &physician.ID)
		require.NoError(t, err)
		require.NotEmpty(t, own)
		for _, tk := range own {
			require.Equal(t, staff.UserID, tk.UserID, "a user lists only their own tokens")
		}
		site, err := b.svc.ListTokens(ctx, b.site.Principals[identity.RoleOrgAdmin], nil)
		require.NoError(t, err)
		require.Len(t, site, 4, "the site's three fixture tokens and the physician's new one")
		for _, tk := range site {
			require.Equal(t, b.site.Org.ID, tk.OrgID)
		}
		all, err := b.svc.ListTokens(ctx, b.root, nil)
		require.NoError(t, err)
		require.Greater(t, len(all), len(site))

		// A disabled user's tokens stop working at once, and none are made.
		disabled := true
		_, err = b.svc.UpdateUser(ctx, b.site.Principals[identity.RoleOrgAdmin], physician.ID, identity.UserChange{Disabled: &disabled})
		require.NoError(t, err)
		_, err = b.svc.AuthenticateToken(ctx, b.site.Tokens[identity.RoleReferringPhysician])
		require.True(t, apperr.Is(err, apperr.Unauthorized))
		_, _, err = b.svc.CreateToken(ctx, b.site.Principals[identity.RoleOrgAdmin], identity.NewToken{UserID: physician.ID, Name: "y"})
		require.True(t, apperr.Is(err, apperr.Conflict), "%v", err)
	})
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	h := identity.HashPassword("correct horse battery staple")
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$"))
	require.NotEqual(t, h, identity.HashPassword("correct horse battery staple"), "salted")
	ok, err := identity.CheckPassword(h, "correct horse battery staple")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = identity.CheckPassword(h, "correct horse battery stapler")
	require.NoError(t, err)
	require.False(t, ok)
	for _, bad := range []string{"", "plain", "$bcrypt$x$y$z$w", strings.Replace(h, "v=19", "v=18", 1)} {
		_, err := identity.CheckPassword(bad, "x")
		require.Error(t, err, bad)
	}
}

// altered returns secret with its last character changed.
func altered(secret string) string {
	last := byte('A')
	if secret[len(secret)-1] == 'A' {
		last = 'B'
	}
	return secret[:len(secret)-1] + string(last)
}
