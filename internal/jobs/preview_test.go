package jobs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

type previewBundle struct {
	env   *testenv.Env
	svc   *intake.Service
	staff *identity.Principal
	c     cases.Case
}

func setupPreview(t *testing.T) *previewBundle {
	t.Helper()
	env := testenv.New(t)
	inserter, err := NewClient(env.Pool, testenv.Logger(t), Options{})
	require.NoError(t, err)
	cs := cases.NewService(env.Pool, inserter)
	svc := intake.New(env.Pool, env.Blob, cs, inserter, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})
	fx := testenv.NewFixtures(t, env)
	site := fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	staff := site.Principals[identity.RoleSiteStaff]
	c, err := cs.Create(context.Background(), staff, cases.NewCase{
		ReferringPhysicianID: site.Users[identity.RoleReferringPhysician].ID, Specialty: "radiology", Priority: "routine",
		PatientName: "Archibald Doe", PatientBirthDate: "1950-01-01", PatientSex: "M", PatientMRN: "77654033",
		ClinicalQuestion: "Fracture?"})
	require.NoError(t, err)
	return &previewBundle{env: env, svc: svc, staff: staff, c: c}
}

func (b *previewBundle) add(t *testing.T, name string) intake.File {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "intake", "testdata", name))
	require.NoError(t, err)
	res := b.svc.Add(context.Background(), b.staff, b.c, intake.Input{Filename: name, Body: bytes.NewReader(raw)})
	require.True(t, res.Accepted, res.Reason)
	return *res.File
}

// TestPreviewWorker runs the River client with every worker: the preview
// jobs enqueued by uploads render thumbnails for a CT and a photo, and
// mark a JPEG 2000 file unavailable with the reason.
func TestPreviewWorker(t *testing.T) {
	t.Parallel()
	b := setupPreview(t)
	ctx := context.Background()
	client, err := NewClient(b.env.Pool, testenv.Logger(t), Options{Work: true, Concurrency: 4, Deps: Deps{
		Identity: identity.NewService(b.env.Pool), Worklist: worklist.NewService(b.env.Pool), Intake: b.svc,
		Logger: testenv.Logger(t), Metrics: NewFlowMetrics(prometheus.NewRegistry())}})
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	})

	files := map[string]intake.File{}
	for _, name := range []string{"CT_small.dcm", "retina.jpg", "JPEG2000.dcm", "SC_rgb_rle_2frame.dcm"} {
		files[name] = b.add(t, name)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pending int
		require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT count(*) FROM files WHERE preview_status = 'pending'").Scan(&pending))
		if pending == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d previews still pending", pending)
		time.Sleep(100 * time.Millisecond)
	}
	for name, want := range map[string]string{"CT_small.dcm": intake.PreviewReady, "retina.jpg": intake.PreviewReady,
		"SC_rgb_rle_2frame.dcm": intake.PreviewReady, "JPEG2000.dcm": intake.PreviewUnavailable} {
		f, _, err := b.svc.ViewFile(ctx, b.staff, files[name].ID)
		require.NoError(t, err)
		require.Equal(t, want, f.PreviewStatus, "%s: %s", name, f.PreviewNote)
		if want == intake.PreviewReady {
			info, err := b.env.Blob.Stat(ctx, *f.ThumbnailKey)
			require.NoError(t, err, name)
			require.Positive(t, info.Size)
			require.Equal(t, "orgs/"+f.OrgID.String()+"/derived/"+f.ID.String()+"/thumb.jpg", *f.ThumbnailKey)
		} else {
			require.Contains(t, f.PreviewNote, "JPEG 2000")
		}
	}
}

// TestPreviewWorkerLastAttempt: an error is returned for River to retry,
// and on the last attempt the file is marked failed instead.
func TestPreviewWorkerLastAttempt(t *testing.T) {
	t.Parallel()
	b := setupPreview(t)
	ctx := context.Background()
	f := b.add(t, "CT_small.dcm")
	// The stored object is lost: rendering fails.
	require.NoError(t, b.env.Blob.Delete(ctx, f.BlobKey))
	w := &PreviewWorker{intake: b.svc}
	job := func(attempt int) *river.Job[intake.PreviewArgs] {
		return &river.Job[intake.PreviewArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: 10},
			Args: intake.PreviewArgs{FileID: f.ID}}
	}
	require.Error(t, w.Work(ctx, job(1)), "retried")
	got, _, err := b.svc.ViewFile(ctx, b.staff, f.ID)
	require.NoError(t, err)
	require.Equal(t, intake.PreviewPending, got.PreviewStatus)

	require.NoError(t, w.Work(ctx, job(10)), "last attempt")
	got, _, err = b.svc.ViewFile(ctx, b.staff, f.ID)
	require.NoError(t, err)
	require.Equal(t, intake.PreviewFailed, got.PreviewStatus)
	require.NotEmpty(t, got.PreviewNote)
}

// TestIntakeSweep expires a presigned upload that was never completed and
// removes its bytes.
func TestIntakeSweep(t *testing.T) {
	t.Parallel()
	b := setupPreview(t)
	ctx := context.Background()
	tk, err := b.svc.CreateUpload(ctx, b.staff, b.c.ID, intake.NewUpload{Filename: "big.dcm", Size: 20 << 20,
		SHA256: "0000000000000000000000000000000000000000000000000000000000000000", ContentType: "application/dicom",
		PartSize: 5 << 20})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, "UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = $1", tk.Upload.ID)
	require.NoError(t, err)
	require.NoError(t, (&IntakeSweepWorker{intake: b.svc}).Work(ctx, nil))
	var status string
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT status FROM uploads WHERE id = $1", tk.Upload.ID).Scan(&status))
	require.Equal(t, intake.UploadExpired, status)
	left, err := b.env.Blob.ListUploads(ctx, "orgs/")
	require.NoError(t, err)
	require.Empty(t, left, "the multipart upload was aborted")
}
