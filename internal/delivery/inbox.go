package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery/deliverydb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// InboxItem is a delivered report as the site sees it.
type InboxItem struct {
	ReportID    uuid.UUID
	CaseID      uuid.UUID
	PatientName string
	Priority    string
	Specialty   string
	// Status is the report's delivered state: preliminary or final.
	Status    string
	LastEvent string
	Critical  bool
	Unread    bool
	// DeliveredAt is when the current state reached the inbox; UpdatedAt
	// the latest delivery (an addendum).
	DeliveredAt    time.Time
	UpdatedAt      time.Time
	OpenedAt       *time.Time
	AcknowledgedAt *time.Time
	AcknowledgedBy *uuid.UUID
	// RemindedAt is set when an unacknowledged critical report was
	// escalated back to the referring physician.
	RemindedAt *time.Time
}

// InboxQuery filters the inbox.
type InboxQuery struct {
	UnreadOnly bool
	Limit      int
}

// Inbox returns p's inbox: a referring physician's own referrals, or the
// whole site's for site staff and admins; unread first, critical first,
// newest first. The read is audited (it shows patients).
func (s *Service) Inbox(ctx context.Context, p *identity.Principal, q InboxQuery) ([]InboxItem, error) {
	if p.OrgKind != identity.OrgSite {
		return []InboxItem{}, nil
	}
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	rows, err := s.q.InboxList(ctx, s.pool, deliverydb.InboxListParams{OrgID: p.OrgID,
		SiteWide: p.HasAny(identity.RoleSiteStaff, identity.RoleOrgAdmin), UserID: p.UserID,
		UnreadOnly: q.UnreadOnly, Lim: int32(q.Limit)})
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	out := make([]InboxItem, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		out[i] = InboxItem{ReportID: r.ReportID, CaseID: r.CaseID, PatientName: r.PatientName, Priority: r.Priority,
			Specialty: r.Specialty, Status: r.Status, LastEvent: r.LastEvent, Critical: r.Critical, Unread: r.Unread,
			DeliveredAt: r.DeliveredAt, UpdatedAt: r.UpdatedAt, OpenedAt: r.OpenedAt, AcknowledgedAt: r.AcknowledgedAt,
			AcknowledgedBy: r.AcknowledgedBy, RemindedAt: r.RemindedAt}
		ids[i] = r.CaseID.String()
	}
	if len(out) > 0 {
		org := p.OrgID
		if err := audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "inbox.view", ObjectType: "case",
			ObjectID: "*", ObjectOrgID: &org, Details: map[string]any{"case_ids": ids}}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// MarkOpened records the first time the case's referring physician viewed a
// delivered report (idempotent; no-op for other viewers and for reports not
// delivered to p's site).
func (s *Opener) MarkOpened(ctx context.Context, p *identity.Principal, reportID uuid.UUID) error {
	if p == nil || !p.Has(identity.RoleReferringPhysician) || p.OrgKind != identity.OrgSite {
		return nil
	}
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		r, err := s.q.InboxMarkOpened(ctx, tx, deliverydb.InboxMarkOpenedParams{ReportID: reportID, OrgID: p.OrgID,
			UserID: p.UserID})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // not delivered yet, or not theirs
		}
		if err != nil {
			return fmt.Errorf("mark opened: %w", err)
		}
		if !r.First {
			return nil
		}
		return cases.AppendEvent(ctx, tx, r.CaseID, p, "report_opened", nil, "", map[string]any{"report_id": reportID})
	})
}

// Acknowledgement is the referring physician's confirmation that they have
// read a delivered report.
type Acknowledgement struct {
	ReportID     uuid.UUID
	CaseID       uuid.UUID
	ReportStatus string
	By           uuid.UUID
	At           time.Time
	// CaseStatus is the case's status afterwards.
	CaseStatus string
}

// Acknowledge records that the case's referring physician has read the
// report in its delivered state. Acknowledging the final report moves the
// case from delivered to acknowledged; acknowledging a preliminary one is
// recorded (and stops its escalation) but leaves the case where it is: the
// final report is acknowledged on its own. Idempotent. Anyone but the case's
// referring physician gets NotFound, as does a report not yet delivered.
func (s *Service) Acknowledge(ctx context.Context, p *identity.Principal, reportID uuid.UUID) (Acknowledgement, error) {
	notFound := apperr.New(apperr.NotFound, "report not found")
	if p.OrgKind != identity.OrgSite || !p.Has(identity.RoleReferringPhysician) {
		return Acknowledgement{}, notFound
	}
	var out Acknowledgement
	var observe time.Duration = -1
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		item, err := s.q.InboxGet(ctx, tx, deliverydb.InboxGetParams{ReportID: reportID, OrgID: p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (item.ReferringPhysicianID != p.UserID || item.SiteOrgID != p.OrgID)) {
			return notFound
		}
		if err != nil {
			return fmt.Errorf("inbox item: %w", err)
		}
		// Lock the case, then the item: the order the delivery job takes.
		c, err := cases.Lock(ctx, tx, cases.SiteScope(p.OrgID), item.CaseID)
		if err != nil {
			return fmt.Errorf("lock case: %w", err)
		}
		if item, err = s.q.InboxLock(ctx, tx, deliverydb.InboxLockParams{ReportID: reportID, OrgID: p.OrgID}); err != nil {
			return fmt.Errorf("lock inbox item: %w", err)
		}
		out = Acknowledgement{ReportID: reportID, CaseID: item.CaseID, ReportStatus: item.Status, CaseStatus: c.Status}
		// Acknowledging is reading.
		opened, err := s.q.InboxMarkOpened(ctx, tx, deliverydb.InboxMarkOpenedParams{ReportID: reportID, OrgID: p.OrgID,
			UserID: p.UserID})
		if err != nil {
			return fmt.Errorf("mark opened: %w", err)
		}
		if opened.First {
			if err := cases.AppendEvent(ctx, tx, item.CaseID, p, "report_opened", nil, "", map[string]any{"report_id": reportID}); err != nil {
				return err
			}
		}
		ack, err := s.q.AckInsert(ctx, tx, deliverydb.AckInsertParams{ReportID: reportID, ReportStatus: item.Status,
			CaseID: item.CaseID, UserID: p.UserID})
		if errors.Is(err, pgx.ErrNoRows) {
			prev, err := s.q.AckGet(ctx, tx, deliverydb.AckGetParams{ReportID: reportID, ReportStatus: item.Status,
				OrgID: p.OrgID})
			if err != nil {
				return fmt.Errorf("acknowledgement: %w", err)
			}
			out.By, out.At = prev.UserID, prev.At
			return nil
		}
		if err != nil {
			return fmt.Errorf("record acknowledgement: %w", err)
		}
		out.By, out.At = ack.UserID, ack.At
		details := map[string]any{"report_id": reportID, "report_status": item.Status}
		if item.Status == "final" && c.Status == string(cases.StatusDelivered) {
			next, err := cases.Transition(ctx, tx, item.CaseID, cases.StatusDelivered, p, cases.StatusAcknowledged, details)
			if err != nil {
				return err
			}
			out.CaseStatus = next.Status
			observe = ack.At.Sub(item.DeliveredAt)
		} else if err := cases.AppendEvent(ctx, tx, item.CaseID, p, "acknowledged", nil, "", details); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "report.acknowledge", ObjectType: "report",
			ObjectID: reportID.String(), ObjectOrgID: &item.SiteOrgID, Details: map[string]any{"report_status": item.Status}})
	})
	if err != nil {
		return Acknowledgement{}, err
	}
	if observe >= 0 {
		s.observe("delivered", "acknowledged", observe)
	}
	return out, nil
}

// Delivery is one delivery of a report and how it went.
type Delivery struct {
	ID          uuid.UUID
	ReportID    uuid.UUID
	CaseID      uuid.UUID
	SiteOrgID   uuid.UUID
	Event       string
	AddendumID  *uuid.UUID
	Critical    bool
	Channel     string
	WebhookID   *uuid.UUID
	WebhookURL  string
	Status      string // queued, delivered or dead
	Attempts    int
	LastError   string
	CreatedAt   time.Time
	DeliveredAt *time.Time
	DeadAt      *time.Time
	Replays     int
	// History lists every attempt, oldest first (ReportDeliveries only).
	History []Attempt
	// LastStatusCode and LastAttemptAt are the latest attempt's answer
	// and time, nil before the first (WebhookDeliveries only).
	LastStatusCode *int
	LastAttemptAt  *time.Time
}

// Attempt is one try of a delivery.
type Attempt struct {
	At         time.Time
	Duration   time.Duration
	StatusCode *int
	Error      string
}

func toDelivery(d deliverydb.Delivery, url *string) Delivery {
	out := Delivery{ID: d.ID, ReportID: d.ReportID, CaseID: d.CaseID, SiteOrgID: d.SiteOrgID, Event: d.Event,
		AddendumID: d.AddendumID, Critical: d.Critical, Channel: d.Channel, WebhookID: d.WebhookID, Status: d.Status,
		Attempts: int(d.Attempts), LastError: d.LastError, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt,
		DeadAt: d.DeadAt, Replays: int(d.Replays)}
	if url != nil {
		out.WebhookURL = *url
	}
	return out
}

// ReportDeliveries is where a report's deliveries stand.
type ReportDeliveries struct {
	ReportID   uuid.UUID
	Deliveries []Delivery
	// The inbox state, once delivered there.
	Status          string
	OpenedAt        *time.Time
	Acknowledgement *Acknowledgement
}

// ReportDeliveries returns every delivery of a report with its attempts.
// Admins of the report's site and platform admins only; others get
// NotFound.
func (s *Service) ReportDeliveries(ctx context.Context, p *identity.Principal, reportID uuid.UUID) (ReportDeliveries, error) {
	out := ReportDeliveries{ReportID: reportID}
	if !p.IsPlatformAdmin() && (p.OrgKind != identity.OrgSite || !p.Has(identity.RoleOrgAdmin)) {
		return out, apperr.New(apperr.NotFound, "report not found")
	}
	rows, err := s.q.DeliveriesOfReport(ctx, s.pool, deliverydb.DeliveriesOfReportParams{ReportID: reportID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if err != nil {
		return out, fmt.Errorf("report deliveries: %w", err)
	}
	if len(rows) == 0 {
		return out, apperr.New(apperr.NotFound, "report not found")
	}
	attempts, err := s.q.AttemptsOfReport(ctx, s.pool, deliverydb.AttemptsOfReportParams{ReportID: reportID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if err != nil {
		return out, fmt.Errorf("delivery attempts: %w", err)
	}
	byDelivery := map[uuid.UUID][]Attempt{}
	for _, a := range attempts {
		at := Attempt{At: a.At, Duration: time.Duration(a.DurationMs) * time.Millisecond, Error: a.Error}
		if a.StatusCode != nil {
			c := int(*a.StatusCode)
			at.StatusCode = &c
		}
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], at)
	}
	for _, r := range rows {
		d := toDelivery(deliverydb.Delivery{ID: r.ID, ReportID: r.ReportID, CaseID: r.CaseID, SiteOrgID: r.SiteOrgID,
			Event: r.Event, AddendumID: r.AddendumID, Critical: r.Critical, Channel: r.Channel, WebhookID: r.WebhookID,
			Status: r.Status, Attempts: r.Attempts, LastError: r.LastError, CreatedAt: r.CreatedAt,
			DeliveredAt: r.DeliveredAt, DeadAt: r.DeadAt, Replays: r.Replays}, r.WebhookUrl)
		d.History = byDelivery[r.ID]
		if d.History == nil {
			d.History = []Attempt{}
		}
		out.Deliveries = append(out.Deliveries, d)
	}
	item, err := s.q.InboxGet(ctx, s.pool, deliverydb.InboxGetParams{ReportID: reportID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return out, fmt.Errorf("inbox item: %w", err)
	default:
		out.Status, out.OpenedAt = item.Status, item.OpenedAt
		ack, err := s.q.AckGet(ctx, s.pool, deliverydb.AckGetParams{ReportID: reportID, ReportStatus: item.Status,
			Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
		if err == nil {
			out.Acknowledgement = &Acknowledgement{ReportID: reportID, CaseID: ack.CaseID, ReportStatus: ack.ReportStatus,
				By: ack.UserID, At: ack.At}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return out, fmt.Errorf("acknowledgement: %w", err)
		}
	}
	return out, nil
}

// DeadLetters returns the dead-lettered deliveries, newest first: a site
// admin's own site's, or for a platform admin those of org (all when nil).
func (s *Service) DeadLetters(ctx context.Context, p *identity.Principal, org *uuid.UUID, limit int) ([]Delivery, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	if !p.IsPlatformAdmin() && (p.OrgKind != identity.OrgSite || !p.Has(identity.RoleOrgAdmin)) {
		return []Delivery{}, nil
	}
	rows, err := s.q.DeliveriesDead(ctx, s.pool, deliverydb.DeliveriesDeadParams{Platform: p.IsPlatformAdmin(),
		OrgID: p.OrgID, FilterOrgID: org, Lim: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("dead deliveries: %w", err)
	}
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = toDelivery(deliverydb.Delivery{ID: r.ID, ReportID: r.ReportID, CaseID: r.CaseID, SiteOrgID: r.SiteOrgID,
			Event: r.Event, AddendumID: r.AddendumID, Critical: r.Critical, Channel: r.Channel, WebhookID: r.WebhookID,
			Status: r.Status, Attempts: r.Attempts, LastError: r.LastError, CreatedAt: r.CreatedAt,
			DeliveredAt: r.DeliveredAt, DeadAt: r.DeadAt, Replays: r.Replays}, r.WebhookUrl)
	}
	return out, nil
}
