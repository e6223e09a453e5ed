package identity_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	password := testenv.PasswordFor(identity.RoleSiteStaff)

	t.Run("LoginAndAuthenticate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Users[identity.RoleSiteStaff]
		sess, err := b.svc.Login(ctx, " "+staff.Email+" ", password, "192.0.2.1", "req-1")
		require.NoError(t, err)
		require.NotEmpty(t, sess.Secret)
		require.NotEmpty(t, sess.CSRFToken)
		require.NotEqual(t, sess.Secret, sess.CSRFToken)
		require.WithinDuration(t, time.Now().Add(12*time.Hour), sess.ExpiresAt, time.Minute)
		require.Equal(t, staff.ID, sess.Principal.UserID)
		require.Equal(t, sess.ID, sess.Principal.SessionID)
		require.Equal(t, sess.CSRFToken, sess.Principal.CSRFToken)
		require.Equal(t, identity.OrgSite, sess.Principal.OrgKind)
		// The cookie value is stored as its hash only.
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM sessions WHERE id = $1 AND secret_hash = sha256(convert_to($2, 'UTF8'))",
			sess.ID, sess.Secret))

		p, err := b.svc.AuthenticateSession(ctx, sess.Secret)
		require.NoError(t, err)
		require.Equal(t, staff.ID, p.UserID)
		require.Equal(t, b.site.Org.ID, p.OrgID)
		require.Equal(t, sess.ID, p.SessionID)
		require.Equal(t, sess.CSRFToken, p.CSRFToken, "the CSRF token travels with the principal")
		require.Equal(t, []identity.Role{identity.RoleSiteStaff}, p.Roles)

		// A second login is a second session with its own CSRF token.
		other, err := b.svc.Login(ctx, staff.Email, password, "192.0.2.1", "req-2")
		require.NoError(t, err)
		require.NotEqual(t, sess.CSRFToken, other.CSRFToken)

		for _, bad := range []string{"", altered(sess.Secret), sess.CSRFToken} {
			_, err := b.svc.AuthenticateSession(ctx, bad)
			require.True(t, apperr.Is(err, apperr.Unauthorized), "%q: %v", bad, err)
		}
		require.Equal(t, 2, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'login.success'"))
	})

	t.Run("BadCredentials", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Users[identity.RoleSiteStaff]
		_, err := b.svc.Login(ctx, staff.Email, "wrong password!", "192.0.2.2", "")
		require.True(t, apperr.Is(err, apperr.Unauthorized))
		_, err2 := b.svc.Login(ctx, "nobody@site.example", password, "192.0.2.2", "")
		require.True(t, apperr.Is(err2, apperr.Unauthorized))
		require.Equal(t, err.Error(), err2.Error(), "the answer does not tell which part was wrong")
		// A user without a password signs in with tokens only.
		_, err = b.svc.Login(ctx, b.site.Users[identity.RoleOrgAdmin].Email, "", "192.0.2.2", "")
		require.True(t, apperr.Is(err, apperr.Invalid))
		_, err = b.svc.Login(ctx, b.site.Users[identity.RoleOrgAdmin].Email, password, "192.0.2.2", "")
		require.True(t, apperr.Is(err, apperr.Unauthorized))
		require.Equal(t, 3, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'login.fail'"))
	})

	t.Run("Throttled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Users[identity.RoleSiteStaff]
		for range 5 {
			_, err := b.svc.Login(ctx, staff.Email, "wrong password!", "192.0.2.3", "")
			require.True(t, apperr.Is(err, apperr.Unauthorized))
		}
		_, err := b.svc.Login(ctx, staff.Email, password, "192.0.2.4", "")
		e, ok := apperr.As(err)
		require.True(t, ok && e.Code == apperr.RateLimited, "even the right password is refused: %v", err)
		require.Positive(t, e.RetryAfterSeconds)
		// Another user is not throttled by them.
		_, err = b.svc.Login(ctx, b.site2.Users[identity.RoleSiteStaff].Email, password, "192.0.2.4", "")
		require.NoError(t, err)
	})

	t.Run("ThrottledConcurrently", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Users[identity.RoleSiteStaff]
		// Twenty wrong passwords at once, through two services on two
		// pools (two API servers): only five are checked, the others are
		// refused before their password is, whoever answers them.
		pool2, err := pgxpool.New(ctx, b.env.DatabaseURL)
		require.NoError(t, err)
		t.Cleanup(pool2.Close)
		svcs := []*identity.Service{b.svc, identity.NewService(pool2)}
		var unauthorized, limited atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				_, err := svcs[i%2].Login(ctx, staff.Email, "wrong password!", "192.0.2.7", "")
				switch {
				case apperr.Is(err, apperr.Unauthorized):
					unauthorized.Add(1)
				case apperr.Is(err, apperr.RateLimited):
					limited.Add(1)
				default:
					t.Errorf("attempt %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		require.EqualValues(t, 5, unauthorized.Load(), "password checks")
		require.EqualValues(t, 15, limited.Load(), "refused before the check")
		require.Equal(t, 5, b.count(t, "SELECT count(*) FROM login_failures WHERE email = lower($1)", staff.Email))
		require.Equal(t, 5, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'login.fail'"))
		_, err = b.svc.Login(ctx, staff.Email, password, "192.0.2.8", "")
		require.True(t, apperr.Is(err, apperr.RateLimited), "the right password waits too: %v", err)

		// A success clears the e-mail's failures, its own counted attempt
		// included.
		other := b.site2.Users[identity.RoleSiteStaff]
		_, err = b.svc.Login(ctx, other.Email, "wrong password!", "192.0.2.9", "")
		require.True(t, apperr.Is(err, apperr.Unauthorized))
		_, err = b.svc.Login(ctx, other.Email, password, "192.0.2.9", "")
		require.NoError(t, err)
		require.Zero(t, b.count(t, "SELECT count(*) FROM login_failures WHERE email = lower($1)", other.Email))
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Users[identity.RoleSiteStaff]
		// A session opened 13 hours ago has expired.
		b.shift(-13 * time.Hour)
		sess, err := b.svc.Login(ctx, staff.Email, password, "192.0.2.5", "")
		require.NoError(t, err)
		b.shift(13 * time.Hour)
		_, err = b.svc.AuthenticateSession(ctx, sess.Secret)
		require.True(t, apperr.Is(err, apperr.Unauthorized), "%v", err)

		// Use slides a live session's expiry.
		sess, err = b.svc.Login(ctx, staff.Email, password, "192.0.2.5", "")
		require.NoError(t, err)
		_, err = b.env.Pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now() - interval '2 minutes',
			expires_at = now() + interval '1 minute' WHERE id = $1`, sess.ID)
		require.NoError(t, err)
		_, err = b.svc.AuthenticateSession(ctx, sess.Secret)
		require.NoError(t, err)
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM sessions WHERE id = $1 AND expires_at > now() + interval '11 hours'", sess.ID))

		// The sweep removes expired sessions.
		_, err = b.env.Pool.Exec(ctx, "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1", sess.ID)
		require.NoError(t, err)
		require.NoError(t, b.svc.SweepExpired(ctx))
		require.Zero(t, b.count(t, "SELECT count(*) FROM sessions WHERE id = $1", sess.ID))
	})

	t.Run("LogoutAndDisable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		staff := b.site.Users[identity.RoleSiteStaff]
		sess, err := b.svc.Login(ctx, staff.Email, password, "192.0.2.6", "")
		require.NoError(t, err)
		require.True(t, apperr.Is(b.svc.Logout(ctx, b.site.Principals[identity.RoleSiteStaff]), apperr.Invalid),
			"a token caller has no session to end")
		require.NoError(t, b.svc.Logout(ctx, sess.Principal))
		_, err = b.svc.AuthenticateSession(ctx, sess.Secret)
		require.True(t, apperr.Is(err, apperr.Unauthorized))

		// Disabling a user ends their sessions.
		sess, err = b.svc.Login(ctx, staff.Email, password, "192.0.2.6", "")
		require.NoError(t, err)
		disabled := true
		_, err = b.svc.UpdateUser(ctx, b.site.Principals[identity.RoleOrgAdmin], staff.ID, identity.UserChange{Disabled: &disabled})
		require.NoError(t, err)
		_, err = b.svc.AuthenticateSession(ctx, sess.Secret)
		require.True(t, apperr.Is(err, apperr.Unauthorized))
		require.Zero(t, b.count(t, "SELECT count(*) FROM sessions WHERE user_id = $1", staff.ID))
		_, err = b.svc.Login(ctx, staff.Email, password, "192.0.2.6", "")
		require.True(t, apperr.Is(err, apperr.Unauthorized), "a disabled user cannot sign in")
	})
}
