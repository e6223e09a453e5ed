package delivery_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
)

func TestWebhookDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	admin := b.site.Principals[identity.RoleOrgAdmin]
	var answer atomic.Int32
	rcv := newReceiver(t, func(int) int { return int(answer.Load()) })
	hook, _, err := b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{URL: rcv.srv.URL + "/ehr", Description: "EHR"})
	require.NoError(t, err)
	// A second webhook of the site gets a delivery of every report too;
	// they are not the first one's.
	_, _, err = b.svc.CreateWebhook(ctx, admin, delivery.NewWebhook{URL: rcv.srv.URL + "/archive"})
	require.NoError(t, err)
	otherHook, _, err := b.svc.CreateWebhook(ctx, b.site2.Principals[identity.RoleOrgAdmin],
		delivery.NewWebhook{URL: rcv.srv.URL + "/site-two"})
	require.NoError(t, err)

	// Five reports, oldest first, each left in a state by one attempt at
	// its delivery to hook (status is the receiver's answer; max the
	// attempts allowed).
	type step struct {
		status, max int
		critical    bool
	}
	steps := []step{
		{status: http.StatusOK, max: 12},                 // delivered
		{status: http.StatusServiceUnavailable, max: 12}, // failed, retried
		{status: http.StatusBadGateway, max: 1},          // dead
		{},                                               // pending: never tried
		{status: http.StatusOK, max: 12, critical: true}, // delivered
	}
	reports := make([]uuid.UUID, len(steps))
	deliveryOf := map[uuid.UUID]uuid.UUID{}
	for i, s := range steps {
		n := b.reported(t, b.site, "final", s.critical)
		b.sign(t, n)
		reports[i] = n.ReportID
		var id uuid.UUID
		require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT id FROM deliveries WHERE report_id = $1 AND webhook_id = $2",
			n.ReportID, hook.ID).Scan(&id))
		deliveryOf[n.ReportID] = id
		if s.status == 0 {
			continue
		}
		answer.Store(int32(s.status))
		_, err := b.svc.Deliver(ctx, id, 1, s.max)
		if s.status != http.StatusOK {
			require.Error(t, err)
		}
	}
	other := b.reported(t, b.site2, "final", false)
	b.sign(t, other)

	reportsOf := func(ds []delivery.Delivery) []uuid.UUID {
		out := make([]uuid.UUID, len(ds))
		for i, d := range ds {
			out[i] = d.ReportID
		}
		return out
	}
	newestFirst := []uuid.UUID{reports[4], reports[3], reports[2], reports[1], reports[0]}

	t.Run("All", func(t *testing.T) {
		wd, err := b.svc.WebhookDeliveries(ctx, admin, hook.ID, delivery.WebhookDeliveryQuery{})
		require.NoError(t, err)
		require.Equal(t, hook.ID, wd.Webhook.ID)
		require.Equal(t, rcv.srv.URL+"/ehr", wd.Webhook.URL)
		require.Equal(t, "EHR", wd.Webhook.Description)
		require.Nil(t, wd.Next)
		require.Equal(t, newestFirst, reportsOf(wd.Deliveries), "newest first, and only this webhook's")

		byReport := map[uuid.UUID]delivery.Delivery{}
		for _, d := range wd.Deliveries {
			require.Equal(t, &hook.ID, d.WebhookID)
			require.Equal(t, hook.URL, d.WebhookURL)
			require.Equal(t, delivery.EventFinal, d.Event)
			require.Equal(t, deliveryOf[d.ReportID], d.ID)
			byReport[d.ReportID] = d
		}
		code := func(c int) *int { return &c }
		for i, want := range []struct {
			state    string
			attempts int
			code     *int
		}{
			{delivery.StateDelivered, 1, code(200)},
			{delivery.StateFailed, 1, code(503)},
			{delivery.StateDead, 1, code(502)},
			{delivery.StatePending, 0, nil},
			{delivery.StateDelivered, 1, code(200)},
		} {
			d := byReport[reports[i]]
			require.Equal(t, want.state, d.State(), "report %d", i)
			require.Equal(t, want.attempts, d.Attempts, "report %d", i)
			require.Equal(t, want.code, d.LastStatusCode, "report %d", i)
			require.Equal(t, want.code == nil, d.LastAttemptAt == nil, "report %d", i)
			require.Equal(t, i == 4, d.Critical, "report %d", i)
		}
		require.NotNil(t, byReport[reports[0]].DeliveredAt)
		require.NotNil(t, byReport[reports[2]].DeadAt)
		require.Contains(t, byReport[reports[1]].LastError, "receiver answered")
	})

	t.Run("Filter", func(t *testing.T) {
		for state, want := range map[string][]uuid.UUID{
			delivery.StateDelivered: {reports[4], reports[0]},
			delivery.StatePending:   {reports[3]},
			delivery.StateFailed:    {reports[1]},
			delivery.StateDead:      {reports[2]},
		} {
			wd, err := b.svc.WebhookDeliveries(ctx, admin, hook.ID, delivery.WebhookDeliveryQuery{Status: state})
			require.NoError(t, err, state)
			require.Equal(t, want, reportsOf(wd.Deliveries), state)
			for _, d := range wd.Deliveries {
				require.Equal(t, state, d.State(), "the query and State agree")
			}
		}
		_, err := b.svc.WebhookDeliveries(ctx, admin, hook.ID, delivery.WebhookDeliveryQuery{Status: "queued"})
		e, ok := apperr.As(err)
		require.True(t, ok, "%v", err)
		require.Equal(t, apperr.Invalid, e.Code)
		require.Contains(t, e.Fields, "status")
	})

	t.Run("Paging", func(t *testing.T) {
		var got []uuid.UUID
		var before *delivery.DeliveryCursor
		pages := 0
		for {
			wd, err := b.svc.WebhookDeliveries(ctx, admin, hook.ID, delivery.WebhookDeliveryQuery{Limit: 2, Before: before})
			require.NoError(t, err)
			require.LessOrEqual(t, len(wd.Deliveries), 2)
			got = append(got, reportsOf(wd.Deliveries)...)
			pages++
			if wd.Next == nil {
				break
			}
			// The cursor goes through a URL.
			c, err := delivery.ParseDeliveryCursor(wd.Next.String())
			require.NoError(t, err)
			require.True(t, c.CreatedAt.Equal(wd.Next.CreatedAt))
			require.Equal(t, wd.Next.ID, c.ID)
			before = &c
		}
		require.Equal(t, 3, pages)
		require.Equal(t, newestFirst, got, "every delivery once, in order")

		wd, err := b.svc.WebhookDeliveries(ctx, admin, hook.ID, delivery.WebhookDeliveryQuery{Status: delivery.StateDelivered, Limit: 1})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{reports[4]}, reportsOf(wd.Deliveries))
		require.NotNil(t, wd.Next)
		wd, err = b.svc.WebhookDeliveries(ctx, admin, hook.ID, delivery.WebhookDeliveryQuery{Status: delivery.StateDelivered,
			Limit: 1, Before: wd.Next})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{reports[0]}, reportsOf(wd.Deliveries))
		require.Nil(t, wd.Next, "the filter holds across pages")

		for _, bad := range []string{"", "x", "12.not-a-uuid", "soon." + uuid.NewString()} {
			_, err := delivery.ParseDeliveryCursor(bad)
			require.True(t, apperr.Is(err, apperr.Invalid), bad)
		}
	})

	t.Run("Replayed", func(t *testing.T) {
		_, err := b.svc.Replay(ctx, admin, deliveryOf[reports[2]])
		require.NoError(t, err)
		wd, err := b.svc.WebhookDeliveries(ctx, admin, hook.ID, delivery.WebhookDeliveryQuery{Status: delivery.StateFailed})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{reports[2], reports[1]}, reportsOf(wd.Deliveries),
			"a replayed delivery is queued with its last error until it is tried again")
		require.Equal(t, 1, wd.Deliveries[0].Replays)
	})

	t.Run("Tenancy", func(t *testing.T) {
		for name, p := range map[string]*identity.Principal{
			"OtherSiteAdmin":    b.site2.Principals[identity.RoleOrgAdmin],
			"ReadingGroupAdmin": b.readers.Principals[identity.RoleOrgAdmin],
			"SiteStaff":         b.site.Principals[identity.RoleSiteStaff],
			"ReferringGP":       b.site.Principals[identity.RoleReferringPhysician],
		} {
			_, err := b.svc.WebhookDeliveries(ctx, p, hook.ID, delivery.WebhookDeliveryQuery{})
			require.True(t, apperr.Is(err, apperr.NotFound), "%s: %v", name, err)
		}
		_, err := b.svc.WebhookDeliveries(ctx, admin, otherHook.ID, delivery.WebhookDeliveryQuery{})
		require.True(t, apperr.Is(err, apperr.NotFound), "another site's webhook: %v", err)
		_, err = b.svc.WebhookDeliveries(ctx, admin, uuid.New(), delivery.WebhookDeliveryQuery{})
		require.True(t, apperr.Is(err, apperr.NotFound), "no such webhook: %v", err)

		wd, err := b.svc.WebhookDeliveries(ctx, b.root, hook.ID, delivery.WebhookDeliveryQuery{})
		require.NoError(t, err, "platform admins see every site's")
		require.Len(t, wd.Deliveries, len(steps))
		wd, err = b.svc.WebhookDeliveries(ctx, b.root, otherHook.ID, delivery.WebhookDeliveryQuery{})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{other.ReportID}, reportsOf(wd.Deliveries))
		require.Equal(t, delivery.StatePending, wd.Deliveries[0].State())
	})
}
