package reports_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/worklist"
)

func TestSignFinal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.reader()
	c := b.claimed(t, p)

	_, err := b.reports.Sign(ctx, p, c.ID)
	requireCode(t, err, apperr.Conflict, "no draft")
	_, err = b.reports.SaveDraft(ctx, p, c.ID, reports.Content{Findings: "Something."}, nil)
	require.NoError(t, err)
	_, err = b.reports.Sign(ctx, p, c.ID)
	requireCode(t, err, apperr.Unprocessable, "cannot be signed")
	res, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma."), nil)
	require.NoError(t, err)

	r, err := b.reports.Sign(ctx, p, c.ID)
	require.NoError(t, err)
	require.Equal(t, reports.StatusFinal, r.Status)
	require.Len(t, r.Signatures, 1)
	sig := r.Signatures[0]
	require.Equal(t, reports.StatusFinal, sig.Kind)
	require.Equal(t, p.UserID, sig.SignerID)
	require.Regexp(t, `^[0-9a-f]{64}$`, r.ContentSHA256)
	require.Equal(t, r.ContentSHA256, sig.ContentSHA256)
	require.Equal(t, res.Report.Version, r.Version)

	got, err := b.cases.Get(ctx, b.root, c.ID)
	require.NoError(t, err)
	require.Equal(t, string(cases.StatusReported), got.Status)
	require.NoError(t, reports.Verify(r, got), "the stored signature recomputes")
	tampered := r
	tampered.Impression = "Benign."
	require.Error(t, reports.Verify(tampered, got))

	evs, err := b.cases.Events(ctx, b.root, c.ID)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, "status", last.Kind)
	require.Equal(t, "reported", *last.ToStatus)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.sign' AND object_id = $1", r.ID.String()))

	// Delivery was queued in the signing transaction: the inbox delivery and its job.
	require.Positive(t, b.count(t, "SELECT count(*) FROM deliveries WHERE report_id = $1 AND event = 'report.final'", r.ID))
	require.Positive(t, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'deliver'"))

	t.Run("Immutable", func(t *testing.T) {
		_, err := b.reports.SaveDraft(ctx, p, c.ID, content("Changed my mind."), nil)
		requireCode(t, err, apperr.Conflict, "addendum")
		_, err = b.reports.Sign(ctx, p, c.ID)
		requireCode(t, err, apperr.Conflict, "already signed final")
		// The database refuses too.
		_, err = b.env.Pool.Exec(ctx, "UPDATE reports SET impression = 'Benign.' WHERE id = $1", r.ID)
		require.ErrorContains(t, err, "signed and cannot change")
		_, err = b.env.Pool.Exec(ctx, "UPDATE reports SET status = 'draft', content_sha256 = NULL WHERE id = $1", r.ID)
		require.Error(t, err)
		_, err = b.env.Pool.Exec(ctx, "DELETE FROM report_signatures WHERE report_id = $1", r.ID)
		require.ErrorContains(t, err, "append-only")
	})
}

// TestSignIsOneTransaction looks inside the signing transaction when it
// hands the report to delivery, then makes delivery fail: nothing of the
// signature may remain.
func TestSignIsOneTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.reader()
	c := b.claimed(t, p)
	_, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma."), nil)
	require.NoError(t, err)

	var notice delivery.Notice
	reports.SetEnqueue(b.reports, func(ctx context.Context, tx pgx.Tx, _ cases.JobInserter, n delivery.Notice) error {
		notice = n
		var inTx, outside string
		require.NoError(t, tx.QueryRow(ctx, "SELECT r.status || '/' || c.status FROM reports r JOIN cases c ON c.id = r.case_id WHERE r.id = $1", n.ReportID).Scan(&inTx))
		require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT r.status || '/' || c.status FROM reports r JOIN cases c ON c.id = r.case_id WHERE r.id = $1", n.ReportID).Scan(&outside))
		require.Equal(t, "final/reported", inTx)
		require.Equal(t, "draft/in_review", outside, "not committed yet")
		return errors.New("delivery is down")
	})
	_, err = b.reports.Sign(ctx, p, c.ID)
	require.ErrorContains(t, err, "delivery is down")
	require.Equal(t, reports.EventFinal, notice.Event)
	require.Equal(t, c.SiteOrgID, notice.SiteOrgID)
	require.True(t, notice.Critical)

	r, err := b.reports.GetForCase(ctx, p, c.ID)
	require.NoError(t, err)
	require.Equal(t, reports.StatusDraft, r.Status)
	require.Empty(t, r.Signatures)
	require.Zero(t, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.sign'"))
	got, err := b.cases.Get(ctx, b.root, c.ID)
	require.NoError(t, err)
	require.Equal(t, string(cases.StatusInReview), got.Status)
}

func TestSecondRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.wl.PutSettings(ctx, b.derm.Principals[identity.RoleOrgAdmin], worklist.Settings{OrgID: b.derm.Org.ID,
		SlaStat: time.Hour, SlaUrgent: 4 * time.Hour, SlaRoutine: 48 * time.Hour, ClaimLease: 30 * time.Minute,
		RequireSecondRead: true, CriticalAckWithin: time.Hour})
	require.NoError(t, err)
	first := b.reader()
	c := b.claimed(t, first)
	_, err = b.reports.SaveDraft(ctx, first, c.ID, content("Melanoma."), nil)
	require.NoError(t, err)

	prelim, err := b.reports.Sign(ctx, first, c.ID)
	require.NoError(t, err)
	require.Equal(t, reports.StatusPreliminary, prelim.Status)
	got, err := b.cases.Get(ctx, b.root, c.ID)
	require.NoError(t, err)
	require.Equal(t, string(cases.StatusRouted), got.Status, "back on the worklist for the second read")
	require.Nil(t, got.AssignedTo)
	page, err := b.wl.List(ctx, b.second, worklist.Query{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM deliveries WHERE report_id = $1 AND event = 'report.preliminary'", prelim.ID))

	// The site sees the preliminary report.
	seen, err := b.reports.Get(ctx, b.site.Principals[identity.RoleReferringPhysician], prelim.ID)
	require.NoError(t, err)
	require.Equal(t, reports.StatusPreliminary, seen.Status)

	t.Run("SameSpecialistCannotSignFinal", func(t *testing.T) {
		_, err := b.wl.Claim(ctx, first, c.ID)
		require.NoError(t, err)
		_, err = b.reports.Sign(ctx, first, c.ID)
		requireCode(t, err, apperr.Conflict, "a second read needs another specialist")
		_, err = b.reports.SaveDraft(ctx, first, c.ID, content("Edited."), nil)
		requireCode(t, err, apperr.Conflict, "signed (preliminary)")
		_, err = b.wl.Release(ctx, first, c.ID)
		require.NoError(t, err)
	})

	_, err = b.reports.Sign(ctx, b.second, c.ID)
	requireCode(t, err, apperr.Conflict, "claim the case")
	_, err = b.wl.Claim(ctx, b.second, c.ID)
	require.NoError(t, err)
	final, err := b.reports.Sign(ctx, b.second, c.ID)
	require.NoError(t, err)
	require.Equal(t, reports.StatusFinal, final.Status)
	require.Len(t, final.Signatures, 2)
	require.Equal(t, first.UserID, final.Signatures[0].SignerID)
	require.Equal(t, b.second.UserID, final.Signatures[1].SignerID)
	require.Equal(t, final.Signatures[0].ContentSHA256, final.Signatures[1].ContentSHA256, "both signed the same content")
	got, err = b.cases.Get(ctx, b.root, c.ID)
	require.NoError(t, err)
	require.Equal(t, string(cases.StatusReported), got.Status)
	require.NoError(t, reports.Verify(final, got))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM deliveries WHERE report_id = $1 AND event = 'report.final'", final.ID))
}

func TestAddenda(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.reader()
	c := b.claimed(t, p)
	_, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma."), nil)
	require.NoError(t, err)
	_, err = b.reports.AddAddendum(ctx, p, c.ID, "Too early.")
	requireCode(t, err, apperr.Conflict, "not signed yet")
	r, err := b.reports.Sign(ctx, p, c.ID)
	require.NoError(t, err)

	_, err = b.reports.AddAddendum(ctx, b.second, c.ID, "   ")
	requireCode(t, err, apperr.Invalid, "")
	_, err = b.reports.AddAddendum(ctx, b.rad.Principals[identity.RoleSpecialist], c.ID, "Not mine.")
	requireCode(t, err, apperr.NotFound, "")
	// Any specialist of the group adds one; no claim is needed.
	a, err := b.reports.AddAddendum(ctx, b.second, c.ID, "Histology: superficial spreading melanoma, Breslow 0.6 mm.")
	require.NoError(t, err)
	require.Equal(t, b.second.UserID, a.SignerID)

	got, err := b.reports.Get(ctx, b.site.Principals[identity.RoleSiteStaff], r.ID)
	require.NoError(t, err)
	require.Len(t, got.Addenda, 1)
	require.Equal(t, a.SHA256, got.Addenda[0].SHA256)
	cs, err := b.cases.Get(ctx, b.root, c.ID)
	require.NoError(t, err)
	require.NoError(t, reports.Verify(got, cs))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM deliveries WHERE report_id = $1 AND event = 'report.addendum' AND addendum_id = $2", r.ID, a.ID))
	_, err = b.env.Pool.Exec(ctx, "UPDATE report_addenda SET text = 'x' WHERE id = $1", a.ID)
	require.ErrorContains(t, err, "append-only")
}
