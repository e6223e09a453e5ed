package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/testenv"
)

// reportSource is the test's ReportSource: reports are rendered as a small
// JSON document (the reports package renders the real one).
type reportSource struct {
	PayloadFunc func(ctx context.Context, reportID uuid.UUID, event string) ([]byte, error)
}

var _ delivery.ReportSource = (*reportSource)(nil)

func (s *reportSource) WebhookPayload(ctx context.Context, reportID uuid.UUID, event string) ([]byte, error) {
	if s.PayloadFunc != nil {
		return s.PayloadFunc(ctx, reportID, event)
	}
	return json.Marshal(map[string]any{"report_id": reportID, "event": event, "impression": "benign naevus"})
}

type testBundle struct {
	env      *testenv.Env
	fx       *testenv.Fixtures
	svc      *delivery.Service
	jobs     *jobs.Client
	cases    *cases.Service
	site     *testenv.Tenant
	site2    *testenv.Tenant
	readers  *testenv.Tenant
	root     *identity.Principal
	mu       sync.Mutex
	observed map[string][]time.Duration
}

type setupOpts struct {
	denyPrivate bool
}

func setup(t *testing.T, opts setupOpts) *testBundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	fx := testenv.NewFixtures(t, env)
	b := &testBundle{env: env, fx: fx, jobs: river, cases: cases.NewService(env.Pool, river), root: fx.Root(),
		observed: map[string][]time.Duration{}}
	b.svc = delivery.NewService(env.Pool, river, &reportSource{}, delivery.Options{
		AllowPrivateWebhooks: !opts.denyPrivate,
		ObserveStep: func(from, to string, d time.Duration) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.observed[from+"→"+to] = append(b.observed[from+"→"+to], d)
		}})
	b.site = fx.Tenant(t, identity.OrgSite, "site", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.site2 = fx.Tenant(t, identity.OrgSite, "site-two", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.readers = fx.Tenant(t, identity.OrgReadingGroup, "derm", []string{"dermatology"}, identity.RoleSpecialist, identity.RoleOrgAdmin)
	return b
}

// reported makes a case of site, routed to the readers, with a signed
// report: final (the case is reported) or preliminary (the case is back on
// the worklist for a second read). It returns the notice to deliver.
func (b *testBundle) reported(t *testing.T, site *testenv.Tenant, status string, critical bool) delivery.Notice {
	t.Helper()
	ctx := context.Background()
	c, err := b.cases.Create(ctx, site.Principals[identity.RoleSiteStaff], cases.NewCase{
		ReferringPhysicianID: site.Users[identity.RoleReferringPhysician].ID, Specialty: "dermatology",
		Priority: "urgent", PatientName: "Pat Doe " + uuid.NewString()[:6], PatientBirthDate: "1961-02-03",
		PatientSex: "F", PatientMRN: "MRN1", ClinicalQuestion: "Melanoma?", LesionBodySite: "back"})
	require.NoError(t, err)
	caseStatus := "reported"
	event := delivery.EventFinal
	if status == "preliminary" {
		caseStatus, event = "routed", delivery.EventPreliminary
	}
	_, err = b.env.Pool.Exec(ctx, `UPDATE cases SET status = $2, reading_group_id = $3, submitted_at = now(),
		routed_at = now(), due_at = now() + interval '4 hours' WHERE id = $1`, c.ID, caseStatus, b.readers.Org.ID)
	require.NoError(t, err)
	spec := b.readers.Users[identity.RoleSpecialist].ID
	var reportID uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, `INSERT INTO reports (case_id, status, findings, impression, critical,
		author_id, updated_by, content_sha256) VALUES ($1, $2, 'f', 'i', $3, $4, $4, $5) RETURNING id`,
		c.ID, status, critical, spec, fmt.Sprintf("%064x", 1)).Scan(&reportID))
	return delivery.Notice{ReportID: reportID, CaseID: c.ID, SiteOrgID: site.Org.ID, Event: event, Critical: critical}
}

// sign enqueues the deliveries of n in a committed transaction, as signing
// does.
func (b *testBundle) sign(t *testing.T, n delivery.Notice) {
	t.Helper()
	require.NoError(t, postgres.InTx(context.Background(), b.env.Pool, func(tx pgx.Tx) error {
		return delivery.Enqueue(context.Background(), tx, b.jobs, n)
	}))
}

// deliveries returns the ids of a report's deliveries by channel.
func (b *testBundle) deliveries(t *testing.T, reportID uuid.UUID, channel string) []uuid.UUID {
	t.Helper()
	rows, err := b.env.Pool.Query(context.Background(),
		"SELECT id FROM deliveries WHERE report_id = $1 AND channel = $2 ORDER BY created_at, id", reportID, channel)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return ids
}

// deliverInbox runs the inbox delivery of a report, as its job does.
func (b *testBundle) deliverInbox(t *testing.T, reportID uuid.UUID) delivery.Outcome {
	t.Helper()
	var out delivery.Outcome
	for _, id := range b.deliveries(t, reportID, delivery.ChannelInbox) {
		o, err := b.svc.Deliver(context.Background(), id, 1, 25)
		require.NoError(t, err)
		if o.CaseDelivered {
			out = o
		}
	}
	return out
}

// delivered is sign and deliverInbox.
func (b *testBundle) delivered(t *testing.T, site *testenv.Tenant, status string, critical bool) delivery.Notice {
	t.Helper()
	n := b.reported(t, site, status, critical)
	b.sign(t, n)
	b.deliverInbox(t, n.ReportID)
	return n
}

func (b *testBundle) caseStatus(t *testing.T, id uuid.UUID) string {
	t.Helper()
	var s string
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), "SELECT status FROM cases WHERE id = $1", id).Scan(&s))
	return s
}

func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// receiver is a site's webhook endpoint: a real local HTTP server whose
// answer the test chooses per request.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []received
	// AnswerFunc returns the status for the nth request (from 1).
	AnswerFunc func(n int) int
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	t.Helper()
	r := &receiver{AnswerFunc: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, received{header: req.Header.Clone(), body: body})
		n := len(r.requests)
		r.mu.Unlock()
		status := http.StatusOK
		if r.AnswerFunc != nil {
			status = r.AnswerFunc(n)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.requests...)
}
