package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/audit"
)

// reader is one actor reading frames of one study.
type reader struct {
	user, org uuid.UUID
	ip        string
}

func newReader(org uuid.UUID) reader { return reader{user: uuid.New(), org: org, ip: "10.0.0.1"} }

// read records one frame-sized read of file (a study of site) by r.
func (r reader) read(ctx context.Context, b *testBundle, site uuid.UUID, file string, frame int) error {
	return audit.RecordRead(ctx, b.pool, audit.Event{
		Actor:      audit.Actor{UserID: &r.user, OrgID: &r.org, ClientIP: r.ip, RequestID: fmt.Sprintf("req-%d", frame)},
		Action:     "file.download",
		ObjectType: "file", ObjectID: file, ObjectOrgID: &site,
		Details: map[string]any{"case_id": "case-1", "range": fmt.Sprintf("%d-%d", frame*4096, frame*4096+4095)},
	})
}

// readConcurrently has r read n frames at once.
func readConcurrently(t *testing.T, b *testBundle, r reader, site uuid.UUID, file string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- r.read(context.Background(), b, site, file, i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// foldAll folds every window, open ones included.
func foldAll(t *testing.T, b *testBundle) int {
	t.Helper()
	n, err := audit.FoldBefore(context.Background(), b.pool, time.Now().Add(time.Hour))
	require.NoError(t, err)
	return n
}

// clearOfWindowEnd waits, when the current read window ends within a few
// seconds, for the next one, so that a test's reads share one window.
func clearOfWindowEnd(t *testing.T) {
	t.Helper()
	now := time.Now()
	if end := now.Truncate(audit.ReadWindow).Add(audit.ReadWindow); end.Sub(now) < 5*time.Second {
		time.Sleep(end.Sub(now) + 10*time.Millisecond)
	}
}

func pendingReads(t *testing.T, b *testBundle) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_reads").Scan(&n))
	return n
}

func TestConcurrentReadsAreOneEntry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	r := newReader(b.orgA)
	const n = 200
	readConcurrently(t, b, r, b.orgA, "file-1", n)

	// Before the fold: one pending entry, attributable, counting every read.
	list, err := audit.List(ctx, b.pool, audit.Filter{OrgID: b.orgA})
	require.NoError(t, err)
	require.Len(t, list, 1)
	e := list[0]
	require.True(t, e.Pending)
	require.Zero(t, e.ID)
	require.Equal(t, r.user, *e.ActorID)
	require.Equal(t, "file.download", e.Action)
	require.Equal(t, "file-1", e.ObjectID)
	require.Equal(t, b.orgA, *e.ObjectOrgID)
	require.EqualValues(t, n, e.Details["reads"])
	require.Equal(t, "case-1", e.Details["case_id"], "details every read shares are kept")
	require.Equal(t, map[string]any{"range": float64(n)}, e.Details["varying"], "details that differ are counted")
	require.Equal(t, true, e.Details["pending"])
	first, err := time.Parse(time.RFC3339Nano, e.Details["first_at"].(string))
	require.NoError(t, err)
	last, err := time.Parse(time.RFC3339Nano, e.Details["last_at"].(string))
	require.NoError(t, err)
	require.False(t, last.Before(first))
	require.True(t, e.At.Equal(first))

	rep, err := audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK())
	require.EqualValues(t, n, rep.PendingReads)
	require.Zero(t, rep.Events)

	// The fold makes it one chained event, and verify covers it.
	require.Equal(t, 1, foldAll(t, b))
	require.Zero(t, pendingReads(t, b))
	list, err = audit.List(ctx, b.pool, audit.Filter{OrgID: b.orgA})
	require.NoError(t, err)
	require.Len(t, list, 1)
	f := list[0]
	require.False(t, f.Pending)
	require.Positive(t, f.ID)
	require.EqualValues(t, n, f.Details["reads"])
	require.Equal(t, e.Details["first_at"], f.Details["first_at"])
	require.Equal(t, e.Details["last_at"], f.Details["last_at"])
	require.Equal(t, e.Details["window"], f.Details["window"])
	require.Equal(t, e.RequestID, f.RequestID)
	require.NotContains(t, f.Details, "pending")
	rep, err = audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
	require.EqualValues(t, 1, rep.Events)
	require.Zero(t, rep.PendingReads)
}

func TestReadsOfTwoActorsAreTwoEntries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	r1, r2 := newReader(b.orgB), newReader(b.orgB)
	var wg sync.WaitGroup
	for _, r := range []reader{r1, r2} {
		wg.Add(1)
		go func() { defer wg.Done(); readConcurrently(t, b, r, b.orgA, "file-1", 50) }()
	}
	wg.Wait()
	// A second object of the same actor is an entry of its own.
	readConcurrently(t, b, r1, b.orgA, "file-2", 3)

	counts := func(list []audit.Entry) map[string]float64 {
		out := map[string]float64{}
		for _, e := range list {
			out[e.ActorID.String()+" "+e.ObjectID] = e.Details["reads"].(float64)
		}
		return out
	}
	want := map[string]float64{r1.user.String() + " file-1": 50, r2.user.String() + " file-1": 50,
		r1.user.String() + " file-2": 3}
	list, err := audit.List(ctx, b.pool, audit.Filter{Platform: true})
	require.NoError(t, err)
	require.Equal(t, want, counts(list))

	require.Equal(t, 3, foldAll(t, b))
	list, err = audit.List(ctx, b.pool, audit.Filter{Platform: true})
	require.NoError(t, err)
	require.Equal(t, want, counts(list))
	rep, err := audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
	require.EqualValues(t, 3, rep.Events)
}

func TestFoldedReadsTamperedFailVerify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	record(t, b, b.orgA, "case.view", "before")
	readConcurrently(t, b, newReader(b.orgA), b.orgA, "file-1", 20)
	require.Equal(t, 1, foldAll(t, b))
	record(t, b, b.orgA, "case.view", "after")
	rep, err := audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
	require.EqualValues(t, 3, rep.Events)

	// Claiming fewer reads than there were is found.
	tamper(t, b, `UPDATE audit_events SET details = jsonb_set(details, '{reads}', '1')
	              WHERE chain = $1 AND action = 'file.download'`, b.orgA.String())
	rep, err = audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.Len(t, rep.Breaks, 1)
	require.EqualValues(t, 2, rep.Breaks[0].Seq)
	require.Contains(t, rep.Breaks[0].Reason, "was changed")
}

func TestPendingReadsCannotBeChanged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	require.NoError(t, newReader(b.orgA).read(context.Background(), b, b.orgA, "file-1", 1))
	_, err := b.pool.Exec(context.Background(), "UPDATE audit_reads SET actor_id = NULL")
	require.ErrorContains(t, err, "only inserted and folded")
	_, err = b.pool.Exec(context.Background(), "TRUNCATE audit_reads")
	require.ErrorContains(t, err, "only inserted and folded")
}

func TestReadListingScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	orgC := uuid.New()
	// A reader of orgB (a reading group) reads orgA's study; one of orgA
	// reads its own.
	readConcurrently(t, b, newReader(b.orgB), b.orgA, "file-ab", 5)
	readConcurrently(t, b, newReader(b.orgA), b.orgA, "file-aa", 5)

	check := func(stage string) {
		t.Helper()
		for org, want := range map[uuid.UUID][]string{
			b.orgA: {"file-aa", "file-ab"}, b.orgB: {"file-ab"}, orgC: nil,
		} {
			list, err := audit.List(ctx, b.pool, audit.Filter{OrgID: org})
			require.NoError(t, err)
			var got []string
			for _, e := range list {
				got = append(got, e.ObjectID)
			}
			require.ElementsMatch(t, want, got, "%s: organisation %s", stage, org)
		}
		all, err := audit.List(ctx, b.pool, audit.Filter{Platform: true})
		require.NoError(t, err)
		require.Len(t, all, 2, stage)
		// A platform flag is needed: an organisation's scope is never "all".
		none, err := audit.List(ctx, b.pool, audit.Filter{OrgID: orgC, ObjectID: ptr("file-aa")})
		require.NoError(t, err)
		require.Empty(t, none, stage)
	}
	check("pending")
	require.Equal(t, 2, foldAll(t, b))
	check("folded")
}

func ptr[T any](v T) *T { return &v }

func TestFoldTakesClosedWindowsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	r := newReader(b.orgA)
	// Reads of three minutes ago, as a reader of then left them.
	old := time.Now().UTC().Add(-3 * time.Minute)
	for i := range 4 {
		_, err := b.pool.Exec(ctx, `INSERT INTO audit_reads (chain, window_start, at, actor_id, actor_org_id, action,
		    object_type, object_id, object_org_id, client_ip, request_id, details)
		    VALUES ($1, date_trunc('minute', $2::timestamptz), $2, $3, $4, 'file.download', 'file', 'file-1', $4,
		            '10.0.0.1', $5, '{}')`,
			b.orgA.String(), old.Add(time.Duration(i)*time.Millisecond), r.user, b.orgA, fmt.Sprint("old-", i))
		require.NoError(t, err)
	}
	require.NoError(t, r.read(ctx, b, b.orgA, "file-1", 1))
	require.NoError(t, r.read(ctx, b, b.orgA, "file-1", 2))

	// The first read of the organisation in this process folded the closed
	// window on its way (no lock was held); the open one waits.
	require.Equal(t, 2, pendingReads(t, b))
	n, err := audit.Fold(ctx, b.pool)
	require.NoError(t, err)
	require.Zero(t, n, "the current window is open")

	list, err := audit.List(ctx, b.pool, audit.Filter{OrgID: b.orgA})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.True(t, list[0].Pending)
	require.EqualValues(t, 2, list[0].Details["reads"])
	require.False(t, list[1].Pending)
	require.EqualValues(t, 4, list[1].Details["reads"])
	require.Equal(t, "old-0", list[1].RequestID)
	require.Equal(t, "old-3", list[1].Details["last_request_id"])
	rep, err := audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
	require.EqualValues(t, 1, rep.Events)
	require.EqualValues(t, 2, rep.PendingReads)
}

func TestPendingReadsKeepTheCursor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	for i := range 3 {
		record(t, b, b.orgA, "case.view", fmt.Sprint(i))
	}
	for i := range 3 {
		readConcurrently(t, b, newReader(b.orgA), b.orgA, fmt.Sprint("file-", i), 2)
	}
	page, err := audit.List(ctx, b.pool, audit.Filter{OrgID: b.orgA, Limit: 2})
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.True(t, page[0].Pending)
	require.False(t, page[1].Pending, "a full page ends with a chained event, the cursor")
	next, err := audit.List(ctx, b.pool, audit.Filter{OrgID: b.orgA, Limit: 2, BeforeID: &page[1].ID})
	require.NoError(t, err)
	require.Len(t, next, 2)
	for _, e := range next {
		require.False(t, e.Pending, "pending reads are on the first page only")
		require.Less(t, e.ID, page[1].ID)
	}
	full, err := audit.List(ctx, b.pool, audit.Filter{OrgID: b.orgA})
	require.NoError(t, err)
	require.Len(t, full, 6)
}

func TestFoldWhileWritingAndReading(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(3)
		go func() { defer wg.Done(); record(t, b, b.orgA, "case.update", fmt.Sprint(i)) }()
		go func() { defer wg.Done(); require.NoError(t, newReader(b.orgA).read(ctx, b, b.orgA, "file-1", i)) }()
		go func() {
			defer wg.Done()
			_, err := audit.FoldBefore(ctx, b.pool, time.Now().Add(time.Hour))
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	foldAll(t, b)
	rep, err := audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
	require.EqualValues(t, 60, rep.Events, "30 writes and 30 readers' entries")
	require.Zero(t, rep.PendingReads)
}

// TestRecordReadsIsEachRead: a page of reads recorded in one statement is
// what as many RecordRead calls would be: one entry per object, with its
// own details, pending then chained, and a second page of the same
// objects in the window adds to their counts.
func TestRecordReadsIsEachRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	clearOfWindowEnd(t)
	ctx := context.Background()
	r := newReader(b.orgB)
	page := func(n int) []audit.Event {
		evs := make([]audit.Event, 0, n)
		for i := range n {
			evs = append(evs, audit.Event{
				Actor:  audit.Actor{UserID: &r.user, OrgID: &r.org, ClientIP: r.ip, RequestID: "req-page"},
				Action: "dicomweb.search", ObjectType: "case", ObjectID: fmt.Sprintf("case-%d", i), ObjectOrgID: &b.orgA,
				Details: map[string]any{"level": "study", "matches": i + 1},
			})
		}
		return evs
	}
	require.NoError(t, audit.RecordReads(ctx, b.pool, nil))
	require.NoError(t, audit.RecordReads(ctx, b.pool, page(50)))
	require.Equal(t, 50, pendingReads(t, b))
	require.NoError(t, audit.RecordReads(ctx, b.pool, page(10)))
	require.Equal(t, 60, pendingReads(t, b))

	list, err := audit.List(ctx, b.pool, audit.Filter{Platform: true})
	require.NoError(t, err)
	require.Len(t, list, 50)
	reads := map[string]float64{}
	for _, e := range list {
		require.Equal(t, "dicomweb.search", e.Action)
		require.Equal(t, r.user, *e.ActorID)
		reads[e.ObjectID] = e.Details["reads"].(float64)
	}
	require.EqualValues(t, 2, reads["case-0"], "read on both pages")
	require.EqualValues(t, 1, reads["case-49"])

	require.Equal(t, 50, foldAll(t, b))
	require.Zero(t, pendingReads(t, b))
	rep, err := audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)

	// A read that fails its checks refuses the page: nothing is written.
	bad := page(3)
	bad[1].Action = ""
	require.Error(t, audit.RecordReads(ctx, b.pool, bad))
	require.Zero(t, pendingReads(t, b))
}
