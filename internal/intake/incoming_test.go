package intake_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
)

// receive pushes one file site-wide as staff A.
func (b *testBundle) receive(t *testing.T, name string) intake.Result {
	t.Helper()
	return b.svc.Receive(context.Background(), b.staffA, intake.Input{Filename: name, Body: bytes.NewReader(testdata(t, name))})
}

// TestIncomingStudies pushes two studies site-wide, lists them, attaches
// one to a draft, and checks that the bytes are stored once, that sending
// an instance again (before or after attaching) is a no-op, and that
// another site sees and attaches none of it.
func TestIncomingStudies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, f := range dicomdirFiles {
		r := b.receive(t, f)
		require.True(t, r.Accepted, "%s: %s", f, r.Reason)
		require.False(t, r.Duplicate)
		require.NotNil(t, r.DICOM)
	}
	require.Zero(t, b.count(t, "SELECT count(*) FROM files"), "incoming instances are not files of a case")
	blobs := len(b.objects(t, b.siteA.Org, "blobs/"))
	require.Equal(t, len(dicomdirFiles), blobs)
	require.Empty(t, b.objects(t, b.siteA.Org, "tmp/"), "no temporary object is left")

	// Again: nothing new.
	r := b.receive(t, dicomdirFiles[0])
	require.True(t, r.Accepted, r.Reason)
	require.True(t, r.Duplicate)
	require.Equal(t, len(dicomdirFiles), b.count(t, "SELECT count(*) FROM incoming_instances"))

	list, err := b.svc.IncomingStudies(ctx, b.staffA)
	require.NoError(t, err)
	require.Len(t, list, 2)
	byCount := map[int64]intake.IncomingStudy{}
	for _, s := range list {
		require.Equal(t, "77654033", s.PatientID)
		byCount[s.Instances] = s
	}
	cr, ct := byCount[3], byCount[4]
	require.Equal(t, "CR", cr.Modalities)
	require.Equal(t, "CT", ct.Modalities)

	other, err := b.svc.IncomingStudies(ctx, b.staffB)
	require.NoError(t, err)
	require.Empty(t, other, "another site sees none of them")

	c := b.newCase(t)
	_, err = b.svc.Attach(ctx, b.staffB, c, nil) // nothing named: nothing done
	require.NoError(t, err)
	cB := b.newCaseFor(t, b.staffB, b.siteB.Principals[identity.RoleReferringPhysician])
	_, err = b.svc.Attach(ctx, b.staffB, cB, []uuid.UUID{cr.ID})
	require.True(t, apperr.Is(err, apperr.NotFound), "another site's study is not found: %v", err)

	results, err := b.svc.Attach(ctx, b.staffA, c, []uuid.UUID{cr.ID})
	require.NoError(t, err)
	require.Len(t, results, 3)
	for _, r := range results {
		require.True(t, r.Accepted, r.Reason)
	}
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM files WHERE case_id = $1", c.ID))
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM dicom_instances"))
	require.Equal(t, blobs, len(b.objects(t, b.siteA.Org, "blobs/")), "attaching stores nothing again")

	list, err = b.svc.IncomingStudies(ctx, b.staffA)
	require.NoError(t, err)
	require.Len(t, list, 1, "the attached study leaves the list")
	require.Equal(t, ct.ID, list[0].ID)

	// Attaching again is a no-op; an instance of the attached study sent
	// site-wide again is one too, not a new copy.
	results, err = b.svc.Attach(ctx, b.staffA, c, []uuid.UUID{cr.ID})
	require.NoError(t, err)
	for _, r := range results {
		require.True(t, r.Duplicate, r.Reason)
	}
	r = b.receive(t, dicomdirFiles[1])
	require.True(t, r.Accepted, r.Reason)
	require.True(t, r.Duplicate)
	require.Equal(t, 3, b.count(t, "SELECT count(*) FROM files"))
	require.Equal(t, len(dicomdirFiles), b.count(t, "SELECT count(*) FROM incoming_instances"))

	// A study that is a case's takes no new instance site-wide: it goes to
	// the case.
	c2 := b.newCase(t)
	ctFile := b.add(t, c2, dicomdirFiles[3], testdata(t, dicomdirFiles[3]))
	require.True(t, ctFile.Accepted, ctFile.Reason)
	_, err = b.svc.Attach(ctx, b.staffA, c, []uuid.UUID{ct.ID})
	require.NoError(t, err, "instances of a study in another case are refused one by one")

	// The sweep keeps the bytes of incoming instances.
	require.NoError(t, b.svc.Sweep(ctx))
	require.Equal(t, blobs, len(b.objects(t, b.siteA.Org, "blobs/")))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'incoming.attach'"))
}
