package delivery

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/delivery/deliverydb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// The states of a delivery as admins look for them: a queued delivery is
// pending until an attempt fails, then failed (and retried) until it is
// delivered or dead-lettered.
const (
	StateDelivered = "delivered"
	StatePending   = "pending"
	StateFailed    = "failed"
	StateDead      = "dead"
)

// States lists the states a webhook's deliveries are filtered by.
var States = []string{StateDelivered, StatePending, StateFailed, StateDead}

// State is the delivery's state: its status, with queued told apart as
// pending or failed by its last error (the query DeliveriesOfWebhook
// filters by the same rule).
func (d Delivery) State() string {
	switch {
	case d.Status != "queued":
		return d.Status
	case d.LastError == "":
		return StatePending
	default:
		return StateFailed
	}
}

// DeliveryCursor is where a page of a webhook's deliveries ends: the
// creation time and id of its last (oldest) row.
type DeliveryCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// String encodes the cursor for a URL: the creation time in unix
// microseconds (PostgreSQL's precision), a dot and the id.
func (c DeliveryCursor) String() string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID.String()
}

// ParseDeliveryCursor decodes what DeliveryCursor.String made.
func ParseDeliveryCursor(s string) (DeliveryCursor, error) {
	bad := apperr.InvalidFields(map[string]string{"before": "is not a position in the list"})
	us, id, ok := strings.Cut(s, ".")
	if !ok {
		return DeliveryCursor{}, bad
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return DeliveryCursor{}, bad
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return DeliveryCursor{}, bad
	}
	return DeliveryCursor{CreatedAt: time.UnixMicro(n), ID: u}, nil
}

// WebhookDeliveryQuery filters and pages a webhook's deliveries.
type WebhookDeliveryQuery struct {
	// Status is one of States, or empty for every delivery.
	Status string
	// Before continues the list after a page: that page's Next.
	Before *DeliveryCursor
	// Limit is the page size: 50 when zero, at most 200.
	Limit int
}

// WebhookDeliveries is a webhook with a page of its deliveries.
type WebhookDeliveries struct {
	Webhook Webhook
	// Deliveries are newest first.
	Deliveries []Delivery
	// Next is the cursor of the following, older page; nil on the last.
	Next *DeliveryCursor
}

// WebhookDeliveries returns a webhook and its deliveries, newest first,
// each with the answer of its latest attempt. Admins of the webhook's site
// and platform admins only; others, and anyone for another site's webhook,
// get NotFound. Like ReportDeliveries it is not audited: it shows report
// ids and how the receiver answered, no patient.
func (s *Service) WebhookDeliveries(ctx context.Context, p *identity.Principal, webhookID uuid.UUID, q WebhookDeliveryQuery) (WebhookDeliveries, error) {
	var out WebhookDeliveries
	if !p.IsPlatformAdmin() && (p.OrgKind != identity.OrgSite || !p.Has(identity.RoleOrgAdmin)) {
		return out, apperr.New(apperr.NotFound, "webhook not found")
	}
	if q.Status != "" && !slices.Contains(States, q.Status) {
		return out, apperr.InvalidFields(map[string]string{"status": "must be one of " + strings.Join(States, ", ")})
	}
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	w, err := s.q.WebhookGet(ctx, s.pool, deliverydb.WebhookGetParams{ID: webhookID, Platform: p.IsPlatformAdmin(),
		OrgID: p.OrgID})
	if err != nil {
		return out, fmt.Errorf("webhook %s: %w", webhookID, postgres.Translate(err, "webhook"))
	}
	out.Webhook = toWebhook(w)
	arg := deliverydb.DeliveriesOfWebhookParams{WebhookID: &webhookID, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID,
		Lim: int32(q.Limit + 1)}
	if q.Status != "" {
		arg.State = &q.Status
	}
	if q.Before != nil {
		arg.BeforeCreatedAt, arg.BeforeID = &q.Before.CreatedAt, &q.Before.ID
	}
	rows, err := s.q.DeliveriesOfWebhook(ctx, s.pool, arg)
	if err != nil {
		return out, fmt.Errorf("webhook %s deliveries: %w", webhookID, err)
	}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		last := rows[len(rows)-1]
		out.Next = &DeliveryCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	out.Deliveries = make([]Delivery, len(rows))
	for i, r := range rows {
		d := toDelivery(deliverydb.Delivery{ID: r.ID, ReportID: r.ReportID, CaseID: r.CaseID, SiteOrgID: r.SiteOrgID,
			Event: r.Event, AddendumID: r.AddendumID, Critical: r.Critical, Channel: r.Channel, WebhookID: r.WebhookID,
			Status: r.Status, Attempts: r.Attempts, LastError: r.LastError, CreatedAt: r.CreatedAt,
			DeliveredAt: r.DeliveredAt, DeadAt: r.DeadAt, Replays: r.Replays}, &w.Url)
		if r.LastStatusCode != nil {
			c := int(*r.LastStatusCode)
			d.LastStatusCode = &c
		}
		d.LastAttemptAt = r.LastAttemptAt
		out.Deliveries[i] = d
	}
	return out, nil
}
