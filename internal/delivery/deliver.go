package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery/deliverydb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// WebhookMaxAttempts is how many times a webhook delivery is tried before it
// is dead-lettered; with River's back-off (attempt⁴ seconds) the last try is
// about 11 hours after the first.
const WebhookMaxAttempts = 12

// DeliverArgs is the River job that makes one delivery. It carries the
// delivery id only, never report content.
type DeliverArgs struct {
	DeliveryID uuid.UUID `json:"delivery_id"`
}

// Kind names the job.
func (DeliverArgs) Kind() string { return "deliver" }

// insertOpts gives webhook deliveries their own attempt budget; inbox
// deliveries only fail when the database does, and keep River's default.
func insertOpts(channel string) *river.InsertOpts {
	if channel == ChannelWebhook {
		return &river.InsertOpts{MaxAttempts: WebhookMaxAttempts}
	}
	return nil
}

func enqueue(ctx context.Context, tx pgx.Tx, jobs cases.JobInserter, n Notice) error {
	switch n.Event {
	case EventPreliminary, EventFinal:
		if n.AddendumID != nil {
			return fmt.Errorf("deliver report %s: %s takes no addendum id", n.ReportID, n.Event)
		}
	case EventAddendum:
		if n.AddendumID == nil {
			return fmt.Errorf("deliver report %s: %s needs an addendum id", n.ReportID, n.Event)
		}
	default:
		return fmt.Errorf("deliver report %s: unknown event %q", n.ReportID, n.Event)
	}
	q := deliverydb.New()
	hooks, err := q.WebhooksEnabled(ctx, tx, n.SiteOrgID)
	if err != nil {
		return fmt.Errorf("site webhooks: %w", err)
	}
	type target struct {
		channel string
		webhook *uuid.UUID
	}
	targets := []target{{channel: ChannelInbox}}
	for _, h := range hooks {
		targets = append(targets, target{channel: ChannelWebhook, webhook: &h.ID})
	}
	for _, t := range targets {
		id, err := q.DeliveryInsert(ctx, tx, deliverydb.DeliveryInsertParams{ReportID: n.ReportID, CaseID: n.CaseID,
			SiteOrgID: n.SiteOrgID, Event: n.Event, AddendumID: n.AddendumID, Critical: n.Critical,
			Channel: t.channel, WebhookID: t.webhook})
		if errors.Is(err, pgx.ErrNoRows) {
			continue // recorded (and enqueued) before
		}
		if err != nil {
			return fmt.Errorf("record delivery: %w", postgres.Translate(err, "delivery"))
		}
		if _, err := jobs.InsertTx(ctx, tx, DeliverArgs{DeliveryID: id}, insertOpts(t.channel)); err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", id, err)
		}
	}
	return nil
}

// Outcome is what one run of a delivery job did.
type Outcome struct {
	// Delivered is set when the delivery is delivered (now or before).
	Delivered bool
	// CaseDelivered is set when this delivery moved the case from reported
	// to delivered; SignedToDelivered is then the time since signing.
	CaseDelivered     bool
	SignedToDelivered time.Duration
	// Dead is set when the delivery was dead-lettered by this run.
	Dead bool
}

// Deliver makes one attempt at a delivery: attempt and maxAttempts are the
// River job's, so that the last failed attempt dead-letters the delivery. A
// failed attempt returns an error for River to retry; every attempt is
// recorded. Delivering a delivered delivery is a no-op.
func (s *Service) Deliver(ctx context.Context, id uuid.UUID, attempt, maxAttempts int) (Outcome, error) {
	d, err := s.q.DeliveryGet(ctx, s.pool, id)
	if err != nil {
		return Outcome{}, fmt.Errorf("load delivery %s: %w", id, postgres.Translate(err, "delivery"))
	}
	if d.Status == "delivered" {
		return Outcome{Delivered: true}, nil
	}
	if d.Channel == ChannelInbox {
		return s.deliverInbox(ctx, d)
	}
	if d.WebhookDisabledAt != nil {
		// The site turned the webhook off after the report was signed.
		var out Outcome
		err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := s.q.DeliveryAttempt(ctx, tx, deliverydb.DeliveryAttemptParams{ID: id, Error: "webhook disabled"}); err != nil {
				return fmt.Errorf("record attempt: %w", err)
			}
			out.Dead = true
			return s.q.DeliverySetDead(ctx, tx, id)
		})
		return out, err
	}

	start := time.Now()
	code, postErr := s.post(ctx, d)
	elapsed := time.Since(start)
	// The attempt is recorded even when the worker is being stopped.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var out Outcome
	err = postgres.InTx(rctx, s.pool, func(tx pgx.Tx) error {
		errText := ""
		if postErr != nil {
			errText = truncate(postErr.Error(), 500)
		}
		if _, err := s.q.DeliveryAttempt(rctx, tx, deliverydb.DeliveryAttemptParams{ID: id,
			DurationMs: int32(elapsed.Milliseconds()), StatusCode: code, Error: errText}); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		if postErr == nil {
			var err error
			out, err = s.delivered(rctx, tx, d.ID)
			return err
		}
		if attempt >= maxAttempts {
			out.Dead = true
			return s.q.DeliverySetDead(rctx, tx, id)
		}
		return nil
	})
	if err != nil {
		return Outcome{}, err
	}
	if postErr != nil {
		return out, fmt.Errorf("webhook delivery %s attempt %d/%d: %w", id, attempt, maxAttempts, postErr)
	}
	return out, nil
}

// deliverInbox makes the report visible in the referring physician's inbox.
func (s *Service) deliverInbox(ctx context.Context, d deliverydb.DeliveryGetRow) (Outcome, error) {
	var out Outcome
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		locked, err := s.q.DeliveryLock(ctx, tx, d.ID)
		if err != nil {
			return fmt.Errorf("lock delivery %s: %w", d.ID, err)
		}
		if locked.Status == "delivered" {
			out.Delivered = true
			return nil
		}
		c, err := cases.Lock(ctx, tx, cases.SiteScope(d.SiteOrgID), d.CaseID)
		if err != nil {
			return fmt.Errorf("lock case %s: %w", d.CaseID, err)
		}
		status := reportStatusOf(d.Event)
		if d.Event == EventAddendum {
			if rs, err := s.q.ReportStatus(ctx, tx, d.ReportID); err == nil && rs == "preliminary" {
				status = rs
			}
		}
		if _, err := s.q.InboxUpsert(ctx, tx, deliverydb.InboxUpsertParams{ReportID: d.ReportID, CaseID: d.CaseID,
			SiteOrgID: d.SiteOrgID, ReferringPhysicianID: c.ReferringPhysicianID, Status: status,
			Critical: d.Critical, LastEvent: d.Event}); err != nil {
			return fmt.Errorf("inbox item: %w", err)
		}
		if _, err := s.q.DeliveryAttempt(ctx, tx, deliverydb.DeliveryAttemptParams{ID: d.ID}); err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}
		out, err = s.delivered(ctx, tx, d.ID)
		return err
	})
	return out, err
}

// delivered marks a delivery delivered inside tx, records it on the case's
// timeline and in the audit log, and moves the case from reported to
// delivered on the first delivery of its final report.
func (s *Service) delivered(ctx context.Context, tx pgx.Tx, id uuid.UUID) (Outcome, error) {
	out := Outcome{Delivered: true}
	d, err := s.q.DeliverySetDelivered(ctx, tx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, nil // delivered meanwhile (a replay raced a retry)
	}
	if err != nil {
		return out, fmt.Errorf("mark delivered: %w", err)
	}
	c, err := cases.Lock(ctx, tx, cases.SiteScope(d.SiteOrgID), d.CaseID)
	if err != nil {
		return out, fmt.Errorf("lock case %s: %w", d.CaseID, err)
	}
	details := map[string]any{"report_id": d.ReportID, "delivery_id": d.ID, "channel": d.Channel, "event": d.Event}
	if d.Event == EventFinal && c.Status == string(cases.StatusReported) {
		if _, err := cases.Transition(ctx, tx, d.CaseID, cases.StatusReported, nil, cases.StatusDelivered, details); err != nil {
			return out, err
		}
		out.CaseDelivered = true
		if d.DeliveredAt != nil {
			out.SignedToDelivered = d.DeliveredAt.Sub(d.CreatedAt)
		}
	} else if err := cases.AppendEvent(ctx, tx, d.CaseID, nil, "delivered", nil, "", details); err != nil {
		return out, err
	}
	return out, audit.Record(ctx, tx, audit.Event{Action: "report.deliver", ObjectType: "report",
		ObjectID: d.ReportID.String(), ObjectOrgID: &d.SiteOrgID,
		Details: map[string]any{"delivery_id": d.ID.String(), "channel": d.Channel, "event": d.Event}})
}

// Envelope is the JSON body of every webhook delivery.
type Envelope struct {
	DeliveryID uuid.UUID       `json:"delivery_id"`
	Event      string          `json:"event"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// The headers of a webhook delivery.
const (
	HeaderDelivery  = "Teleread-Delivery"
	HeaderEvent     = "Teleread-Event"
	HeaderTimestamp = "Teleread-Timestamp"
	HeaderSignature = "Teleread-Signature"
)

// post sends the delivery to its webhook. It returns the status code when
// the receiver answered, and an error unless the answer was 2xx. The error
// is recorded and logged, so the webhook URL in it is redacted.
func (s *Service) post(ctx context.Context, d deliverydb.DeliveryGetRow) (*int32, error) {
	code, err := s.postRaw(ctx, d)
	return code, redactErr(err, *d.WebhookUrl)
}

func (s *Service) postRaw(ctx context.Context, d deliverydb.DeliveryGetRow) (*int32, error) {
	if s.reports == nil {
		return nil, errors.New("no report source is configured")
	}
	data, err := s.reports.WebhookPayload(ctx, d.ReportID, d.Event)
	if err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	if !json.Valid(data) {
		return nil, errors.New("render report: the payload is not JSON")
	}
	body, err := json.Marshal(Envelope{DeliveryID: d.ID, Event: d.Event, OccurredAt: d.CreatedAt.UTC(), Data: data})
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *d.WebhookUrl, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	secret, err := s.webhookSecret(ctx, d)
	if err != nil {
		return nil, err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Teleread-Webhook/1")
	req.Header.Set(HeaderDelivery, d.ID.String())
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// The answer's body is drained for connection reuse but never kept: a
	// receiver could echo patient data back, and errors reach the logs.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	code := int32(resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &code, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return &code, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Replay re-enqueues a dead-lettered delivery with the same delivery id, so
// that receivers that already saw it de-duplicate. Admins of the delivery's
// site and platform admins only; others get NotFound.
func (s *Service) Replay(ctx context.Context, p *identity.Principal, id uuid.UUID) (Delivery, error) {
	if !p.IsPlatformAdmin() && (p.OrgKind != identity.OrgSite || !p.Has(identity.RoleOrgAdmin)) {
		return Delivery{}, apperr.New(apperr.NotFound, "delivery not found")
	}
	var out Delivery
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := s.q.DeliveryLockVisible(ctx, tx, deliverydb.DeliveryLockVisibleParams{ID: id,
			Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
		if err != nil {
			return postgres.Translate(err, "delivery")
		}
		if d.Status != "dead" {
			return apperr.New(apperr.Conflict, "the delivery is %s; only dead deliveries are replayed", d.Status)
		}
		d, err = s.q.DeliveryRequeue(ctx, tx, deliverydb.DeliveryRequeueParams{ID: id,
			Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
		if err != nil {
			return fmt.Errorf("requeue delivery: %w", err)
		}
		if _, err := s.jobs.InsertTx(ctx, tx, DeliverArgs{DeliveryID: id}, insertOpts(d.Channel)); err != nil {
			return fmt.Errorf("enqueue delivery %s: %w", id, err)
		}
		out = toDelivery(d, nil)
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "delivery.replay", ObjectType: "delivery",
			ObjectID: id.String(), ObjectOrgID: &d.SiteOrgID, Details: map[string]any{"report_id": d.ReportID.String()}})
	})
	return out, err
}
