package worklist_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

type testBundle struct {
	env   *testenv.Env
	fx    *testenv.Fixtures
	cases *cases.Service
	wl    *worklist.Service
	site  *testenv.Tenant
	site2 *testenv.Tenant
	derm  *testenv.Tenant
	rad   *testenv.Tenant
	root  *identity.Principal
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	fx := testenv.NewFixtures(t, env)
	b := &testBundle{env: env, fx: fx, cases: cases.NewService(env.Pool, river), wl: worklist.NewService(env.Pool), root: fx.Root()}
	b.site = fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	b.site2 = fx.Tenant(t, identity.OrgSite, "site-two", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	b.derm = fx.Tenant(t, identity.OrgReadingGroup, "derm", []string{"dermatology"}, identity.RoleSpecialist, identity.RoleOrgAdmin)
	b.rad = fx.Tenant(t, identity.OrgReadingGroup, "rad", []string{"radiology"}, identity.RoleSpecialist, identity.RoleOrgAdmin)
	return b
}

func (b *testBundle) rule(t *testing.T, in worklist.NewRule) worklist.Rule {
	t.Helper()
	if in.Name == "" {
		in.Name = "rule"
	}
	r, err := b.wl.CreateRule(context.Background(), b.root, in)
	require.NoError(t, err)
	return r
}

// submitted makes a submitted case of site with one (fixture) file.
func (b *testBundle) submitted(t *testing.T, site *testenv.Tenant, specialty, priority, bodySite string) cases.Case {
	t.Helper()
	ctx := context.Background()
	staff := site.Principals[identity.RoleSiteStaff]
	c, err := b.cases.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: site.Users[identity.RoleReferringPhysician].ID,
		Specialty: specialty, Priority: priority, PatientName: "Pat Test", PatientBirthDate: "1960-05-06", PatientSex: "M",
		PatientMRN: "M1", ClinicalQuestion: "?", LesionBodySite: bodySite})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, `INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key,
		stored_size, stored_sha256, uploaded_by) VALUES ($1, $2, 'photo', 'a.jpg', 'image/jpeg', 1, $3, 'k', 1, $3, $4)`,
		c.ID, c.SiteOrgID, fmt.Sprintf("%064x", time.Now().UnixNano()), staff.UserID)
	require.NoError(t, err)
	c, err = b.cases.Submit(ctx, staff, c.ID)
	require.NoError(t, err)
	return c
}

func TestRoutingRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	derm2 := b.fx.Tenant(t, identity.OrgReadingGroup, "derm-face", []string{"dermatology"}, identity.RoleSpecialist)
	b.rule(t, worklist.NewRule{Specialty: "dermatology", ReadingGroupID: b.derm.Org.ID, IsDefault: true})
	faces := b.rule(t, worklist.NewRule{Position: 10, Specialty: "dermatology", BodySite: "face", ReadingGroupID: derm2.Org.ID})
	fromSite2 := b.rule(t, worklist.NewRule{Position: 20, Specialty: "dermatology", SiteOrgID: &b.site2.Org.ID, ReadingGroupID: derm2.Org.ID})

	_, err := b.wl.CreateRule(ctx, b.root, worklist.NewRule{Name: "x", Specialty: "dermatology", ReadingGroupID: b.rad.Org.ID})
	e, ok := apperr.As(err)
	require.True(t, ok)
	require.Contains(t, e.Fields["reading_group_id"], "does not read dermatology")
	_, err = b.wl.CreateRule(ctx, b.root, worklist.NewRule{Name: "x", Specialty: "dermatology", ReadingGroupID: b.derm.Org.ID, IsDefault: true})
	require.True(t, apperr.Is(err, apperr.Conflict), "one default per specialty")
	_, err = b.wl.CreateRule(ctx, b.derm.Principals[identity.RoleOrgAdmin], worklist.NewRule{})
	require.True(t, apperr.Is(err, apperr.Forbidden))

	for name, tc := range map[string]struct {
		site     *testenv.Tenant
		bodySite string
		group    uuid.UUID
		rule     *uuid.UUID
	}{
		"BodySiteRule": {b.site, "Left side of the FACE", derm2.Org.ID, &faces.ID},
		"SiteRule":     {b.site2, "back", derm2.Org.ID, &fromSite2.ID},
		"DefaultRule":  {b.site, "back", b.derm.Org.ID, nil},
	} {
		c := b.submitted(t, tc.site, "dermatology", "urgent", tc.bodySite)
		before := time.Now()
		d, err := b.wl.Route(ctx, c.ID)
		require.NoError(t, err, name)
		require.True(t, d.Routed, name)
		require.Equal(t, tc.group, d.ReadingGroupID, name)
		if tc.rule != nil {
			require.Equal(t, *tc.rule, *d.RuleID, name)
		}
		require.WithinDuration(t, before.Add(4*time.Hour), d.DueAt, 5*time.Second, "urgent is due in 4 h by default")

		again, err := b.wl.Route(ctx, c.ID)
		require.NoError(t, err)
		require.True(t, again.Skipped, "routing twice is a no-op")
	}
}

func TestUnroutedIsNotLost(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.submitted(t, b.site, "radiology", "stat", "")
	d, err := b.wl.Route(ctx, c.ID)
	require.NoError(t, err)
	require.False(t, d.Routed)
	require.Contains(t, d.Reason, "there is no radiology rule at all")

	list, err := b.wl.Unrouted(ctx, b.root)
	require.NoError(t, err)
	require.Len(t, list, 1)
	evs, err := b.cases.Events(ctx, b.site.Principals[identity.RoleSiteStaff], c.ID)
	require.NoError(t, err)
	require.Equal(t, "unrouted", evs[len(evs)-1].Kind, "the site sees why")

	// A custom service level applies once an admin adds a rule.
	_, err = b.wl.PutSettings(ctx, b.rad.Principals[identity.RoleOrgAdmin], worklist.Settings{OrgID: b.rad.Org.ID,
		SlaStat: 30 * time.Minute, SlaUrgent: time.Hour, SlaRoutine: 24 * time.Hour, ClaimLease: 10 * time.Minute,
		CriticalAckWithin: time.Hour})
	require.NoError(t, err)
	b.rule(t, worklist.NewRule{Specialty: "radiology", ReadingGroupID: b.rad.Org.ID, IsDefault: true})
	d, err = b.wl.Route(ctx, c.ID)
	require.NoError(t, err)
	require.True(t, d.Routed)
	require.WithinDuration(t, time.Now().Add(30*time.Minute), d.DueAt, 5*time.Second)
	list, err = b.wl.Unrouted(ctx, b.root)
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.rule(t, worklist.NewRule{Specialty: "radiology", ReadingGroupID: b.rad.Org.ID, IsDefault: true})
	c := b.submitted(t, b.site, "radiology", "routine", "")
	_, err := b.wl.Route(ctx, c.ID)
	require.NoError(t, err)

	// 20 specialists of the group claim at once.
	var specialists []*identity.Principal
	for i := range 20 {
		u, err := b.fx.Service.CreateUser(ctx, b.root, identity.NewUser{OrgID: b.rad.Org.ID,
			Email: fmt.Sprintf("r%d@rad.example", i), Name: "R", Roles: []identity.Role{identity.RoleSpecialist},
			Specialties: []string{"radiology"}})
		require.NoError(t, err)
		_, tok, err := b.fx.Service.CreateToken(ctx, b.root, identity.NewToken{UserID: u.ID, Name: "t"})
		require.NoError(t, err)
		p, err := b.fx.Service.AuthenticateToken(ctx, tok)
		require.NoError(t, err)
		specialists = append(specialists, p)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(specialists))
	start := make(chan struct{})
	for i, p := range specialists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = b.wl.Claim(ctx, p, c.ID)
		}()
	}
	close(start)
	wg.Wait()
	wins, conflicts := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case apperr.Is(err, apperr.Conflict):
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	require.Equal(t, 1, wins)
	require.Equal(t, 19, conflicts)
}

func TestLeaseExpiryAndRelease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.rule(t, worklist.NewRule{Specialty: "dermatology", ReadingGroupID: b.derm.Org.ID, IsDefault: true})
	c := b.submitted(t, b.site, "dermatology", "stat", "arm")
	_, err := b.wl.Route(ctx, c.ID)
	require.NoError(t, err)
	spec := b.derm.Principals[identity.RoleSpecialist]
	claimed, err := b.wl.Claim(ctx, spec, c.ID)
	require.NoError(t, err)
	require.Equal(t, "in_review", claimed.Status)
	require.Equal(t, spec.UserID, *claimed.AssignedTo)

	n, err := b.wl.ExpireLeases(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a live lease stays")
	_, err = b.env.Pool.Exec(ctx, "UPDATE cases SET claim_expires_at = now() - interval '1 second' WHERE id = $1", c.ID)
	require.NoError(t, err)
	n, err = b.wl.ExpireLeases(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	_, err = b.wl.Claim(ctx, spec, c.ID)
	require.NoError(t, err)
	released, err := b.wl.Release(ctx, spec, c.ID)
	require.NoError(t, err)
	require.Equal(t, "routed", released.Status)
	require.Nil(t, released.AssignedTo)

	// The admin gives it to a named specialist.
	got, err := b.wl.Reassign(ctx, b.derm.Principals[identity.RoleOrgAdmin], c.ID, spec.UserID)
	require.NoError(t, err)
	require.Equal(t, spec.UserID, *got.AssignedTo)
	_, err = b.wl.Reassign(ctx, b.derm.Principals[identity.RoleOrgAdmin], c.ID, b.rad.Users[identity.RoleSpecialist].ID)
	require.True(t, apperr.Is(err, apperr.Invalid), "not a specialist of this group")
}

func TestRequestInfoReturnsToSameSpecialist(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.rule(t, worklist.NewRule{Specialty: "dermatology", ReadingGroupID: b.derm.Org.ID, IsDefault: true})
	c := b.submitted(t, b.site, "dermatology", "routine", "back")
	_, err := b.wl.Route(ctx, c.ID)
	require.NoError(t, err)
	spec := b.derm.Principals[identity.RoleSpecialist]
	_, err = b.wl.RequestInfo(ctx, b.rad.Principals[identity.RoleSpecialist], c.ID, "x")
	require.True(t, apperr.Is(err, apperr.NotFound), "another group's specialist")
	_, err = b.wl.Claim(ctx, spec, c.ID)
	require.NoError(t, err)
	back, err := b.wl.RequestInfo(ctx, spec, c.ID, "please send a dermoscopic image")
	require.NoError(t, err)
	require.Equal(t, "info_requested", back.Status)
	require.Equal(t, "please send a dermoscopic image", *back.InfoRequest)

	staff := b.site.Principals[identity.RoleSiteStaff]
	_, err = b.cases.Submit(ctx, staff, c.ID)
	require.NoError(t, err)
	d, err := b.wl.Route(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, b.derm.Org.ID, d.ReadingGroupID)
	got, err := b.cases.Get(ctx, spec, c.ID)
	require.NoError(t, err)
	require.Equal(t, "in_review", got.Status)
	require.Equal(t, spec.UserID, *got.AssignedTo, "back to the same specialist")
}

func TestWorklistOrderFiltersAndTenancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.rule(t, worklist.NewRule{Specialty: "dermatology", ReadingGroupID: b.derm.Org.ID, IsDefault: true})
	b.rule(t, worklist.NewRule{Specialty: "radiology", ReadingGroupID: b.rad.Org.ID, IsDefault: true})
	var ids []uuid.UUID
	for _, prio := range []string{"routine", "stat", "urgent", "stat"} {
		c := b.submitted(t, b.site, "dermatology", prio, "arm")
		_, err := b.wl.Route(ctx, c.ID)
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	radCase := b.submitted(t, b.site, "radiology", "stat", "")
	_, err := b.wl.Route(ctx, radCase.ID)
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, "UPDATE cases SET due_at = now() - interval '1 minute' WHERE id = $1", ids[0])
	require.NoError(t, err)

	spec := b.derm.Principals[identity.RoleSpecialist]
	page, err := b.wl.List(ctx, spec, worklist.Query{Limit: 2})
	require.NoError(t, err)
	require.Len(t, page.Items, 2)
	require.Equal(t, []string{"stat", "stat"}, []string{page.Items[0].Priority, page.Items[1].Priority})
	require.Equal(t, map[string]int{"stat": 2, "urgent": 1, "routine": 1}, page.Counts)
	require.Equal(t, 1, page.Overdue["routine"])
	require.NotNil(t, page.Next)
	rest, err := b.wl.List(ctx, spec, worklist.Query{Limit: 2, Cursor: page.Next})
	require.NoError(t, err)
	require.Equal(t, []string{"urgent", "routine"}, []string{rest.Items[0].Priority, rest.Items[1].Priority})
	require.True(t, rest.Items[1].Overdue)

	for _, it := range append(page.Items, rest.Items...) {
		require.False(t, it.AwaitingSecondRead)
	}
	// A signed preliminary report marks the case as waiting for a second read.
	// The two stat cases may share a due time (it is kept to the second):
	// the list breaks the tie by id, so the first one is whichever the
	// first page showed, not necessarily the first routed.
	first := page.Items[0].CaseID
	require.Contains(t, []uuid.UUID{ids[1], ids[3]}, first)
	_, err = b.env.Pool.Exec(ctx, `INSERT INTO reports (case_id, status, author_id, updated_by, content_sha256)
		VALUES ($1, 'preliminary', $2, $2, repeat('a', 64))`, first, spec.UserID)
	require.NoError(t, err)
	again, err := b.wl.List(ctx, spec, worklist.Query{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, first, again.Items[0].CaseID)
	require.True(t, again.Items[0].AwaitingSecondRead)

	overdue, err := b.wl.List(ctx, spec, worklist.Query{Overdue: true})
	require.NoError(t, err)
	require.Len(t, overdue.Items, 1)
	require.Equal(t, ids[0], overdue.Items[0].CaseID)

	for _, it := range append(page.Items, rest.Items...) {
		require.NotEqual(t, radCase.ID, it.CaseID, "another group's case is invisible")
	}
	_, err = b.wl.Claim(ctx, spec, radCase.ID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	_, err = b.cases.Get(ctx, spec, radCase.ID)
	require.True(t, apperr.Is(err, apperr.NotFound))
}
