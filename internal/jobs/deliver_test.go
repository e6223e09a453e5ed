package jobs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

// fastRetry retries failed jobs at once, so that a test sees River's
// retries and dead-lettering in milliseconds.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

// source renders reports for webhooks, as reports.Service does.
type source struct{}

func (source) WebhookPayload(_ context.Context, id uuid.UUID, event string) ([]byte, error) {
	return []byte(fmt.Sprintf(`{"report_id":%q,"event":%q}`, id, event)), nil
}

type deliverBundle struct {
	env      *testenv.Env
	inserter *Client
	cases    *cases.Service
	intake   *intake.Service
	worklist *worklist.Service
	svc      *delivery.Service
	metrics  *FlowMetrics
	registry *prometheus.Registry
	site     *testenv.Tenant
	readers  *testenv.Tenant
	root     *identity.Principal
}

func setupDeliver(t *testing.T) *deliverBundle {
	t.Helper()
	env := testenv.New(t)
	inserter, err := NewClient(env.Pool, testenv.Logger(t), Options{})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	cs := cases.NewService(env.Pool, inserter)
	b := &deliverBundle{env: env, inserter: inserter, cases: cs, worklist: worklist.NewService(env.Pool),
		intake:  intake.New(env.Pool, env.Blob, cs, inserter, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()}),
		metrics: NewFlowMetrics(reg), registry: reg}
	b.svc = delivery.NewService(env.Pool, inserter, source{}, delivery.Options{AllowPrivateWebhooks: true,
		ObserveStep: b.metrics.Observer()})
	fx := testenv.NewFixtures(t, env)
	b.root = fx.Root()
	b.site = fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.readers = fx.Tenant(t, identity.OrgReadingGroup, "derm", []string{"dermatology"}, identity.RoleSpecialist)
	return b
}

// start runs a River client with every worker, stopped at the end of the
// test (or earlier by the test).
func (b *deliverBundle) start(t *testing.T) *Client {
	t.Helper()
	client, err := NewClient(b.env.Pool, testenv.Logger(t), Options{Work: true, Concurrency: 4,
		FetchPollInterval: 20 * time.Millisecond, RetryPolicy: fastRetry{},
		Deps: Deps{Identity: identity.NewService(b.env.Pool), Worklist: b.worklist, Intake: b.intake,
			Delivery: b.svc, Logger: testenv.Logger(t), Metrics: b.metrics}})
	require.NoError(t, err)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	return client
}

// signed makes a reported case with a final report and enqueues its
// deliveries in a committed transaction, as signing does.
func (b *deliverBundle) signed(t *testing.T) delivery.Notice {
	t.Helper()
	ctx := context.Background()
	c, err := b.cases.Create(ctx, b.site.Principals[identity.RoleSiteStaff], cases.NewCase{
		ReferringPhysicianID: b.site.Users[identity.RoleReferringPhysician].ID, Specialty: "dermatology",
		Priority: "stat", PatientName: "Pat Doe", PatientBirthDate: "1961-02-03", PatientSex: "F", PatientMRN: "M1",
		ClinicalQuestion: "Melanoma?", LesionBodySite: "back"})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, "UPDATE cases SET status = 'reported', reading_group_id = $2 WHERE id = $1", c.ID, b.readers.Org.ID)
	require.NoError(t, err)
	n := delivery.Notice{CaseID: c.ID, SiteOrgID: c.SiteOrgID, Event: delivery.EventFinal, Critical: true}
	spec := b.readers.Users[identity.RoleSpecialist].ID
	require.NoError(t, b.env.Pool.QueryRow(ctx, `INSERT INTO reports (case_id, status, findings, impression, critical,
		author_id, updated_by, content_sha256) VALUES ($1, 'final', 'f', 'i', true, $2, $2, $3) RETURNING id`,
		c.ID, spec, fmt.Sprintf("%064x", 3)).Scan(&n.ReportID))
	require.NoError(t, postgres.InTx(ctx, b.env.Pool, func(tx pgx.Tx) error {
		return delivery.Enqueue(ctx, tx, b.inserter, n)
	}))
	return n
}

func (b *deliverBundle) webhook(t *testing.T, url string) {
	t.Helper()
	_, _, err := b.svc.CreateWebhook(context.Background(), b.site.Principals[identity.RoleOrgAdmin], delivery.NewWebhook{URL: url})
	require.NoError(t, err)
}

// webhookDelivery returns the report's webhook delivery: status and attempts.
func (b *deliverBundle) webhookDelivery(t *testing.T, report uuid.UUID) (uuid.UUID, string, int) {
	t.Helper()
	var id uuid.UUID
	var status string
	var attempts int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), `SELECT id, status, attempts FROM deliveries
		WHERE report_id = $1 AND channel = 'webhook'`, report).Scan(&id, &status, &attempts))
	return id, status, attempts
}

func (b *deliverBundle) waitFor(t *testing.T, report uuid.UUID, status string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, s, _ := b.webhookDelivery(t, report)
		return s == status
	}, 30*time.Second, 20*time.Millisecond, "the webhook delivery never became %s", status)
}

// dedupReceiver is a site's EHR endpoint that processes each delivery id
// once, as docs/delivery.md tells receivers to. fail says whether to answer
// the nth request (from 1) with an error.
type dedupReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	requests  int
	ids       map[string]int // delivery id → requests seen
	processed []string       // bodies processed, once per delivery id
	fail      func(n int) bool
	block     chan struct{} // when set, requests wait for it
}

func newDedupReceiver(t *testing.T, fail func(n int) bool) *dedupReceiver {
	r := &dedupReceiver{ids: map[string]int{}, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests++
		n, block := r.requests, r.block
		id := req.Header.Get(delivery.HeaderDelivery)
		r.ids[id]++
		r.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-req.Context().Done():
				return
			}
		}
		if r.fail != nil && r.fail(n) {
			http.Error(w, "EHR is down", http.StatusBadGateway)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		seen := false
		for _, p := range r.processed {
			seen = seen || p == id
		}
		if !seen {
			r.processed = append(r.processed, id)
			_ = body
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *dedupReceiver) snapshot() (int, map[string]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[string]int{}
	for k, v := range r.ids {
		ids[k] = v
	}
	return r.requests, ids, append([]string(nil), r.processed...)
}

func TestDeliverRetriesUntilAccepted(t *testing.T) {
	t.Parallel()
	b := setupDeliver(t)
	rcv := newDedupReceiver(t, func(n int) bool { return n <= 3 })
	b.webhook(t, rcv.srv.URL)
	b.start(t)
	n := b.signed(t)
	b.waitFor(t, n.ReportID, "delivered")

	id, _, attempts := b.webhookDelivery(t, n.ReportID)
	requests, ids, processed := rcv.snapshot()
	require.Equal(t, 4, requests, "three failures, then success")
	require.Equal(t, map[string]int{id.String(): 4}, ids, "the same delivery id on every retry")
	require.Equal(t, []string{id.String()}, processed, "the receiver processes the report exactly once")
	require.Equal(t, 4, attempts)
	var codes []int
	rows, err := b.env.Pool.Query(context.Background(), "SELECT status_code FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id", id)
	require.NoError(t, err)
	codes, err = pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{502, 502, 502, 204}, codes)

	require.Eventually(t, func() bool {
		var s string
		_ = b.env.Pool.QueryRow(context.Background(), "SELECT status FROM cases WHERE id = $1", n.CaseID).Scan(&s)
		return s == "delivered"
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, uint64(1), stepCount(t, b.registry, "signed", "delivered"), "signed→delivered is observed once")
}

func TestDeliverDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	b := setupDeliver(t)
	var down sync.Mutex
	failing := true
	rcv := newDedupReceiver(t, func(int) bool { down.Lock(); defer down.Unlock(); return failing })
	b.webhook(t, rcv.srv.URL)
	b.start(t)
	n := b.signed(t)
	b.waitFor(t, n.ReportID, "dead")

	id, _, attempts := b.webhookDelivery(t, n.ReportID)
	require.Equal(t, delivery.WebhookMaxAttempts, attempts, "every attempt is recorded")
	require.Eventually(t, func() bool {
		var state string
		_ = b.env.Pool.QueryRow(context.Background(), "SELECT state FROM river_job WHERE args->>'delivery_id' = $1",
			id.String()).Scan(&state)
		return state == string(rivertype.JobStateDiscarded)
	}, 10*time.Second, 20*time.Millisecond, "River discards the job after its last attempt")
	admin := b.site.Principals[identity.RoleOrgAdmin]
	dead, err := b.svc.DeadLetters(context.Background(), admin, nil, 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, id, dead[0].ID)

	down.Lock()
	failing = false
	down.Unlock()
	replayed, err := b.svc.Replay(context.Background(), admin, id)
	require.NoError(t, err)
	require.Equal(t, "queued", replayed.Status)
	b.waitFor(t, n.ReportID, "delivered")
	requests, ids, processed := rcv.snapshot()
	require.Equal(t, delivery.WebhookMaxAttempts+1, requests)
	require.Equal(t, map[string]int{id.String(): delivery.WebhookMaxAttempts + 1}, ids, "the replay keeps the delivery id")
	require.Equal(t, []string{id.String()}, processed)
	dead, err = b.svc.DeadLetters(context.Background(), admin, nil, 10)
	require.NoError(t, err)
	require.Empty(t, dead)
	_, err = b.svc.Replay(context.Background(), admin, id)
	require.Error(t, err, "a delivered delivery is not replayed")
}

// TestDeliverAfterRestart: the deliveries are enqueued in the signing
// transaction, so a worker that is down when the report is signed, or
// stopped in the middle of an attempt, delivers once it runs again.
func TestDeliverAfterRestart(t *testing.T) {
	t.Parallel()
	b := setupDeliver(t)
	rcv := newDedupReceiver(t, nil)
	block := make(chan struct{})
	rcv.block = block
	b.webhook(t, rcv.srv.URL)

	n := b.signed(t) // no worker is running
	time.Sleep(200 * time.Millisecond)
	_, status, _ := b.webhookDelivery(t, n.ReportID)
	require.Equal(t, "queued", status)

	first := b.start(t)
	require.Eventually(t, func() bool { r, _, _ := rcv.snapshot(); return r == 1 }, 10*time.Second, 10*time.Millisecond)
	// The worker dies mid-request.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, first.StopAndCancel(ctx))
	_, status, _ = b.webhookDelivery(t, n.ReportID)
	require.Equal(t, "queued", status)

	rcv.mu.Lock()
	rcv.block = nil
	rcv.mu.Unlock()
	close(block)
	b.start(t)
	b.waitFor(t, n.ReportID, "delivered")
	id, _, _ := b.webhookDelivery(t, n.ReportID)
	_, ids, processed := rcv.snapshot()
	require.Len(t, ids, 1)
	require.GreaterOrEqual(t, ids[id.String()], 2)
	require.Equal(t, []string{id.String()}, processed)
	require.Eventually(t, func() bool {
		var s string
		_ = b.env.Pool.QueryRow(context.Background(), "SELECT status FROM cases WHERE id = $1", n.CaseID).Scan(&s)
		return s == "delivered"
	}, 10*time.Second, 20*time.Millisecond)
}

func TestEscalateWorker(t *testing.T) {
	t.Parallel()
	b := setupDeliver(t)
	ctx := context.Background()
	n := b.signed(t)
	_, err := b.svc.Deliver(ctx, inboxDelivery(t, b, n.ReportID), 1, 25)
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, "UPDATE inbox_items SET delivered_at = now() - interval '61 minutes'")
	require.NoError(t, err)
	w := &EscalateWorker{delivery: b.svc, logger: testenv.Logger(t)}
	for range 2 {
		require.NoError(t, w.Work(ctx, &river.Job[EscalateArgs]{}))
	}
	var n1 int
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT count(*) FROM escalations WHERE report_id = $1 AND level = 1", n.ReportID).Scan(&n1))
	require.Equal(t, 1, n1, "the default window is one hour; each level once")
	require.Equal(t, time.Minute, EscalateArgs{}.InsertOpts().UniqueOpts.ByPeriod)
}

func inboxDelivery(t *testing.T, b *deliverBundle, report uuid.UUID) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(context.Background(),
		"SELECT id FROM deliveries WHERE report_id = $1 AND channel = 'inbox'", report).Scan(&id))
	return id
}

// stepCount is the number of observations of a flow step.
func stepCount(t *testing.T, reg *prometheus.Registry, from, to string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "teleread_case_step_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["from"] == from && labels["to"] == to {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}
