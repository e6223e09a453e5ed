package cases_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

type testBundle struct {
	env    *testenv.Env
	svc    *cases.Service
	siteA  *testenv.Tenant
	siteB  *testenv.Tenant
	derm   *testenv.Tenant
	root   *identity.Principal
	staffA *identity.Principal
	gpA    *identity.Principal
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	fx := testenv.NewFixtures(t, env)
	b := &testBundle{env: env, svc: cases.NewService(env.Pool, river), root: fx.Root()}
	b.siteA = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.siteB = fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff)
	b.derm = fx.Tenant(t, identity.OrgReadingGroup, "derm", []string{"dermatology"}, identity.RoleSpecialist)
	b.staffA = b.siteA.Principals[identity.RoleSiteStaff]
	b.gpA = b.siteA.Principals[identity.RoleReferringPhysician]
	return b
}

func (b *testBundle) newCase(t *testing.T, manifest ...cases.ManifestEntry) cases.Case {
	t.Helper()
	c, err := b.svc.Create(context.Background(), b.staffA, cases.NewCase{
		ReferringPhysicianID: b.gpA.UserID, Specialty: "dermatology", Priority: "routine",
		PatientName: "Jane Doe", PatientBirthDate: "1970-02-03", PatientSex: "F", PatientMRN: "MRN-1",
		ClinicalQuestion: "Changing naevus on the back?", LesionBodySite: "back", LesionDuration: "3 months",
		Manifest: manifest,
	})
	require.NoError(t, err)
	return c
}

// addFile inserts a file row directly: the upload pipeline is tested in
// the intake package; here only its effect on the case matters.
func (b *testBundle) addFile(t *testing.T, c cases.Case, sha string) {
	t.Helper()
	_, err := b.env.Pool.Exec(context.Background(), `INSERT INTO files (case_id, org_id, kind, filename, content_type, size,
		sha256, blob_key, stored_size, stored_sha256, uploaded_by) VALUES ($1, $2, 'photo', 'a.jpg', 'image/jpeg', 10, $3,
		'k', 10, $3, $4)`, c.ID, c.SiteOrgID, sha, b.staffA.UserID)
	require.NoError(t, err)
}

func sha(n int) string { return fmt.Sprintf("%064x", n) }

func TestCreateValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.svc.Create(context.Background(), b.staffA, cases.NewCase{Specialty: "dermatology", PatientBirthDate: "2999-01-01"})
	e, ok := apperr.As(err)
	require.True(t, ok)
	require.Equal(t, apperr.Invalid, e.Code)
	for _, f := range []string{"priority", "patient.name", "patient.birth_date", "patient.sex", "patient.mrn",
		"clinical_question", "lesion.body_site", "referring_physician_id"} {
		require.Contains(t, e.Fields, f)
	}
	// A referring physician of another site is not acceptable.
	_, err = b.svc.Create(context.Background(), b.staffA, cases.NewCase{ReferringPhysicianID: b.siteB.Users[identity.RoleSiteStaff].ID,
		Specialty: "radiology", Priority: "stat", PatientName: "X", PatientBirthDate: "1990-01-01", PatientSex: "M",
		PatientMRN: "1", ClinicalQuestion: "q"})
	require.True(t, apperr.Is(err, apperr.Invalid))
	// Specialists do not create cases.
	_, err = b.svc.Create(context.Background(), b.derm.Principals[identity.RoleSpecialist], cases.NewCase{})
	require.True(t, apperr.Is(err, apperr.Forbidden))
}

func TestVisibility(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.newCase(t)
	ctx := context.Background()
	for name, p := range map[string]*identity.Principal{
		"StaffA": b.staffA, "GP": b.gpA, "AdminA": b.siteA.Principals[identity.RoleOrgAdmin], "Root": b.root,
	} {
		_, err := b.svc.Get(ctx, p, c.ID)
		require.NoError(t, err, name)
	}
	for name, p := range map[string]*identity.Principal{
		"OtherSite": b.siteB.Principals[identity.RoleSiteStaff], "ReadersBeforeRouting": b.derm.Principals[identity.RoleSpecialist],
	} {
		_, err := b.svc.Get(ctx, p, c.ID)
		require.True(t, apperr.Is(err, apperr.NotFound), name)
		_, err = b.svc.Events(ctx, p, c.ID)
		require.True(t, apperr.Is(err, apperr.NotFound), name)
		_, err = b.svc.Submit(ctx, p, c.ID)
		require.True(t, apperr.Is(err, apperr.NotFound), name)
		_, err = b.svc.Cancel(ctx, p, c.ID, "")
		require.True(t, apperr.Is(err, apperr.NotFound), name)
		list, err := b.svc.List(ctx, p, cases.Filter{})
		require.NoError(t, err)
		require.Empty(t, list, name)
	}
	// Once routed to the reading group, its specialists see it.
	_, err := b.env.Pool.Exec(ctx, "UPDATE cases SET reading_group_id = $1 WHERE id = $2", b.derm.Org.ID, c.ID)
	require.NoError(t, err)
	_, err = b.svc.Get(ctx, b.derm.Principals[identity.RoleSpecialist], c.ID)
	require.NoError(t, err)
	// Reads of the case are audited.
	var n int
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events WHERE action = 'case.view' AND object_id = $1",
		c.ID.String()).Scan(&n))
	require.Equal(t, 5, n)
}

func TestSubmitEnqueuesRoutingInSameTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)

	_, err := b.svc.Submit(ctx, b.staffA, c.ID)
	require.ErrorContains(t, err, "no files yet")
	require.True(t, apperr.Is(err, apperr.Conflict))

	b.addFile(t, c, sha(1))
	sub, err := b.svc.Submit(ctx, b.gpA, c.ID)
	require.NoError(t, err)
	require.Equal(t, "submitted", sub.Status)
	require.NotNil(t, sub.SubmittedAt)

	tx, err := b.env.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	rivertest.RequireInsertedTx[*riverpgxv5.Driver](ctx, t, tx, &cases.RouteArgs{CaseID: c.ID}, nil)

	_, err = b.svc.Submit(ctx, b.staffA, c.ID)
	require.True(t, apperr.Is(err, apperr.Conflict), "submitting twice")
	_, err = b.svc.Update(ctx, b.staffA, c.ID, cases.Change{History: ptr("more")})
	require.ErrorContains(t, err, "the case is submitted")

	evs, err := b.svc.Events(ctx, b.staffA, c.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"created", "status"}, kinds(evs))
	require.Equal(t, "submitted", *evs[1].ToStatus)
}

func TestSubmitFailsWhenRoutingCannotBeEnqueued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	b.addFile(t, c, sha(1))
	svc := cases.NewService(b.env.Pool, failingInserter{})
	_, err := svc.Submit(ctx, b.staffA, c.ID)
	require.ErrorContains(t, err, "enqueue routing")
	got, err := b.svc.Get(ctx, b.staffA, c.ID)
	require.NoError(t, err)
	require.Equal(t, "draft", got.Status, "the status change rolled back with the job")
}

func TestSealedManifest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t, cases.ManifestEntry{SHA256: sha(1), Name: "one.dcm"}, cases.ManifestEntry{SHA256: sha(2), Name: "two.dcm"})
	b.addFile(t, c, sha(1))

	_, err := b.svc.Submit(ctx, b.staffA, c.ID)
	require.True(t, apperr.Is(err, apperr.Conflict))
	require.ErrorContains(t, err, "1 of 2 declared files have not arrived: two.dcm")

	b.addFile(t, c, sha(2))
	_, err = b.svc.Submit(ctx, b.staffA, c.ID)
	require.NoError(t, err)
	evs, err := b.svc.Events(ctx, b.staffA, c.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"created", "manifest_sealed", "complete", "status"}, kinds(evs))

	_, err = b.svc.SetManifest(ctx, b.staffA, c.ID, []cases.ManifestEntry{{SHA256: "nope"}})
	require.True(t, apperr.Is(err, apperr.Invalid))
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	got, err := b.svc.Cancel(ctx, b.siteA.Principals[identity.RoleOrgAdmin], c.ID, "duplicate referral")
	require.NoError(t, err)
	require.Equal(t, "cancelled", got.Status)
	_, err = b.svc.Cancel(ctx, b.staffA, c.ID, "")
	require.ErrorContains(t, err, "the case is cancelled and cannot become cancelled")

	// A case a specialist has claimed can no longer be cancelled.
	c2 := b.newCase(t)
	_, err = b.env.Pool.Exec(ctx, "UPDATE cases SET status = 'in_review' WHERE id = $1", c2.ID)
	require.NoError(t, err)
	_, err = b.svc.Cancel(ctx, b.staffA, c2.ID, "")
	require.True(t, apperr.Is(err, apperr.Conflict))
}

func TestListPagesAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for range 5 {
		b.newCase(t)
	}
	page, err := b.svc.List(ctx, b.staffA, cases.Filter{Limit: 3})
	require.NoError(t, err)
	require.Len(t, page, 3)
	last := page[2]
	rest, err := b.svc.List(ctx, b.staffA, cases.Filter{Limit: 3, Cursor: &cases.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}})
	require.NoError(t, err)
	require.Len(t, rest, 2)
	seen := map[uuid.UUID]bool{}
	for _, c := range append(page, rest...) {
		require.False(t, seen[c.ID])
		seen[c.ID] = true
	}
	st := "submitted"
	none, err := b.svc.List(ctx, b.staffA, cases.Filter{Status: &st})
	require.NoError(t, err)
	require.Empty(t, none)
}

// TestEveryTransition drives every (from, to) pair of states against
// PostgreSQL: Move accepts exactly the pairs of the transition table and
// refuses every other one, and refuses an allowed one out of scope.
func TestEveryTransition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	spec := b.derm.Principals[identity.RoleSpecialist].UserID
	_, err := b.env.Pool.Exec(ctx, "UPDATE cases SET reading_group_id = $2 WHERE id = $1", c.ID, b.derm.Org.ID)
	require.NoError(t, err)
	allowed := 0
	for _, from := range cases.Statuses {
		for _, to := range cases.Statuses {
			want := slices.Contains(cases.AllowedFrom(to), from)
			for _, sc := range []struct {
				name  string
				scope cases.Scope
				in    bool
			}{
				{"site", cases.SiteScope(c.SiteOrgID), true},
				{"group", cases.GroupScope(b.derm.Org.ID), true},
				{"platform", cases.ScopeOf(b.root), true},
				{"worker", cases.WorkerScope(), true},
				{"other site", cases.SiteScope(b.siteB.Org.ID), false},
				{"zero", cases.Scope{}, false},
			} {
				tx, err := b.env.Pool.Begin(ctx)
				require.NoError(t, err)
				_, err = tx.Exec(ctx, "UPDATE cases SET status = $2 WHERE id = $1", c.ID, string(from))
				require.NoError(t, err)
				got, err := cases.Move(ctx, tx, sc.scope, c.ID, cases.Step{From: from, To: to, Specialist: &spec,
					Lease: time.Minute})
				name := fmt.Sprintf("%s → %s in %s scope", from, to, sc.name)
				if want && sc.in {
					require.NoError(t, err, name)
					require.Equal(t, string(to), got.Status, name)
				} else {
					require.ErrorIs(t, err, cases.ErrRefused, name)
					require.True(t, apperr.Is(err, apperr.Conflict), name)
				}
				require.NoError(t, tx.Rollback(ctx))
			}
			if want {
				allowed++
			}
		}
	}
	require.Equal(t, 15, allowed, "the table has 15 transitions")
}

// TestMoveGuards checks the claim guard and the narrowing of Only.
func TestMoveGuards(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	spec := b.derm.Principals[identity.RoleSpecialist].UserID
	other := b.staffA.UserID
	_, err := b.env.Pool.Exec(ctx, `UPDATE cases SET status = 'in_review', reading_group_id = $2, assigned_to = $3,
		claim_expires_at = now() + interval '1 hour' WHERE id = $1`, c.ID, b.derm.Org.ID, spec)
	require.NoError(t, err)
	group := cases.GroupScope(b.derm.Org.ID)
	try := func(st cases.Step) error {
		tx, err := b.env.Pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck
		_, err = cases.Move(ctx, tx, group, c.ID, st)
		return err
	}
	require.ErrorIs(t, try(cases.Step{To: cases.StatusRouted, Held: &cases.Held{By: &other}}), cases.ErrRefused)
	require.NoError(t, try(cases.Step{To: cases.StatusRouted, Held: &cases.Held{By: &spec}}))
	require.ErrorIs(t, try(cases.Step{To: cases.StatusRouted, Held: &cases.Held{OrLapsed: true}}), cases.ErrRefused,
		"a live lease does not lapse")
	require.ErrorIs(t, try(cases.Step{To: cases.StatusRouted, Only: []cases.Status{cases.StatusSubmitted}}), cases.ErrRefused)
	_, err = b.env.Pool.Exec(ctx, "UPDATE cases SET claim_expires_at = now() - interval '1 minute' WHERE id = $1", c.ID)
	require.NoError(t, err)
	require.NoError(t, try(cases.Step{To: cases.StatusInReview, Specialist: &other, Lease: time.Minute,
		Held: &cases.Held{By: &other, OrLapsed: true}}), "a lapsed claim is taken over")
}

type failingInserter struct{}

func (failingInserter) InsertTx(context.Context, pgx.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return nil, fmt.Errorf("queue unavailable")
}

func kinds(evs []cases.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func ptr[T any](v T) *T { return &v }
