package intake_test

import (
	"context"
	"image"
	"image/jpeg"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/intake"
)

func TestRenderPreviews(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)

	for _, tc := range []struct {
		name, file   string
		previewType  string
		width, thumb int
	}{
		{"CT", "CT_small.dcm", "image/png", 128, 128},
		{"MultiFrameRGB", "SC_rgb_rle_2frame.dcm", "image/jpeg", 100, 100},
		{"Photo", "retina.jpg", "image/jpeg", 1024, 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := b.add(t, c, tc.file, testdata(t, tc.file))
			require.True(t, res.Accepted, res.Reason)
			_, _, _, err := b.svc.OpenDerived(ctx, b.staffA, res.File.ID, intake.DerivedThumbnail)
			require.True(t, apperr.Is(err, apperr.Conflict), "pending: %v", err)

			require.NoError(t, b.svc.RenderPreviews(ctx, res.File.ID))
			require.NoError(t, b.svc.RenderPreviews(ctx, res.File.ID), "idempotent")
			f, ref, err := b.svc.ViewFile(ctx, b.staffA, res.File.ID)
			require.NoError(t, err)
			require.Equal(t, intake.PreviewReady, f.PreviewStatus)
			if f.Kind == intake.KindDICOM {
				require.NotNil(t, ref)
			}

			_, rc, info, err := b.svc.OpenDerived(ctx, b.staffA, f.ID, intake.DerivedThumbnail)
			require.NoError(t, err)
			thumb, err := jpeg.Decode(rc)
			rc.Close()
			require.NoError(t, err)
			require.Equal(t, "image/jpeg", info.ContentType)
			require.Equal(t, tc.thumb, thumb.Bounds().Dx())

			_, rc, info, err = b.svc.OpenDerived(ctx, b.staffA, f.ID, intake.DerivedPreview)
			require.NoError(t, err)
			prev, _, err := image.Decode(rc)
			rc.Close()
			require.NoError(t, err)
			require.Equal(t, tc.previewType, info.ContentType)
			require.Equal(t, tc.width, prev.Bounds().Dx())
		})
	}
	// Re-running wrote the same keys: two objects per file.
	require.Len(t, b.objects(t, b.siteA.Org, "derived/"), 6)
}

func TestRenderUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	res := b.add(t, c, "nm.dcm", testdata(t, "JPEG2000.dcm"))
	require.True(t, res.Accepted, "valid DICOM is accepted even when its pixels are not decoded here: %s", res.Reason)
	require.NoError(t, b.svc.RenderPreviews(ctx, res.File.ID), "no retry for an unsupported syntax")
	f, _, err := b.svc.ViewFile(ctx, b.staffA, res.File.ID)
	require.NoError(t, err)
	require.Equal(t, intake.PreviewUnavailable, f.PreviewStatus)
	require.Contains(t, f.PreviewNote, "JPEG 2000")
	require.Contains(t, f.PreviewNote, "not decoded by this server")
	_, _, _, err = b.svc.OpenDerived(ctx, b.staffA, f.ID, intake.DerivedPreview)
	e, ok := apperr.As(err)
	require.True(t, ok)
	require.Equal(t, apperr.Unprocessable, e.Code)
	require.Contains(t, e.Message, "JPEG 2000")

	require.NoError(t, b.svc.MarkPreviewFailed(ctx, f.ID, io.ErrUnexpectedEOF))
	_, _, _, err = b.svc.OpenDerived(ctx, b.staffA, f.ID, intake.DerivedThumbnail)
	require.True(t, apperr.Is(err, apperr.Unprocessable))
}

func TestReadsAreScopedAndAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	res := b.add(t, c, "ct.dcm", testdata(t, "CT_small.dcm"))
	require.True(t, res.Accepted)
	require.NoError(t, b.svc.RenderPreviews(ctx, res.File.ID))

	before := b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)")
	_, _, err := b.svc.ViewFile(ctx, b.staffA, res.File.ID)
	require.NoError(t, err)
	f, err := b.svc.ContentFile(ctx, b.staffA, res.File.ID)
	require.NoError(t, err)
	rc, err := b.svc.OpenContent(ctx, b.staffA, f, 10, 20)
	require.NoError(t, err)
	part, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.Equal(t, testdata(t, "CT_small.dcm")[10:30], part)
	for _, d := range []intake.Derived{intake.DerivedPreview, intake.DerivedThumbnail} {
		_, rc, _, err := b.svc.OpenDerived(ctx, b.staffA, f.ID, d)
		require.NoError(t, err)
		rc.Close()
	}
	require.Equal(t, before+4, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)"))
	for _, action := range []string{"file.view", "file.download", "file.preview", "file.thumbnail"} {
		require.Equal(t, 1, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events WHERE action = $1 AND object_id = $2) + (SELECT count(*) FROM audit_reads WHERE action = $1 AND object_id = $2)",
			action, f.ID.String()), action)
	}

	// Another site sees nothing, and nothing is audited for it.
	before = b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)")
	_, _, err = b.svc.ViewFile(ctx, b.staffB, f.ID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	_, err = b.svc.ContentFile(ctx, b.staffB, f.ID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	_, _, _, err = b.svc.OpenDerived(ctx, b.staffB, f.ID, intake.DerivedPreview)
	require.True(t, apperr.Is(err, apperr.NotFound))
	_, err = b.svc.CaseFiles(ctx, b.staffB, c.ID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	_, err = b.svc.CaseStudies(ctx, b.staffB, c.ID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	require.Equal(t, before, b.count(t, "SELECT (SELECT coalesce(sum(coalesce((details->>'reads')::int, 1)), 0) FROM audit_events) + (SELECT count(*) FROM audit_reads)"))
}
