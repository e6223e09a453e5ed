package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/intake"
)

// TestGroupCommit: small files sent to one case in concurrent requests of
// one file each are committed together when they wait at the same
// moment, and each request still gets its own answer: in a group with a
// refused file and a duplicate, the group's transaction
// fails and every request commits its file alone, the refused one refused,
// the duplicate a duplicate, nothing placed left behind.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	inst := func(study, series string, n int) []byte { return instance(t, study, series, n) }
	s1, s2 := "2.25.72001", "2.25.72002"
	other := b.newCase(t)
	require.True(t, b.add(t, other, "other.dcm", inst(s2, s2+".1", 1)).Accepted)
	c := b.newCase(t)

	// send adds each body in a request of its own, all at once, the
	// first one's commit held until the others have queued behind it.
	send := func(bodies [][]byte) []intake.Result {
		release := make(chan struct{})
		intake.SetGroupHold(b.svc, func() { <-release })
		defer intake.SetGroupHold(b.svc, nil)
		out := make([]intake.Result, len(bodies))
		var wg sync.WaitGroup
		run := func(i int) {
			defer wg.Done()
			batch := b.svc.NewBatch(ctx, b.staffA, c)
			_, err := batch.Add(intake.Input{Filename: fmt.Sprintf("f%d.dcm", i), Body: bytes.NewReader(bodies[i])})
			require.NoError(t, err)
			out[i] = batch.Results()[0]
		}
		wg.Add(1)
		go run(0)
		time.Sleep(200 * time.Millisecond) // the leader waits in hold
		for i := 1; i < len(bodies); i++ {
			wg.Add(1)
			go run(i)
		}
		time.Sleep(500 * time.Millisecond) // the others queue behind it
		close(release)
		wg.Wait()
		return out
	}

	var good [][]byte
	for i := range 9 {
		good = append(good, inst(s1, s1+".1", i+1))
	}
	res := send(good)
	var ids []uuid.UUID
	for _, r := range res {
		require.True(t, r.Accepted, r.Reason)
		require.False(t, r.Duplicate)
		ids = append(ids, r.File.ID)
	}
	// Two commits run at once per case (the first two requests lead),
	// the other seven queue behind them.
	require.LessOrEqual(t, b.count(t, `SELECT count(DISTINCT xmin::text) FROM files WHERE id = ANY($1)`, ids), 2,
		"the nine files went in at most two transactions")

	mixed := [][]byte{inst(s1, s1+".2", 1), inst(s2, s2+".1", 2), good[0], inst(s1, s1+".2", 2)}
	res = send(mixed)
	require.True(t, res[0].Accepted, res[0].Reason)
	require.False(t, res[1].Accepted)
	require.Contains(t, res[1].Reason, "already part of another case")
	require.True(t, res[2].Accepted)
	require.True(t, res[2].Duplicate)
	require.Equal(t, ids[0], res[2].File.ID)
	require.True(t, res[3].Accepted, res[3].Reason)

	require.Equal(t, 11, b.count(t, `SELECT count(*) FROM files WHERE case_id = $1`, c.ID))
	require.Equal(t, 11, b.count(t, `SELECT instance_count FROM dicom_studies WHERE case_id = $1`, c.ID))
	require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 12, "the refused file's object is gone")
	require.Equal(t, 11, b.count(t, `SELECT count(*) FROM audit_events WHERE action = 'file.upload' AND details->>'case_id' = $1`,
		c.ID.String()))
	rep, err := audit.Verify(ctx, b.env.Pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
}
