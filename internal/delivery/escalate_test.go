package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
)

func TestEscalateCritical(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	gp := b.site.Principals[identity.RoleReferringPhysician]
	_, err := b.env.Pool.Exec(ctx, `INSERT INTO reading_group_settings (org_id, critical_ack_within) VALUES ($1, '10 minutes')`,
		b.readers.Org.ID)
	require.NoError(t, err)
	critical := b.delivered(t, b.site, "final", true)
	routine := b.delivered(t, b.site, "final", false)
	acked := b.delivered(t, b.site, "final", true)
	_, err = b.svc.Acknowledge(ctx, gp, acked.ReportID)
	require.NoError(t, err)
	require.NoError(t, b.svc.MarkOpened(ctx, gp, critical.ReportID))
	age := func(d time.Duration) {
		_, err := b.env.Pool.Exec(ctx, "UPDATE inbox_items SET delivered_at = now() - $1::interval", d)
		require.NoError(t, err)
	}
	escalations := func(report uuid.UUID) []int {
		rows, err := b.env.Pool.Query(ctx, "SELECT level FROM escalations WHERE report_id = $1 ORDER BY level", report)
		require.NoError(t, err)
		defer rows.Close()
		var out []int
		for rows.Next() {
			var l int
			require.NoError(t, rows.Scan(&l))
			out = append(out, l)
		}
		return out
	}

	age(9 * time.Minute)
	res, err := b.svc.Escalate(ctx)
	require.NoError(t, err)
	require.Zero(t, res.Critical, "within the window")

	age(11 * time.Minute)
	for range 2 {
		_, err = b.svc.Escalate(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, []int{1}, escalations(critical.ReportID), "level 1 once")
	require.Empty(t, escalations(routine.ReportID))
	require.Empty(t, escalations(acked.ReportID))
	items, err := b.svc.Inbox(ctx, gp, delivery.InboxQuery{UnreadOnly: true})
	require.NoError(t, err)
	require.Equal(t, critical.ReportID, items[0].ReportID, "the reminder puts the report back on top, unread")
	require.NotNil(t, items[0].RemindedAt)

	age(21 * time.Minute)
	for range 2 {
		_, err = b.svc.Escalate(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, []int{1, 2}, escalations(critical.ReportID), "level 2 once, to the site's admins")
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'escalated'", critical.CaseID))

	list, err := b.svc.Escalations(ctx, b.site.Principals[identity.RoleOrgAdmin], delivery.EscalationQuery{})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, 2, list[0].Level)
	require.Equal(t, "org_admin", list[0].TargetRole)
	require.Equal(t, "referring_physician", list[1].TargetRole)
	require.Equal(t, gp.UserID, *list[1].TargetUserID)
	other, err := b.svc.Escalations(ctx, b.site2.Principals[identity.RoleOrgAdmin], delivery.EscalationQuery{})
	require.NoError(t, err)
	require.Empty(t, other)

	// Acknowledged, nothing more happens.
	_, err = b.svc.Acknowledge(ctx, gp, critical.ReportID)
	require.NoError(t, err)
	age(time.Hour)
	res, err = b.svc.Escalate(ctx)
	require.NoError(t, err)
	require.Zero(t, res.Critical)
}

func TestEscalateOverdue(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	mk := func(status string, due time.Duration) uuid.UUID {
		n := b.reported(t, b.site, "final", false)
		_, err := b.env.Pool.Exec(ctx, "UPDATE cases SET status = $2, due_at = now() + $3::interval WHERE id = $1",
			n.CaseID, status, due)
		require.NoError(t, err)
		return n.CaseID
	}
	soon := mk("routed", 10*time.Minute)
	late := mk("in_review", -time.Hour)
	later := mk("routed", time.Hour)
	done := mk("reported", -time.Hour)

	for range 3 {
		_, err := b.svc.Escalate(ctx)
		require.NoError(t, err)
	}
	flagged := func(id uuid.UUID) bool {
		return b.count(t, "SELECT count(*) FROM cases WHERE id = $1 AND overdue_flagged_at IS NOT NULL", id) == 1
	}
	require.True(t, flagged(soon), "due within 15 minutes")
	require.True(t, flagged(late), "past due")
	require.False(t, flagged(later))
	require.False(t, flagged(done), "not on the worklist")
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM escalations WHERE kind = 'overdue'"), "once each")
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'escalated'", late))

	list, err := b.svc.Escalations(ctx, b.readers.Principals[identity.RoleOrgAdmin], delivery.EscalationQuery{})
	require.NoError(t, err)
	require.Len(t, list, 2, "the reading group's admins see the escalations of their cases")
	require.Equal(t, b.readers.Org.ID, list[0].TargetOrgID)
	kind := delivery.EscalationCritical
	list, err = b.svc.Escalations(ctx, b.root, delivery.EscalationQuery{Kind: &kind})
	require.NoError(t, err)
	require.Empty(t, list)
	_, err = b.svc.Escalations(ctx, b.site.Principals[identity.RoleSiteStaff], delivery.EscalationQuery{})
	require.Error(t, err)
}
