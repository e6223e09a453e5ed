package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

type testBundle struct {
	env    *testenv.Env
	svc    *intake.Service
	cases  *cases.Service
	siteA  *testenv.Tenant
	siteB  *testenv.Tenant
	staffA *identity.Principal
	gpA    *identity.Principal
	staffB *identity.Principal
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	return setupWith(t, intake.Options{}, nil)
}

// setupWith is setup with options and, when wrap is not nil, the test's
// store wrapped (to inject failures).
func setupWith(t testing.TB, opts intake.Options, wrap func(intake.Storage) intake.Storage) *testBundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	fx := testenv.NewFixtures(t, env)
	cs := cases.NewService(env.Pool, river)
	opts.Logger, opts.TempDir = testenv.Logger(t), t.TempDir()
	var store intake.Storage = env.Blob
	if wrap != nil {
		store = wrap(store)
	}
	b := &testBundle{env: env, cases: cs, svc: intake.New(env.Pool, store, cs, river, opts)}
	b.siteA = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	b.siteB = fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	b.staffA = b.siteA.Principals[identity.RoleSiteStaff]
	b.gpA = b.siteA.Principals[identity.RoleReferringPhysician]
	b.staffB = b.siteB.Principals[identity.RoleSiteStaff]
	return b
}

// newCase opens a radiology draft for the patient of the dicomdir test
// files (Doe^Archibald, ID 77654033) at site A.
func (b *testBundle) newCase(t testing.TB) cases.Case {
	t.Helper()
	return b.newCaseFor(t, b.staffA, b.gpA)
}

func (b *testBundle) newCaseFor(t testing.TB, staff, gp *identity.Principal) cases.Case {
	t.Helper()
	c, err := b.cases.Create(context.Background(), staff, cases.NewCase{
		ReferringPhysicianID: gp.UserID, Specialty: "radiology", Priority: "routine",
		PatientName: "Archibald Doe", PatientBirthDate: "1950-01-01", PatientSex: "M", PatientMRN: "77654033",
		ClinicalQuestion: "Fracture?",
	})
	require.NoError(t, err)
	return c
}

// add ingests one file into c as staff A.
func (b *testBundle) add(t *testing.T, c cases.Case, name string, body []byte) intake.Result {
	t.Helper()
	return b.svc.Add(context.Background(), b.staffA, c, intake.Input{Filename: name, Body: bytes.NewReader(body)})
}

// objects lists the keys of site A under a prefix ("tmp/", "blobs/"...).
func (b *testBundle) objects(t *testing.T, org identity.Org, prefix string) []string {
	t.Helper()
	keys, err := b.env.Blob.List(context.Background(), "orgs/"+org.ID.String()+"/"+prefix)
	require.NoError(t, err)
	return keys
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	require.NoError(t, err)
	return raw
}

// dicomdirFiles are the seven instances of patient 77654033: a CR study of
// three series and a CT study of one series of four.
var dicomdirFiles = []string{
	"dicomdir/77654033/CR1/6154", "dicomdir/77654033/CR2/6247", "dicomdir/77654033/CR3/6278",
	"dicomdir/77654033/CT2/17106", "dicomdir/77654033/CT2/17136", "dicomdir/77654033/CT2/17166", "dicomdir/77654033/CT2/17196",
}

// flatPNG is a uniform grey 100x100 PNG.
func flatPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 100, 100))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// instance is CT_small.dcm as instance n of series (in study), new UIDs
// each.
func instance(t testing.TB, study, series string, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, dicomfile.RewriteUIDs(&out, bytes.NewReader(testdata(t, "CT_small.dcm")), study, series,
		fmt.Sprintf("%s.%d", series, n)))
	return out.Bytes()
}
