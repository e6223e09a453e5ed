package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/worklist"
)

// TestStats walks one case through the whole flow with the real services
// (submit, route, claim, sign, deliver, acknowledge) and reads the steps
// back.
func TestStats(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	wl := worklist.NewService(b.env.Pool)
	_, err := wl.CreateRule(ctx, b.root, worklist.NewRule{Name: "derm", Specialty: "dermatology",
		ReadingGroupID: b.readers.Org.ID, IsDefault: true})
	require.NoError(t, err)
	staff := b.site.Principals[identity.RoleSiteStaff]
	c, err := b.cases.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: b.site.Users[identity.RoleReferringPhysician].ID,
		Specialty: "dermatology", Priority: "routine", PatientName: "Stat Case", PatientBirthDate: "1970-01-01",
		PatientSex: "M", PatientMRN: "S1", ClinicalQuestion: "?", LesionBodySite: "arm"})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, `INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key,
		stored_size, stored_sha256, uploaded_by) VALUES ($1, $2, 'photo', 'a.jpg', 'image/jpeg', 1, $3, 'k', 1, $3, $4)`,
		c.ID, c.SiteOrgID, fmt.Sprintf("%064x", 7), staff.UserID)
	require.NoError(t, err)
	_, err = b.cases.Submit(ctx, staff, c.ID)
	require.NoError(t, err)
	_, err = wl.Route(ctx, c.ID)
	require.NoError(t, err)
	spec := b.readers.Principals[identity.RoleSpecialist]
	_, err = wl.Claim(ctx, spec, c.ID)
	require.NoError(t, err)

	var n delivery.Notice
	require.NoError(t, postgres.InTx(ctx, b.env.Pool, func(tx pgx.Tx) error {
		if _, err := cases.Transition(ctx, tx, c.ID, cases.StatusInReview, spec, cases.StatusReported, nil); err != nil {
			return err
		}
		n = delivery.Notice{CaseID: c.ID, SiteOrgID: c.SiteOrgID, Event: delivery.EventFinal}
		if err := tx.QueryRow(ctx, `INSERT INTO reports (case_id, status, findings, impression, author_id, updated_by,
			content_sha256) VALUES ($1, 'final', 'f', 'i', $2, $2, $3) RETURNING id`, c.ID, spec.UserID,
			fmt.Sprintf("%064x", 9)).Scan(&n.ReportID); err != nil {
			return err
		}
		return delivery.Enqueue(ctx, tx, b.jobs, n)
	}))
	require.True(t, b.deliverInbox(t, n.ReportID).CaseDelivered)
	_, err = b.svc.Acknowledge(ctx, b.site.Principals[identity.RoleReferringPhysician], n.ReportID)
	require.NoError(t, err)
	// A case of site two, submitted, routed and reported without a
	// timeline.
	b.reported(t, b.site2, "final", false)

	since := time.Now().Add(-time.Hour)
	for name, tc := range map[string]struct {
		p     *identity.Principal
		want  map[string]int
		steps []int
	}{
		"SiteAdmin": {b.site.Principals[identity.RoleOrgAdmin], map[string]int{"acknowledged": 1}, []int{1, 1, 1, 1, 1}},
		// The reading group also reads site two's case.
		"ReadingGroupAdmin": {b.readers.Principals[identity.RoleOrgAdmin], map[string]int{"acknowledged": 1, "reported": 1},
			[]int{2, 1, 1, 1, 1}},
	} {
		st, err := b.svc.Stats(ctx, tc.p, since)
		require.NoError(t, err, name)
		require.Equal(t, tc.want, st.ByStatus, name)
		require.Len(t, st.Steps, 5)
		for i, step := range st.Steps {
			require.Equal(t, delivery.Steps[i], [2]string{step.From, step.To})
			require.Equal(t, tc.steps[i], step.Count, "%s %s→%s", name, step.From, step.To)
			require.NotNil(t, step.P50)
			require.GreaterOrEqual(t, *step.P90, *step.P50)
			require.GreaterOrEqual(t, *step.P50, time.Duration(0))
		}
	}
	st, err := b.svc.Stats(ctx, b.site2.Principals[identity.RoleOrgAdmin], since)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"reported": 1}, st.ByStatus)
	require.Equal(t, 1, st.Steps[0].Count, "submitted and routed")
	for _, step := range st.Steps[1:] {
		require.Zero(t, step.Count, "site two's case has no timeline")
		require.Nil(t, step.P50)
	}
	st, err = b.svc.Stats(ctx, b.root, since)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"acknowledged": 1, "reported": 1}, st.ByStatus)
	st, err = b.svc.Stats(ctx, b.root, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Empty(t, st.ByStatus)
	require.Zero(t, st.Steps[0].Count)
	_, err = b.svc.Stats(ctx, b.site.Principals[identity.RoleSiteStaff], since)
	require.Error(t, err)
}
