package jobs

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

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/worklist"
)

// TestSignedReportReachesTheSite runs the flow from signing to
// acknowledgement with the real services and running workers: the reports
// service signs and enqueues, the deliver worker posts the rendered report
// to the site's webhook and fills the inbox, the referring physician opens
// and acknowledges it.
func TestSignedReportReachesTheSite(t *testing.T) {
	t.Parallel()
	b := setupDeliver(t)
	ctx := context.Background()
	rep := reports.NewService(b.env.Pool, b.env.Blob, b.inserter, b.worklist, delivery.NewOpener(b.env.Pool),
		reports.Options{PublicURL: "http://teleread.test"})
	b.svc = delivery.NewService(b.env.Pool, b.inserter, rep, delivery.Options{AllowPrivateWebhooks: true,
		ObserveStep: b.metrics.Observer()})

	var mu sync.Mutex
	var got [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rcv.Close)
	b.webhook(t, rcv.URL)
	b.start(t)

	_, err := b.worklist.CreateRule(ctx, b.root, worklist.NewRule{Name: "derm", Specialty: "dermatology",
		ReadingGroupID: b.readers.Org.ID, IsDefault: true})
	require.NoError(t, err)
	staff := b.site.Principals[identity.RoleSiteStaff]
	c, err := b.cases.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: b.site.Users[identity.RoleReferringPhysician].ID,
		Specialty: "dermatology", Priority: "stat", PatientName: "Flow Case", PatientBirthDate: "1970-01-01",
		PatientSex: "F", PatientMRN: "F1", ClinicalQuestion: "Melanoma?", LesionBodySite: "back"})
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, `INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key,
		stored_size, stored_sha256, uploaded_by) VALUES ($1, $2, 'photo', 'a.jpg', 'image/jpeg', 1, $3, 'k', 1, $3, $4)`,
		c.ID, c.SiteOrgID, fmt.Sprintf("%064x", 11), staff.UserID)
	require.NoError(t, err)
	_, err = b.cases.Submit(ctx, staff, c.ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var s string
		_ = b.env.Pool.QueryRow(ctx, "SELECT status FROM cases WHERE id = $1", c.ID).Scan(&s)
		return s == "routed"
	}, 10*time.Second, 20*time.Millisecond, "the route worker routes the case")
	spec := b.readers.Principals[identity.RoleSpecialist]
	_, err = b.worklist.Claim(ctx, spec, c.ID)
	require.NoError(t, err)
	_, err = rep.SaveDraft(ctx, spec, c.ID, reports.Content{Findings: "Asymmetric pigmented lesion.",
		Impression: "Suspicious for melanoma.", Critical: true}, nil)
	require.NoError(t, err)
	r, err := rep.Sign(ctx, spec, c.ID)
	require.NoError(t, err)

	b.waitFor(t, r.ID, "delivered")
	require.Eventually(t, func() bool {
		var s string
		_ = b.env.Pool.QueryRow(ctx, "SELECT status FROM cases WHERE id = $1", c.ID).Scan(&s)
		return s == "delivered"
	}, 10*time.Second, 20*time.Millisecond)
	mu.Lock()
	require.Len(t, got, 1)
	var env struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(got[0], &env))
	mu.Unlock()
	require.Equal(t, delivery.EventFinal, env.Event)
	require.Contains(t, string(env.Data), r.ID.String(), "the reports package renders the payload")

	gp := b.site.Principals[identity.RoleReferringPhysician]
	require.Eventually(t, func() bool {
		items, err := b.svc.Inbox(ctx, gp, delivery.InboxQuery{})
		return err == nil && len(items) == 1 && items[0].Critical
	}, 10*time.Second, 20*time.Millisecond)
	_, err = rep.Get(ctx, gp, r.ID)
	require.NoError(t, err)
	items, err := b.svc.Inbox(ctx, gp, delivery.InboxQuery{})
	require.NoError(t, err)
	require.NotNil(t, items[0].OpenedAt, "reading the report marks it opened")
	ack, err := b.svc.Acknowledge(ctx, gp, r.ID)
	require.NoError(t, err)
	require.Equal(t, "acknowledged", ack.CaseStatus)
	require.Equal(t, uint64(1), stepCount(t, b.registry, "signed", "delivered"))
	require.Equal(t, uint64(1), stepCount(t, b.registry, "delivered", "acknowledged"))
}
