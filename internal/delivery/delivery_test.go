package delivery_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
)

// BEGIN receiver snippet

// verifyTeleread checks a Teleread webhook request: the signature over the
// timestamp and the raw body with the webhook's secret, and a timestamp
// within five minutes of now, so that a captured request cannot be
// replayed later. Several signatures may be sent, comma-separated.
func verifyTeleread(secret string, h http.Header, body []byte, now time.Time) error {
	raw := h.Get("Teleread-Timestamp")
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return errors.New("missing or malformed Teleread-Timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("Teleread-Timestamp is more than 5 minutes away")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(raw + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Split(h.Get("Teleread-Signature"), ",") {
		if hmac.Equal([]byte(strings.TrimSpace(sig)), []byte(want)) {
			return nil
		}
	}
	return errors.New("bad Teleread-Signature")
}

// END receiver snippet

// TestReceiverSnippetIsDocumented holds docs/delivery.md to the snippet
// these tests verify signatures with.
func TestReceiverSnippetIsDocumented(t *testing.T) {
	t.Parallel()
	self, err := os.ReadFile("delivery_test.go")
	require.NoError(t, err)
	src := string(self)
	begin, end := strings.Index(src, "// BEGIN receiver snippet\n"), strings.Index(src, "// END receiver snippet")
	snippet := strings.TrimSpace(src[begin+len("// BEGIN receiver snippet\n") : end])
	doc, err := os.ReadFile("../../docs/delivery.md")
	require.NoError(t, err)
	require.Contains(t, string(doc), snippet, "docs/delivery.md must show the receiver's verification function as tested here")
}

func TestEnqueue(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	admin := b.site.Principals[identity.RoleOrgAdmin]
	on, _, err := b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{URL: "https://ehr.site.example/teleread"})
	require.NoError(t, err)
	off, _, err := b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{URL: "https://old.site.example/hook"})
	require.NoError(t, err)
	_, err = b.svc.DisableWebhook(ctx, admin, off.ID)
	require.NoError(t, err)
	_, _, err = b.svc.CreateWebhook(ctx, b.site2.Principals[identity.RoleOrgAdmin], delivery.NewWebhook{URL: "https://other.example/"})
	require.NoError(t, err)

	n := b.reported(t, b.site, "final", true)
	b.sign(t, n)
	b.sign(t, n) // signing is retried: nothing doubles
	require.Len(t, b.deliveries(t, n.ReportID, delivery.ChannelInbox), 1)
	hooks := b.deliveries(t, n.ReportID, delivery.ChannelWebhook)
	require.Len(t, hooks, 1, "one delivery per enabled webhook of the site")
	var webhookID uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT webhook_id FROM deliveries WHERE id = $1", hooks[0]).Scan(&webhookID))
	require.Equal(t, on.ID, webhookID)

	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'deliver'"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'deliver' AND args->>'delivery_id' = $1 AND max_attempts = $2",
		hooks[0].String(), delivery.WebhookMaxAttempts))
	require.Equal(t, 0, b.count(t, "SELECT count(*) FROM river_job WHERE args::text ILIKE '%pat doe%'"), "jobs carry ids only")

	require.Error(t, delivery.Enqueue(ctx, nil, b.jobs, delivery.Notice{ReportID: n.ReportID, Event: "report.signed"}))
	require.Error(t, delivery.Enqueue(ctx, nil, b.jobs, delivery.Notice{ReportID: n.ReportID, Event: delivery.EventAddendum}))
}

func TestWebhookSignedDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	rcv := newReceiver(t, nil)
	hook, secret, err := b.svc.CreateWebhook(ctx, b.site.Principals[identity.RoleOrgAdmin],
		delivery.NewWebhook{URL: rcv.srv.URL + "/teleread", Description: "EHR"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "whsec_"))
	require.Equal(t, "EHR", hook.Description)

	n := b.reported(t, b.site, "final", false)
	b.sign(t, n)
	id := b.deliveries(t, n.ReportID, delivery.ChannelWebhook)[0]
	out, err := b.svc.Deliver(ctx, id, 1, delivery.WebhookMaxAttempts)
	require.NoError(t, err)
	require.True(t, out.Delivered)
	require.True(t, out.CaseDelivered, "the first delivery of the final report delivers the case")
	require.Equal(t, "delivered", b.caseStatus(t, n.CaseID))

	got := rcv.got()
	require.Len(t, got, 1)
	req := got[0]
	require.Equal(t, "application/json", req.header.Get("Content-Type"))
	require.Equal(t, id.String(), req.header.Get("Teleread-Delivery"))
	require.Equal(t, delivery.EventFinal, req.header.Get("Teleread-Event"))
	require.NoError(t, verifyTeleread(secret, req.header, req.body, time.Now()))
	require.Error(t, verifyTeleread("whsec_wrong", req.header, req.body, time.Now()))
	require.Error(t, verifyTeleread(secret, req.header, append(req.body, ' '), time.Now()), "a changed body fails")
	require.Error(t, verifyTeleread(secret, req.header, req.body, time.Now().Add(6*time.Minute)), "a late replay fails")

	var env struct {
		DeliveryID uuid.UUID       `json:"delivery_id"`
		Event      string          `json:"event"`
		OccurredAt time.Time       `json:"occurred_at"`
		Data       json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(req.body, &env))
	require.Equal(t, id, env.DeliveryID)
	require.Equal(t, delivery.EventFinal, env.Event)
	require.WithinDuration(t, time.Now(), env.OccurredAt, time.Minute)
	require.JSONEq(t, `{"report_id":"`+n.ReportID.String()+`","event":"report.final","impression":"benign naevus"}`, string(env.Data))

	// Delivering again (a retry after a crash before the job completed) is
	// a no-op once delivered.
	out, err = b.svc.Deliver(ctx, id, 2, delivery.WebhookMaxAttempts)
	require.NoError(t, err)
	require.True(t, out.Delivered)
	require.Len(t, rcv.got(), 1)

	// The inbox delivery comes second: the case has already moved.
	out = b.deliverInbox(t, n.ReportID)
	require.False(t, out.CaseDelivered)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM case_events WHERE case_id = $1 AND to_status = 'delivered'", n.CaseID))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'delivered'", n.CaseID))
	require.Equal(t, 2, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.deliver' AND object_id = $1", n.ReportID.String()))
}

func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	admin := b.site.Principals[identity.RoleOrgAdmin]
	rcv := newReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	redirect := newReceiver(t, func(int) int { return http.StatusFound })
	for _, url := range []string{rcv.srv.URL, redirect.srv.URL} {
		_, _, err := b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{URL: url})
		require.NoError(t, err)
	}
	n := b.reported(t, b.site, "final", false)
	b.sign(t, n)
	for _, id := range b.deliveries(t, n.ReportID, delivery.ChannelWebhook) {
		out, err := b.svc.Deliver(ctx, id, 1, 2)
		require.Error(t, err, "a failed attempt is an error for River to retry")
		require.False(t, out.Dead)
		out, err = b.svc.Deliver(ctx, id, 2, 2)
		require.Error(t, err)
		require.True(t, out.Dead, "the last failed attempt dead-letters the delivery")
	}
	require.Equal(t, "reported", b.caseStatus(t, n.CaseID))

	rd, err := b.svc.ReportDeliveries(ctx, admin, n.ReportID)
	require.NoError(t, err)
	require.Len(t, rd.Deliveries, 3)
	codes := map[int]bool{}
	for _, d := range rd.Deliveries {
		if d.Channel != delivery.ChannelWebhook {
			require.Equal(t, "queued", d.Status)
			continue
		}
		require.Equal(t, "dead", d.Status)
		require.Equal(t, 2, d.Attempts)
		require.Len(t, d.History, 2)
		require.NotNil(t, d.History[0].StatusCode)
		codes[*d.History[0].StatusCode] = true
		require.Contains(t, d.LastError, "receiver answered")
	}
	require.Equal(t, map[int]bool{503: true, 302: true}, codes, "redirects are not followed")
	dead, err := b.svc.DeadLetters(ctx, admin, nil, 10)
	require.NoError(t, err)
	require.Len(t, dead, 2)
	none, err := b.svc.DeadLetters(ctx, b.site2.Principals[identity.RoleOrgAdmin], nil, 10)
	require.NoError(t, err)
	require.Empty(t, none)
	_, err = b.svc.Replay(ctx, b.site2.Principals[identity.RoleOrgAdmin], dead[0].ID)
	require.True(t, apperr.Is(err, apperr.NotFound), "another site's admin: %v", err)
	_, err = b.svc.ReportDeliveries(ctx, b.site2.Principals[identity.RoleOrgAdmin], n.ReportID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	_, err = b.svc.ReportDeliveries(ctx, b.readers.Principals[identity.RoleOrgAdmin], n.ReportID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	_, err = b.svc.Replay(ctx, admin, b.deliveries(t, n.ReportID, delivery.ChannelInbox)[0])
	require.True(t, apperr.Is(err, apperr.Conflict), "only dead deliveries are replayed")
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{denyPrivate: true})
	ctx := context.Background()
	admin := b.site.Principals[identity.RoleOrgAdmin]

	for name, url := range map[string]string{
		"NotHTTP":     "ftp://ehr.example/x",
		"Relative":    "/teleread",
		"Credentials": "https://user:pw@ehr.example/x",
		"Loopback":    "http://127.0.0.1:8080/x",
		"Localhost":   "http://localhost/x",
		"Private":     "https://10.1.2.3/x",
		"IPv6":        "http://[::1]/x",
		"Metadata":    "http://169.254.169.254/latest",
		"MappedIPv6":  "http://[::ffff:192.168.0.1]/x",
	} {
		_, _, err := b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{URL: url})
		e, ok := apperr.As(err)
		require.True(t, ok, name)
		require.Contains(t, e.Fields, "url", name)
	}
	_, _, err := b.svc.CreateWebhook(ctx, b.root, delivery.NewWebhook{URL: "https://93.184.215.14/x"})
	require.Contains(t, err.(*apperr.Error).Fields, "org_id", "platform admins name the site")
	_, _, err = b.svc.CreateWebhook(ctx, b.root, delivery.NewWebhook{OrgID: &b.readers.Org.ID, URL: "https://93.184.215.14/x"})
	require.Contains(t, err.(*apperr.Error).Fields, "org_id", "webhooks belong to sites")
	_, _, err = b.svc.CreateWebhook(ctx, b.readers.Principals[identity.RoleOrgAdmin], delivery.NewWebhook{URL: "https://93.184.215.14/x"})
	require.True(t, apperr.Is(err, apperr.Forbidden))
	_, _, err = b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{OrgID: &b.site2.Org.ID, URL: "https://93.184.215.14/x"})
	require.True(t, apperr.Is(err, apperr.NotFound))

	hook, secret, err := b.svc.CreateWebhook(ctx, b.root, delivery.NewWebhook{OrgID: &b.site.Org.ID, URL: "https://93.184.215.14/x"})
	require.NoError(t, err)
	require.NotEmpty(t, secret)
	list, err := b.svc.ListWebhooks(ctx, admin, nil)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, hook.ID, list[0].ID)
	list, err = b.svc.ListWebhooks(ctx, b.site2.Principals[identity.RoleOrgAdmin], nil)
	require.NoError(t, err)
	require.Empty(t, list)
	_, err = b.svc.DisableWebhook(ctx, b.site2.Principals[identity.RoleOrgAdmin], hook.ID)
	require.True(t, apperr.Is(err, apperr.NotFound))
	for range 2 {
		w, err := b.svc.DisableWebhook(ctx, admin, hook.ID)
		require.NoError(t, err, "disabling is idempotent")
		require.NotNil(t, w.DisabledAt)
	}
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'webhook.create'"))

	// A host that pointed somewhere public when the webhook was made, and
	// at the internal network now, is refused when connecting.
	rcv := newReceiver(t, nil)
	var rebound uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, `INSERT INTO webhooks (org_id, url, secret) VALUES ($1, $2, 'whsec_x')
		RETURNING id`, b.site.Org.ID, rcv.srv.URL).Scan(&rebound))
	n := b.reported(t, b.site, "final", false)
	b.sign(t, n)
	ids := b.deliveries(t, n.ReportID, delivery.ChannelWebhook)
	require.Len(t, ids, 1)
	_, err = b.svc.Deliver(ctx, ids[0], 1, 12)
	require.ErrorContains(t, err, "not a public address")
	require.Empty(t, rcv.got())

	// A webhook disabled after signing dead-letters its queued delivery.
	_, err = b.svc.DisableWebhook(ctx, b.root, rebound)
	require.NoError(t, err)
	out, err := b.svc.Deliver(ctx, ids[0], 2, 12)
	require.NoError(t, err)
	require.True(t, out.Dead)
}

func TestInbox(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	gp := b.site.Principals[identity.RoleReferringPhysician]
	older := b.delivered(t, b.site, "final", false)
	critical := b.delivered(t, b.site, "final", true)
	newest := b.delivered(t, b.site, "final", false)
	undelivered := b.reported(t, b.site, "final", true)
	b.sign(t, undelivered)
	other := b.delivered(t, b.site2, "final", true)

	require.NoError(t, b.svc.MarkOpened(ctx, gp, older.ReportID))
	require.NoError(t, b.svc.MarkOpened(ctx, gp, older.ReportID))
	require.NoError(t, b.svc.MarkOpened(ctx, b.site.Principals[identity.RoleSiteStaff], newest.ReportID), "others' views are not recorded")
	require.NoError(t, b.svc.MarkOpened(ctx, b.site2.Principals[identity.RoleReferringPhysician], critical.ReportID))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM case_events WHERE kind = 'report_opened'"))

	ids := func(items []delivery.InboxItem) []uuid.UUID {
		out := make([]uuid.UUID, len(items))
		for i, it := range items {
			out[i] = it.ReportID
		}
		return out
	}
	for _, role := range []identity.Role{identity.RoleReferringPhysician, identity.RoleSiteStaff, identity.RoleOrgAdmin} {
		items, err := b.svc.Inbox(ctx, b.site.Principals[role], delivery.InboxQuery{})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{critical.ReportID, newest.ReportID, older.ReportID}, ids(items),
			"%s: unread first, critical first, then newest; never another site's or an undelivered report", role)
		require.True(t, items[0].Critical)
		require.True(t, items[1].Unread)
		require.False(t, items[2].Unread)
		require.NotNil(t, items[2].OpenedAt)
		require.Nil(t, items[1].OpenedAt)
		require.Equal(t, "final", items[0].Status)
		require.NotEmpty(t, items[0].PatientName)
	}
	unread, err := b.svc.Inbox(ctx, gp, delivery.InboxQuery{UnreadOnly: true})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{critical.ReportID, newest.ReportID}, ids(unread))

	items, err := b.svc.Inbox(ctx, b.site2.Principals[identity.RoleSiteStaff], delivery.InboxQuery{})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{other.ReportID}, ids(items))

	// Another referring physician of the same site sees only their own.
	colleague, err := b.fx.Service.CreateUser(ctx, b.root, identity.NewUser{OrgID: b.site.Org.ID,
		Email: "gp2@site.example", Name: "GP Two", Roles: []identity.Role{identity.RoleReferringPhysician}})
	require.NoError(t, err)
	cp := *gp
	cp.UserID = colleague.ID
	items, err = b.svc.Inbox(ctx, &cp, delivery.InboxQuery{})
	require.NoError(t, err)
	require.Empty(t, items)

	require.Equal(t, 4, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'inbox.view' AND actor_org_id = $1", b.site.Org.ID))
}

func TestAcknowledge(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	gp := b.site.Principals[identity.RoleReferringPhysician]

	n := b.reported(t, b.site, "final", true)
	b.sign(t, n)
	_, err := b.svc.Acknowledge(ctx, gp, n.ReportID)
	require.True(t, apperr.Is(err, apperr.NotFound), "not delivered yet")
	b.deliverInbox(t, n.ReportID)
	require.Equal(t, "delivered", b.caseStatus(t, n.CaseID))

	for name, p := range map[string]*identity.Principal{
		"SiteStaff":      b.site.Principals[identity.RoleSiteStaff],
		"OtherSitesGP":   b.site2.Principals[identity.RoleReferringPhysician],
		"Specialist":     b.readers.Principals[identity.RoleSpecialist],
		"PlatformAdmin":  b.root,
		"OtherSiteAdmin": b.site2.Principals[identity.RoleOrgAdmin],
	} {
		_, err := b.svc.Acknowledge(ctx, p, n.ReportID)
		require.True(t, apperr.Is(err, apperr.NotFound), name)
	}
	ack, err := b.svc.Acknowledge(ctx, gp, n.ReportID)
	require.NoError(t, err)
	require.Equal(t, "acknowledged", ack.CaseStatus)
	require.Equal(t, gp.UserID, ack.By)
	require.Equal(t, "final", ack.ReportStatus)
	again, err := b.svc.Acknowledge(ctx, gp, n.ReportID)
	require.NoError(t, err, "acknowledging twice is harmless")
	require.Equal(t, ack.At, again.At)
	require.Equal(t, "acknowledged", b.caseStatus(t, n.CaseID))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM case_events WHERE case_id = $1 AND to_status = 'acknowledged'", n.CaseID))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.acknowledge'"))
	require.Len(t, b.observed["delivered→acknowledged"], 1)
	items, err := b.svc.Inbox(ctx, gp, delivery.InboxQuery{})
	require.NoError(t, err)
	require.NotNil(t, items[0].AcknowledgedAt)

	t.Run("Preliminary", func(t *testing.T) {
		n := b.reported(t, b.site, "preliminary", true)
		b.sign(t, n)
		b.deliverInbox(t, n.ReportID)
		require.Equal(t, "routed", b.caseStatus(t, n.CaseID), "a preliminary report does not deliver the case")
		ack, err := b.svc.Acknowledge(ctx, gp, n.ReportID)
		require.NoError(t, err)
		require.Equal(t, "preliminary", ack.ReportStatus)
		require.Equal(t, "routed", ack.CaseStatus, "acknowledging a preliminary report leaves the case where it is")

		// The final report arrives; it is acknowledged on its own.
		_, err = b.env.Pool.Exec(ctx, "UPDATE cases SET status = 'reported' WHERE id = $1", n.CaseID)
		require.NoError(t, err)
		n.Event = delivery.EventFinal
		b.sign(t, n)
		require.True(t, b.deliverInbox(t, n.ReportID).CaseDelivered)
		items, err := b.svc.Inbox(ctx, gp, delivery.InboxQuery{UnreadOnly: true})
		require.NoError(t, err)
		require.Equal(t, n.ReportID, items[0].ReportID)
		require.Equal(t, "final", items[0].Status)
		require.Nil(t, items[0].AcknowledgedAt, "the final report is not acknowledged yet")
		ack, err = b.svc.Acknowledge(ctx, gp, n.ReportID)
		require.NoError(t, err)
		require.Equal(t, "acknowledged", ack.CaseStatus)
	})
}

func TestAddendumMakesUnread(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	gp := b.site.Principals[identity.RoleReferringPhysician]
	n := b.delivered(t, b.site, "final", false)
	require.NoError(t, b.svc.MarkOpened(ctx, gp, n.ReportID))
	var addendum uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, `INSERT INTO report_addenda (report_id, text, signer_id, signer_name, signed_at, sha256)
		VALUES ($1, 'also', $2, 'Dr', now(), $3) RETURNING id`, n.ReportID, b.readers.Users[identity.RoleSpecialist].ID,
		strings.Repeat("ab", 32)).Scan(&addendum))
	n.Event, n.AddendumID = delivery.EventAddendum, &addendum
	b.sign(t, n)
	b.deliverInbox(t, n.ReportID)
	items, err := b.svc.Inbox(ctx, gp, delivery.InboxQuery{})
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.True(t, items[0].Unread, "an addendum makes the report unread again")
	require.Equal(t, delivery.EventAddendum, items[0].LastEvent)
	require.Equal(t, "final", items[0].Status)
	require.Equal(t, "delivered", b.caseStatus(t, n.CaseID))
}

// TestWebhookErrorsRedacted: a webhook URL's query token and credentials
// reach neither the attempt records, nor the error River logs and keeps,
// nor the audit log.
func TestWebhookErrorsRedacted(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	admin := b.site.Principals[identity.RoleOrgAdmin]
	// Nothing listens on port 1: the attempt fails with net/http's error,
	// which quotes the URL.
	_, _, err := b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{URL: "http://127.0.0.1:1/hook?token=s3cret&site=a"})
	require.NoError(t, err)
	n := b.reported(t, b.site, "final", false)
	b.sign(t, n)
	ids := b.deliveries(t, n.ReportID, delivery.ChannelWebhook)
	require.Len(t, ids, 1)
	out, err := b.svc.Deliver(ctx, ids[0], 1, 1)
	require.Error(t, err)
	require.True(t, out.Dead)
	require.NotContains(t, err.Error(), "s3cret")
	require.Contains(t, err.Error(), "http://127.0.0.1:1/hook?token=REDACTED&site=REDACTED")

	rd, err := b.svc.ReportDeliveries(ctx, admin, n.ReportID)
	require.NoError(t, err)
	var hooks int
	for _, d := range rd.Deliveries {
		if d.Channel != delivery.ChannelWebhook {
			continue
		}
		hooks++
		require.Contains(t, d.LastError, "token=REDACTED")
		require.NotContains(t, d.LastError, "s3cret")
		require.Len(t, d.History, 1)
		require.Contains(t, d.History[0].Error, "token=REDACTED")
	}
	require.Equal(t, 1, hooks)
	require.Zero(t, b.count(t, "SELECT count(*) FROM delivery_attempts WHERE error LIKE '%s3cret%'"))
	require.Zero(t, b.count(t, "SELECT count(*) FROM deliveries WHERE last_error LIKE '%s3cret%'"))
	require.Zero(t, b.count(t, "SELECT count(*) FROM audit_events WHERE details::text LIKE '%s3cret%'"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'webhook.create' AND details->>'url' = $1",
		"http://127.0.0.1:1/hook?token=REDACTED&site=REDACTED"))
}

// TestOpener: the Opener that reports receives needs only the database,
// and records only the case's own referring physician's first view.
func TestOpener(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	opener := delivery.NewOpener(b.env.Pool)
	gp := b.site.Principals[identity.RoleReferringPhysician]
	n := b.delivered(t, b.site, "final", false)

	require.NoError(t, opener.MarkOpened(ctx, b.site2.Principals[identity.RoleReferringPhysician], n.ReportID),
		"another site's physician: a no-op")
	require.NoError(t, opener.MarkOpened(ctx, nil, n.ReportID))
	require.Zero(t, b.count(t, "SELECT count(*) FROM inbox_items WHERE opened_at IS NOT NULL"))
	for range 2 {
		require.NoError(t, opener.MarkOpened(ctx, gp, n.ReportID))
	}
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM inbox_items WHERE report_id = $1 AND opened_at IS NOT NULL", n.ReportID))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM case_events WHERE kind = 'report_opened' AND case_id = $1", n.CaseID))
}
