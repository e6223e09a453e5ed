package intake_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/intake"
)

// TestBatch: the files of one request are committed together when they
// are small DICOM instances, and each still gets the answer it would get
// on its own: a file refused inside a batch (its study is another case's)
// is refused alone while the others of the batch are accepted, a file sent
// twice in one request is a duplicate, a file that is not DICOM is refused
// in its place in the order, nothing the failed transaction placed is left
// behind, and the audit chain holds one record per file added.
func TestBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	inst := func(study, series string, n int) []byte { return instance(t, study, series, n) }
	s1, s2 := "2.25.71001", "2.25.71002"
	other := b.newCase(t)
	require.True(t, b.add(t, other, "other.dcm", inst(s2, s2+".1", 1)).Accepted)

	c := b.newCase(t)
	type file struct {
		name string
		body []byte
	}
	first := inst(s1, s1+".1", 1)
	files := []file{
		{"a.dcm", first}, {"b.dcm", inst(s1, s1+".1", 2)},
		{"c.dcm", inst(s2, s2+".1", 2)}, // the study of another case
		{"a-again.dcm", first},
		{"d.dcm", inst(s1, s1+".1", 3)},
		{"notes.txt", []byte("not an image")}, // commits what waits, then is refused
		{"e.dcm", inst(s1, s1+".2", 1)}, {"f.dcm", inst(s1, s1+".2", 2)},
		{"e-again.dcm", inst(s1, s1+".2", 1)}, {"g.dcm", inst(s1, s1+".2", 3)},
	}
	batch := b.svc.NewBatch(ctx, b.staffA, c)
	for _, f := range files {
		sha, err := batch.Add(intake.Input{Filename: f.name, Body: bytes.NewReader(f.body)})
		require.NoError(t, err)
		require.Len(t, sha, 64)
	}
	res := batch.Results()
	require.Len(t, res, len(files))
	for i, f := range files {
		require.Equal(t, f.name, res[i].Filename, "results keep the order of the request")
	}
	accepted := map[string]bool{"a.dcm": true, "b.dcm": true, "a-again.dcm": true, "d.dcm": true,
		"e.dcm": true, "f.dcm": true, "e-again.dcm": true, "g.dcm": true}
	for _, r := range res {
		require.Equal(t, accepted[r.Filename], r.Accepted, "%s: %s", r.Filename, r.Reason)
	}
	require.Contains(t, res[2].Reason, "already part of another case")
	require.True(t, res[3].Duplicate)
	require.Equal(t, res[0].File.ID, res[3].File.ID)
	require.True(t, res[8].Duplicate)
	require.Equal(t, res[6].File.ID, res[8].File.ID)
	require.NotEmpty(t, res[5].Reason)

	require.Equal(t, 6, b.count(t, `SELECT count(*) FROM files WHERE case_id = $1`, c.ID))
	require.Equal(t, 6, b.count(t, `SELECT count(*) FROM dicom_instances i JOIN files f ON f.id = i.file_id WHERE f.case_id = $1`, c.ID))
	require.Equal(t, 2, b.count(t, `SELECT series_count FROM dicom_studies WHERE case_id = $1`, c.ID))
	require.Equal(t, 6, b.count(t, `SELECT instance_count FROM dicom_studies WHERE case_id = $1`, c.ID))
	// The last three new files arrived after the text file and went in
	// one transaction.
	require.Equal(t, 1, b.count(t, `SELECT count(DISTINCT xmin::text) FROM files WHERE id = ANY($1)`,
		[]any{res[6].File.ID, res[7].File.ID, res[9].File.ID}))
	// Seven distinct instances were stored, the refused one is gone.
	require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 7)
	require.Equal(t, 6, b.count(t, `SELECT count(*) FROM audit_events WHERE action = 'file.upload' AND details->>'case_id' = $1`,
		c.ID.String()))
	require.Equal(t, 6, b.count(t, `SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'file_added'`, c.ID))
	rep, err := audit.Verify(ctx, b.env.Pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
}
