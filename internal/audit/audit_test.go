package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/testenv"
)

type testBundle struct {
	pool *pgxpool.Pool
	orgA uuid.UUID
	orgB uuid.UUID
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	env := testenv.New(t)
	return &testBundle{pool: env.Pool, orgA: uuid.New(), orgB: uuid.New()}
}

func record(t *testing.T, b *testBundle, org uuid.UUID, action, object string) {
	t.Helper()
	user := uuid.New()
	require.NoError(t, audit.RecordTx(context.Background(), b.pool, audit.Event{
		Actor:      audit.Actor{UserID: &user, OrgID: &org, ClientIP: "127.0.0.1", RequestID: "req-1"},
		Action:     action,
		ObjectType: "case",
		ObjectID:   object,
		Details:    map[string]any{"n": 12345678901234, "z": "last", "a": []any{1, "two"}},
	}))
}

func TestConcurrentAppendsVerify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			org := b.orgA
			if i%2 == 1 {
				org = b.orgB
			}
			record(t, b, org, "case.view", fmt.Sprint(i))
		}()
	}
	wg.Wait()
	rep, err := audit.Verify(context.Background(), b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
	require.Equal(t, 2, rep.Chains)
	require.EqualValues(t, 40, rep.Events)
}

func TestAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	record(t, b, b.orgA, "case.view", "1")
	_, err := b.pool.Exec(context.Background(), "UPDATE audit_events SET action = 'x'")
	require.ErrorContains(t, err, "append-only")
	_, err = b.pool.Exec(context.Background(), "DELETE FROM audit_events")
	require.ErrorContains(t, err, "append-only")
	_, err = b.pool.Exec(context.Background(), "TRUNCATE audit_events")
	require.ErrorContains(t, err, "append-only")
}

// tamper runs sql with triggers off, as a superuser could.
func tamper(t *testing.T, b *testBundle, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := b.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET session_replication_role = replica")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SET session_replication_role = origin")
	require.NoError(t, err)
}

func TestVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		sql    string
		seq    int64
		reason string
	}{
		"ChangedContent":  {"UPDATE audit_events SET object_id = 'other' WHERE chain_seq = 3", 3, "was changed"},
		"ChangedDetails":  {`UPDATE audit_events SET details = '{"n": 1}' WHERE chain_seq = 2`, 2, "was changed"},
		"ChangedTime":     {"UPDATE audit_events SET at = at - interval '1 day' WHERE chain_seq = 4", 4, "was changed"},
		"DeletedRow":      {"DELETE FROM audit_events WHERE chain_seq = 3", 4, "rows are missing"},
		"RehashedRow":     {"UPDATE audit_events SET action = 'case.edit', hash = sha256(hash) WHERE chain_seq = 2", 2, "was changed"},
		"ReplacedHashRow": {"UPDATE audit_events SET prev_hash = sha256(prev_hash) WHERE chain_seq = 3", 3, "prev_hash does not match"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			for i := range 5 {
				record(t, b, b.orgA, "case.view", fmt.Sprint(i))
			}
			record(t, b, b.orgB, "case.view", "b")
			rep, err := audit.Verify(context.Background(), b.pool)
			require.NoError(t, err)
			require.True(t, rep.OK())

			tamper(t, b, tc.sql+" AND chain = $1", b.orgA.String())
			rep, err = audit.Verify(context.Background(), b.pool)
			require.NoError(t, err)
			require.Len(t, rep.Breaks, 1, "only the tampered chain breaks")
			require.Equal(t, b.orgA.String(), rep.Breaks[0].Chain)
			require.Equal(t, tc.seq, rep.Breaks[0].Seq)
			require.Contains(t, rep.Breaks[0].Reason, tc.reason)
		})
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	record(t, b, b.orgA, "case.view", "1")
	record(t, b, b.orgA, "file.download", "2")
	record(t, b, b.orgB, "case.view", "3")
	ctx := context.Background()

	all, err := audit.List(ctx, b.pool, audit.Filter{Platform: true})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Greater(t, all[0].ID, all[1].ID, "newest first")

	scoped, err := audit.List(ctx, b.pool, audit.Filter{OrgID: b.orgA})
	require.NoError(t, err)
	require.Len(t, scoped, 2)
	other, err := audit.List(ctx, b.pool, audit.Filter{OrgID: uuid.New()})
	require.NoError(t, err)
	require.Empty(t, other, "an organisation with no events sees none")

	// No scope at all is no access, never every organisation.
	unscoped, err := audit.List(ctx, b.pool, audit.Filter{})
	require.NoError(t, err)
	require.Empty(t, unscoped)
	everyOrg, err := audit.List(ctx, b.pool, audit.Filter{Platform: true})
	require.NoError(t, err)
	require.Len(t, everyOrg, 3)

	action := "case.view"
	views, err := audit.List(ctx, b.pool, audit.Filter{Platform: true, Action: &action})
	require.NoError(t, err)
	require.Len(t, views, 2)

	page, err := audit.List(ctx, b.pool, audit.Filter{Platform: true, Limit: 1, BeforeID: &all[0].ID})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, all[1].ID, page[0].ID)

	future := time.Now().Add(time.Hour)
	none, err := audit.List(ctx, b.pool, audit.Filter{Platform: true, Since: &future})
	require.NoError(t, err)
	require.Empty(t, none)
	require.EqualValues(t, 12345678901234, mustNumber(t, all[0].Details["n"]))
}

func mustNumber(t *testing.T, v any) float64 {
	t.Helper()
	f, ok := v.(float64)
	require.True(t, ok, "%T", v)
	return f
}

// TestRecordAllVerify: events recorded together (the files of one upload
// request) chain in order between single records, and verify; events of
// two organisations are refused.
func TestRecordAllVerify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	user := uuid.New()
	actor := audit.Actor{UserID: &user, OrgID: &b.orgA, ClientIP: "127.0.0.1", RequestID: "req-2"}
	record(t, b, b.orgA, "case.create", "first")
	var evs []audit.Event
	for i := range 5 {
		evs = append(evs, audit.Event{Actor: actor, Action: "file.upload", ObjectType: "file", ObjectID: fmt.Sprint(i),
			Details: map[string]any{"i": i}})
	}
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, audit.RecordAll(ctx, tx, evs))
	require.NoError(t, tx.Commit(ctx))
	record(t, b, b.orgA, "case.submit", "last")

	other := audit.Actor{UserID: &user, OrgID: &b.orgB}
	tx, err = b.pool.Begin(ctx)
	require.NoError(t, err)
	require.Error(t, audit.RecordAll(ctx, tx, append(evs[:1:1], audit.Event{Actor: other, Action: "file.upload", ObjectType: "file"})))
	require.NoError(t, tx.Rollback(ctx))

	rep, err := audit.Verify(ctx, b.pool)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%+v", rep.Breaks)
	require.EqualValues(t, 7, rep.Events)
	var objs []string
	rows, err := b.pool.Query(ctx, `SELECT object_id FROM audit_events WHERE chain = $1 ORDER BY chain_seq`, b.orgA.String())
	require.NoError(t, err)
	for rows.Next() {
		var o string
		require.NoError(t, rows.Scan(&o))
		objs = append(objs, o)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"first", "0", "1", "2", "3", "4", "last"}, objs)
}
