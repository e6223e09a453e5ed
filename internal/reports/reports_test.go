package reports_test

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
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

type testBundle struct {
	env     *testenv.Env
	fx      *testenv.Fixtures
	cases   *cases.Service
	wl      *worklist.Service
	reports *reports.Service
	opened  *openRecorder
	site    *testenv.Tenant
	site2   *testenv.Tenant
	derm    *testenv.Tenant
	rad     *testenv.Tenant
	// second is another specialist of derm.
	second *identity.Principal
	root   *identity.Principal
}

// openRecorder records MarkOpened calls: what delivery does with them is
// delivery's to test.
type openRecorder struct {
	mu    sync.Mutex
	calls []uuid.UUID
}

var _ reports.OpenMarker = (*openRecorder)(nil)

func (o *openRecorder) MarkOpened(_ context.Context, p *identity.Principal, reportID uuid.UUID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, p.UserID)
	return nil
}

func (o *openRecorder) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.calls)
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	fx := testenv.NewFixtures(t, env)
	wl := worklist.NewService(env.Pool)
	opened := &openRecorder{}
	b := &testBundle{env: env, fx: fx, cases: cases.NewService(env.Pool, river), wl: wl, root: fx.Root(),
		reports: reports.NewService(env.Pool, env.Blob, river, wl, opened, reports.Options{PublicURL: "https://teleread.example/"}),
		opened:  opened}
	b.site = fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.site2 = fx.Tenant(t, identity.OrgSite, "site-two", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.derm = fx.Tenant(t, identity.OrgReadingGroup, "derm", []string{"dermatology"}, identity.RoleSpecialist, identity.RoleOrgAdmin)
	b.rad = fx.Tenant(t, identity.OrgReadingGroup, "rad", []string{"radiology", "dermatology"}, identity.RoleSpecialist)
	b.second = b.specialist(t, b.derm, "second")
	_, err = wl.CreateRule(context.Background(), b.root, worklist.NewRule{Name: "derm", Specialty: "dermatology",
		ReadingGroupID: b.derm.Org.ID, IsDefault: true})
	require.NoError(t, err)
	return b
}

// specialist adds another dermatologist to group and returns their principal.
func (b *testBundle) specialist(t *testing.T, group *testenv.Tenant, name string) *identity.Principal {
	t.Helper()
	ctx := context.Background()
	u, err := b.fx.Service.CreateUser(ctx, b.root, identity.NewUser{OrgID: group.Org.ID, Email: name + "@" + group.Org.Slug + ".example",
		Name: "Dr " + name, Roles: []identity.Role{identity.RoleSpecialist}, Specialties: []string{"dermatology"}})
	require.NoError(t, err)
	_, secret, err := b.fx.Service.CreateToken(ctx, b.root, identity.NewToken{UserID: u.ID, Name: "test"})
	require.NoError(t, err)
	p, err := b.fx.Service.AuthenticateToken(ctx, secret)
	require.NoError(t, err)
	return p
}

func (b *testBundle) reader() *identity.Principal { return b.derm.Principals[identity.RoleSpecialist] }

// routed makes a dermatology case of site, submitted and routed to derm.
func (b *testBundle) routed(t *testing.T, site *testenv.Tenant) cases.Case {
	t.Helper()
	ctx := context.Background()
	staff := site.Principals[identity.RoleSiteStaff]
	c, err := b.cases.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: site.Users[identity.RoleReferringPhysician].ID,
		Specialty: "dermatology", Priority: "urgent", PatientName: "Pat Test", PatientBirthDate: "1960-05-06", PatientSex: "M",
		PatientMRN: "M1", ClinicalQuestion: "Melanoma?", LesionBodySite: "back"})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, `INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key,
		stored_size, stored_sha256, uploaded_by) VALUES ($1, $2, 'photo', 'a.jpg', 'image/jpeg', 1, $3, 'k', 1, $3, $4)`,
		c.ID, c.SiteOrgID, fmt.Sprintf("%064x", time.Now().UnixNano()), staff.UserID)
	require.NoError(t, err)
	_, err = b.cases.Submit(ctx, staff, c.ID)
	require.NoError(t, err)
	d, err := b.wl.Route(ctx, c.ID)
	require.NoError(t, err)
	require.True(t, d.Routed)
	c, err = cases.NewService(b.env.Pool, nil).Get(ctx, b.root, c.ID)
	require.NoError(t, err)
	return c
}

// claimed is routed, then claimed by p.
func (b *testBundle) claimed(t *testing.T, p *identity.Principal) cases.Case {
	t.Helper()
	c := b.routed(t, b.site)
	_, err := b.wl.Claim(context.Background(), p, c.ID)
	require.NoError(t, err)
	return c
}

func content(impression string) reports.Content {
	return reports.Content{Findings: "Asymmetric macule, 8 mm, irregular border.", Impression: impression,
		Diagnoses: []reports.Diagnosis{{Text: "Suspected melanoma", System: reports.SystemICD10, Code: "C43.5"},
			{Text: "Melanoma", System: reports.SystemSNOMED, Code: "372244006"}, {Text: "Solar lentigo"}},
		Recommendations: "Excision biopsy.", FollowUp: "P3M", Critical: true}
}

func ptr[T any](v T) *T { return &v }

func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func requireCode(t *testing.T, err error, code apperr.Code, contains string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, apperr.CodeOf(err), "%v", err)
	if contains != "" {
		require.Contains(t, err.Error(), contains)
	}
}
