package reports_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports"
)

func TestDraftVersions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.reader()
	c := b.claimed(t, p)

	// The lease is short: a save renews it.
	_, err := b.env.Pool.Exec(ctx, "UPDATE cases SET claim_expires_at = now() + interval '1 minute' WHERE id = $1", c.ID)
	require.NoError(t, err)

	res, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma?"), ptr(int32(0)))
	require.NoError(t, err)
	require.True(t, res.Created)
	require.Equal(t, int32(1), res.Report.Version)
	require.Equal(t, reports.StatusDraft, res.Report.Status)
	require.Equal(t, "C43.5", res.Report.Diagnoses[0].Code)
	var expires time.Time
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT claim_expires_at FROM cases WHERE id = $1", c.ID).Scan(&expires))
	require.WithinDuration(t, time.Now().Add(30*time.Minute), expires, time.Minute, "the save renewed the lease")

	t.Run("SameContentIsANoOp", func(t *testing.T) {
		again, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma?"), nil)
		require.NoError(t, err)
		require.False(t, again.Changed)
		require.Equal(t, int32(1), again.Report.Version)
	})
	v2, err := b.reports.SaveDraft(ctx, p, c.ID, content("Likely melanoma."), ptr(int32(1)))
	require.NoError(t, err)
	require.Equal(t, int32(2), v2.Report.Version)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM report_versions WHERE report_id = $1 AND impression = 'Melanoma?' AND version = 1", v2.Report.ID))

	t.Run("IfMatchStale", func(t *testing.T) {
		_, err := b.reports.SaveDraft(ctx, p, c.ID, content("From the other tab."), ptr(int32(1)))
		var stale *reports.VersionMismatchError
		require.True(t, errors.As(err, &stale), "%v", err)
		require.Equal(t, int32(2), stale.Current)
		r, err := b.reports.GetForCase(ctx, p, c.ID)
		require.NoError(t, err)
		require.Equal(t, "Likely melanoma.", r.Impression, "nothing was overwritten")
	})
	t.Run("Invalid", func(t *testing.T) {
		bad := content("x")
		bad.Diagnoses = []reports.Diagnosis{{Text: "x", System: reports.SystemSNOMED, Code: "123456"}}
		bad.FollowUp = "soon"
		_, err := b.reports.SaveDraft(ctx, p, c.ID, bad, nil)
		e, ok := apperr.As(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, apperr.Invalid, e.Code)
		require.Contains(t, e.Fields, "diagnoses[0].code")
		require.Contains(t, e.Fields, "follow_up_interval")
	})
	v3, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma, superficial spreading."), ptr(int32(2)))
	require.NoError(t, err)
	require.Equal(t, int32(3), v3.Report.Version)
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM report_versions WHERE report_id = $1", v3.Report.ID))
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.draft' AND object_id = $1", v3.Report.ID.String()))
}

func TestOnlyTheClaimantWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.routed(t, b.site)

	_, err := b.reports.SaveDraft(ctx, b.reader(), c.ID, content("x"), nil)
	requireCode(t, err, apperr.Conflict, "claim the case")
	_, err = b.wl.Claim(ctx, b.reader(), c.ID)
	require.NoError(t, err)
	_, err = b.reports.SaveDraft(ctx, b.reader(), c.ID, content("x"), nil)
	require.NoError(t, err)

	for name, tc := range map[string]struct {
		p    *identity.Principal
		code apperr.Code
	}{
		"ColleagueWithoutClaim": {b.second, apperr.Conflict},
		"OtherReadingGroup":     {b.rad.Principals[identity.RoleSpecialist], apperr.NotFound},
		"GroupAdmin":            {b.derm.Principals[identity.RoleOrgAdmin], apperr.Forbidden},
		"SiteStaff":             {b.site.Principals[identity.RoleSiteStaff], apperr.NotFound},
		"PlatformAdmin":         {b.root, apperr.NotFound},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := b.reports.SaveDraft(ctx, tc.p, c.ID, content("overwrite"), nil)
			requireCode(t, err, tc.code, "")
			_, err = b.reports.Sign(ctx, tc.p, c.ID)
			requireCode(t, err, tc.code, "")
		})
	}
	r, err := b.reports.GetForCase(ctx, b.reader(), c.ID)
	require.NoError(t, err)
	require.Equal(t, "x", r.Impression)
	require.Equal(t, reports.StatusDraft, r.Status)
}
