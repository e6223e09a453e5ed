package identity_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/testenv"
)

type testBundle struct {
	env     *testenv.Env
	svc     *identity.Service
	root    *identity.Principal
	site    *testenv.Tenant
	site2   *testenv.Tenant
	readers *testenv.Tenant
	// offset moves svc's clock forward (or back).
	offset atomic.Int64
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	env := testenv.New(t)
	fx := testenv.NewFixtures(t, env)
	b := &testBundle{env: env, root: fx.Root(), svc: identity.NewService(env.Pool)}
	identity.SetClock(b.svc, func() time.Time { return time.Now().Add(time.Duration(b.offset.Load())) })
	b.site = fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician,
		identity.RoleOrgAdmin)
	b.site2 = fx.Tenant(t, identity.OrgSite, "site-two", nil, identity.RoleSiteStaff, identity.RoleOrgAdmin)
	b.readers = fx.Tenant(t, identity.OrgReadingGroup, "derm", []string{identity.SpecialtyDermatology},
		identity.RoleSpecialist, identity.RoleOrgAdmin)
	return b
}

// shift moves the service's clock by d.
func (b *testBundle) shift(d time.Duration) { b.offset.Add(int64(d)) }

func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
