package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/testenv"
)

// reportPayloads renders reports for webhooks, as reports.Service does.
type reportPayloads struct{}

func (reportPayloads) WebhookPayload(_ context.Context, id uuid.UUID, event string) ([]byte, error) {
	return []byte(fmt.Sprintf(`{"report_id":%q,"event":%q}`, id, event)), nil
}

// deliveryBundle is the test bundle with a router whose delivery service
// renders webhooks.
type deliveryBundle struct {
	*testBundle
	svc   *delivery.Service
	river *jobs.Client
	cases *cases.Service
}

func setupDelivery(t *testing.T) *deliveryBundle {
	t.Helper()
	base := setup(t, setupOpts{})
	river, err := jobs.NewClient(base.env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	svc := delivery.NewService(base.env.Pool, river, reportPayloads{}, delivery.Options{AllowPrivateWebhooks: true})
	cs := cases.NewService(base.env.Pool, river)
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 20, Pool: base.env.Pool,
		Identity: identity.NewService(base.env.Pool), Cases: cs, Delivery: svc, Jobs: river})
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	b := *base
	b.engine, b.srv = engine, srv
	return &deliveryBundle{testBundle: &b, svc: svc, river: river, cases: cs}
}

// signed makes a case of site A with a signed final report, enqueues its
// deliveries as signing does, and runs the inbox delivery.
func (b *deliveryBundle) signed(t *testing.T, critical bool) delivery.Notice {
	t.Helper()
	ctx := context.Background()
	c, err := b.cases.Create(ctx, b.siteA.Principals[identity.RoleSiteStaff], cases.NewCase{
		ReferringPhysicianID: b.siteA.Users[identity.RoleReferringPhysician].ID, Specialty: "dermatology",
		Priority: "urgent", PatientName: "Pat Doe", PatientBirthDate: "1961-02-03", PatientSex: "F", PatientMRN: "M1",
		ClinicalQuestion: "Melanoma?", LesionBodySite: "back"})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, "UPDATE cases SET status = 'reported', reading_group_id = $2 WHERE id = $1", c.ID, b.readers.Org.ID)
	require.NoError(t, err)
	n := delivery.Notice{CaseID: c.ID, SiteOrgID: c.SiteOrgID, Event: delivery.EventFinal, Critical: critical}
	spec := b.readers.Users[identity.RoleSpecialist].ID
	require.NoError(t, b.env.Pool.QueryRow(ctx, `INSERT INTO reports (case_id, status, findings, impression, critical,
		author_id, updated_by, content_sha256) VALUES ($1, 'final', 'f', 'i', $2, $3, $3, $4) RETURNING id`,
		c.ID, critical, spec, fmt.Sprintf("%064x", 5)).Scan(&n.ReportID))
	require.NoError(t, postgres.InTx(ctx, b.env.Pool, func(tx pgx.Tx) error { return delivery.Enqueue(ctx, tx, b.river, n) }))
	var inbox uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT id FROM deliveries WHERE report_id = $1 AND channel = 'inbox'",
		n.ReportID).Scan(&inbox))
	_, err = b.svc.Deliver(ctx, inbox, 1, 25)
	require.NoError(t, err)
	return n
}

func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	adminA, adminB := b.siteA.Tokens[identity.RoleOrgAdmin], b.siteB.Tokens[identity.RoleOrgAdmin]
	platform := b.platform.Tokens[identity.RolePlatformAdmin]

	resp, body := b.call(t, http.MethodPost, "/api/v1/webhooks", adminA, map[string]any{"url": "ftp://ehr.example/x"})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	require.Contains(t, body["fields"], "url")
	resp, body = b.call(t, http.MethodPost, "/api/v1/webhooks", adminA, map[string]any{"url": "https://ehr.example/x", "secret": "mine"})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "unknown fields are refused: %v", body)

	resp, hook := b.call(t, http.MethodPost, "/api/v1/webhooks", adminA,
		map[string]any{"url": "https://ehr.site-a.example/teleread", "description": "EHR"})
	require.Equal(t, http.StatusCreated, resp.StatusCode, hook)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Regexp(t, `^whsec_[A-Za-z0-9_-]{43}$`, hook["secret"])
	require.Equal(t, b.siteA.Org.ID.String(), hook["org_id"])
	require.Equal(t, true, hook["enabled"])

	resp, body = b.call(t, http.MethodPost, "/api/v1/webhooks", platform, map[string]any{"url": "https://ehr.example/b"})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	resp, body = b.call(t, http.MethodPost, "/api/v1/webhooks", platform,
		map[string]any{"org_id": b.siteB.Org.ID, "url": "https://ehr.site-b.example/teleread"})
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)

	_, list := b.call(t, http.MethodGet, "/api/v1/webhooks", adminA, nil)
	require.Len(t, list["items"], 1)
	item := list["items"].([]any)[0].(map[string]any)
	require.Equal(t, hook["id"], item["id"])
	require.NotContains(t, item, "secret", "the secret is shown only once")
	_, list = b.call(t, http.MethodGet, "/api/v1/webhooks", platform, nil)
	require.Len(t, list["items"], 2)
	_, list = b.call(t, http.MethodGet, "/api/v1/webhooks?org_id="+b.siteA.Org.ID.String(), adminB, nil)
	require.Empty(t, list["items"])

	resp, body = b.call(t, http.MethodDelete, "/api/v1/webhooks/"+hook["id"].(string), adminB, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	resp, body = b.call(t, http.MethodDelete, "/api/v1/webhooks/"+hook["id"].(string), adminA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, false, body["enabled"])
	require.NotContains(t, body, "secret")
}

func TestInboxAndAcknowledgeAPI(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	gpA, gpB := b.siteA.Tokens[identity.RoleReferringPhysician], b.siteB.Tokens[identity.RoleReferringPhysician]
	routine := b.signed(t, false)
	critical := b.signed(t, true)

	before := auditCount(t, b.testBundle)
	resp, inbox := b.call(t, http.MethodGet, "/api/v1/inbox", gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, inbox)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	items := inbox["items"].([]any)
	require.Len(t, items, 2)
	first := items[0].(map[string]any)
	require.Equal(t, critical.ReportID.String(), first["report_id"], "critical first")
	require.Equal(t, critical.CaseID.String(), first["case_id"])
	require.Equal(t, "Pat Doe", first["patient_name"])
	require.Equal(t, "final", first["status"])
	require.Equal(t, true, first["critical"])
	require.Equal(t, true, first["unread"])
	require.NotEmpty(t, first["delivered_at"])
	require.Nil(t, first["opened_at"])
	require.Nil(t, first["acknowledged_at"])
	require.Equal(t, before+1, auditCount(t, b.testBundle), "reading the inbox is audited")

	for _, token := range []string{b.siteB.Tokens[identity.RoleSiteStaff], b.siteB.Tokens[identity.RoleOrgAdmin], gpB} {
		_, other := b.call(t, http.MethodGet, "/api/v1/inbox", token, nil)
		require.Empty(t, other["items"], "another site's inbox never shows it")
	}
	_, staff := b.call(t, http.MethodGet, "/api/v1/inbox?unread=true", b.siteA.Tokens[identity.RoleSiteStaff], nil)
	require.Len(t, staff["items"], 2)

	path := "/api/v1/reports/" + critical.ReportID.String() + "/acknowledge"
	resp, body := b.call(t, http.MethodPost, path, gpB, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	resp, body = b.call(t, http.MethodPost, path, b.siteA.Tokens[identity.RoleSiteStaff], nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	resp, ack := b.call(t, http.MethodPost, path, gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, ack)
	require.Equal(t, "acknowledged", ack["case_status"])
	require.Equal(t, "final", ack["report_status"])
	require.Equal(t, b.siteA.Users[identity.RoleReferringPhysician].ID.String(), ack["acknowledged_by"])
	resp, again := b.call(t, http.MethodPost, path, gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, ack["acknowledged_at"], again["acknowledged_at"], "idempotent")

	_, events := b.call(t, http.MethodGet, "/api/v1/cases/"+critical.CaseID.String()+"/events", gpA, nil)
	var moved int
	for _, e := range events["items"].([]any) {
		if e.(map[string]any)["to_status"] == "acknowledged" {
			moved++
		}
	}
	require.Equal(t, 1, moved)

	_, inbox = b.call(t, http.MethodGet, "/api/v1/inbox?unread=true", gpA, nil)
	require.Len(t, inbox["items"], 1, "acknowledging reads the report")
	require.Equal(t, routine.ReportID.String(), inbox["items"].([]any)[0].(map[string]any)["report_id"])
}

func TestDeliveriesAPI(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	ctx := context.Background()
	adminA, adminB := b.siteA.Tokens[identity.RoleOrgAdmin], b.siteB.Tokens[identity.RoleOrgAdmin]
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(rcv.Close)
	resp, hook := b.call(t, http.MethodPost, "/api/v1/webhooks", adminA, map[string]any{"url": rcv.URL})
	require.Equal(t, http.StatusCreated, resp.StatusCode, hook)
	n := b.signed(t, false)
	var id uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT id FROM deliveries WHERE report_id = $1 AND channel = 'webhook'",
		n.ReportID).Scan(&id))
	_, err := b.svc.Deliver(ctx, id, 1, 2)
	require.Error(t, err)
	_, err = b.svc.Deliver(ctx, id, 2, 2)
	require.Error(t, err)

	resp, dead := b.call(t, http.MethodGet, "/api/v1/deliveries/dead", adminA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, dead)
	require.Len(t, dead["items"], 1)
	d := dead["items"].([]any)[0].(map[string]any)
	require.Equal(t, id.String(), d["id"])
	require.Equal(t, "dead", d["status"])
	require.EqualValues(t, 2, d["attempts"])
	_, dead = b.call(t, http.MethodGet, "/api/v1/deliveries/dead", adminB, nil)
	require.Empty(t, dead["items"])

	path := "/api/v1/reports/" + n.ReportID.String() + "/deliveries"
	resp, body := b.call(t, http.MethodGet, path, adminB, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	resp, rd := b.call(t, http.MethodGet, path, adminA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, rd)
	require.Len(t, rd["items"], 2)
	for _, it := range rd["items"].([]any) {
		m := it.(map[string]any)
		if m["channel"] == "webhook" {
			history := m["history"].([]any)
			require.Len(t, history, 2)
			require.EqualValues(t, 500, history[0].(map[string]any)["status_code"])
			require.Contains(t, history[0].(map[string]any)["error"], "500")
		} else {
			require.Equal(t, "delivered", m["status"])
		}
	}

	replay := "/api/v1/deliveries/" + id.String() + "/replay"
	resp, body = b.call(t, http.MethodPost, replay, adminB, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	resp, body = b.call(t, http.MethodPost, replay, adminA, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	require.Equal(t, "queued", body["status"])
	require.Equal(t, id.String(), body["id"], "the same delivery id")
	resp, body = b.call(t, http.MethodPost, replay, adminA, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, body)
	require.Equal(t, 2, deliveryCount(t, b, "SELECT count(*) FROM river_job WHERE args->>'delivery_id' = $1", id.String()))
}

func TestEscalationsAndStatsAPI(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	ctx := context.Background()
	n := b.signed(t, true)
	_, err := b.env.Pool.Exec(ctx, "UPDATE inbox_items SET delivered_at = now() - interval '3 hours'")
	require.NoError(t, err)
	_, err = b.svc.Escalate(ctx)
	require.NoError(t, err)

	resp, body := b.call(t, http.MethodGet, "/api/v1/escalations", b.siteA.Tokens[identity.RoleOrgAdmin], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Len(t, body["items"], 2)
	top := body["items"].([]any)[0].(map[string]any)
	require.Equal(t, "critical_unacknowledged", top["kind"])
	require.Equal(t, n.ReportID.String(), top["report_id"])
	require.EqualValues(t, 2, top["level"])
	_, body = b.call(t, http.MethodGet, "/api/v1/escalations", b.siteB.Tokens[identity.RoleOrgAdmin], nil)
	require.Empty(t, body["items"])
	_, body = b.call(t, http.MethodGet, "/api/v1/escalations?kind=overdue", b.platform.Tokens[identity.RolePlatformAdmin], nil)
	require.Empty(t, body["items"])
	resp, _ = b.call(t, http.MethodGet, "/api/v1/escalations?kind=late", b.siteA.Tokens[identity.RoleOrgAdmin], nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, st := b.call(t, http.MethodGet, "/api/v1/stats", b.siteA.Tokens[identity.RoleOrgAdmin], nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, st)
	require.EqualValues(t, 1, st["cases_by_status"].(map[string]any)["delivered"])
	require.Len(t, st["steps"], 5)
	since, err := time.Parse(time.RFC3339, st["since"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(-7*24*time.Hour), since, time.Minute)
	resp, _ = b.call(t, http.MethodGet, "/api/v1/stats?since=yesterday", b.siteA.Tokens[identity.RoleOrgAdmin], nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func deliveryCount(t *testing.T, b *deliveryBundle, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
