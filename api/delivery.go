package api

import (
	"time"

	"github.com/google/uuid"
)

// InboxItem is one report delivered to the referring site, GET
// /api/v1/inbox (schema InboxItem).
type InboxItem struct {
	ReportID    uuid.UUID `json:"report_id"`
	CaseID      uuid.UUID `json:"case_id"`
	PatientName string    `json:"patient_name"`
	Priority    string    `json:"priority"`
	Specialty   string    `json:"specialty"`
	// Status is the report's: preliminary or final.
	Status string `json:"status"`
	// LastEvent is report.preliminary, report.final or report.addendum.
	LastEvent string `json:"last_event"`
	Critical  bool   `json:"critical"`
	Unread    bool   `json:"unread"`
	// Reminder is true when an unacknowledged critical report was
	// escalated back to the referrer.
	Reminder       bool       `json:"reminder"`
	DeliveredAt    time.Time  `json:"delivered_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	OpenedAt       *time.Time `json:"opened_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy *uuid.UUID `json:"acknowledged_by"`
	RemindedAt     *time.Time `json:"reminded_at,omitempty"`
}

// Acknowledgement records that the referrer read a report, the answer of
// POST /api/v1/reports/{id}/acknowledge (schema Acknowledgement).
type Acknowledgement struct {
	ReportID     uuid.UUID `json:"report_id"`
	CaseID       uuid.UUID `json:"case_id,omitempty"`
	ReportStatus string    `json:"report_status"`
	By           uuid.UUID `json:"acknowledged_by"`
	At           time.Time `json:"acknowledged_at"`
	// CaseStatus is the case's state after the acknowledgement.
	CaseStatus string `json:"case_status,omitempty"`
}

// DeliveryAttempt is one try to deliver to a webhook.
type DeliveryAttempt struct {
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	// StatusCode is the webhook's answer; null when none came.
	StatusCode *int   `json:"status_code"`
	Error      string `json:"error,omitempty"`
}

// Delivery is one report event sent to one channel (schema Delivery). Its
// ID is stable across retries and replays: receivers de-duplicate on it.
type Delivery struct {
	ID        uuid.UUID `json:"id"`
	ReportID  uuid.UUID `json:"report_id"`
	CaseID    uuid.UUID `json:"case_id"`
	SiteOrgID uuid.UUID `json:"site_org_id"`
	// Event is report.preliminary, report.final or report.addendum.
	Event      string     `json:"event"`
	AddendumID *uuid.UUID `json:"addendum_id,omitempty"`
	Critical   bool       `json:"critical"`
	// Channel is inbox or webhook.
	Channel    string     `json:"channel"`
	WebhookID  *uuid.UUID `json:"webhook_id,omitempty"`
	WebhookURL string     `json:"webhook_url,omitempty"`
	// Status is queued, delivered or dead.
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	DeadAt      *time.Time `json:"dead_at,omitempty"`
	Replays     int        `json:"replays"`
	// History lists the webhook attempts, oldest first.
	History []DeliveryAttempt `json:"history,omitempty"`
}

// ReportDeliveries is where a report went, GET
// /api/v1/reports/{id}/deliveries (schema ReportDeliveries).
type ReportDeliveries struct {
	ReportID        uuid.UUID        `json:"report_id"`
	Status          string           `json:"status,omitempty"`
	OpenedAt        *time.Time       `json:"opened_at"`
	Acknowledgement *Acknowledgement `json:"acknowledgement"`
	Items           []Delivery       `json:"items"`
}

// Webhook is an address a site's reports are POSTed to, signed with
// HMAC-SHA256 (schema Webhook).
type Webhook struct {
	ID          uuid.UUID  `json:"id"`
	OrgID       uuid.UUID  `json:"org_id"`
	URL         string     `json:"url"`
	Description string     `json:"description"`
	Enabled     bool       `json:"enabled"`
	CreatedBy   *uuid.UUID `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at"`
	// Secret is the HMAC key, present only in the answer to its creation.
	Secret string `json:"secret,omitempty"`
}

// CreateWebhookRequest is the body of POST /api/v1/webhooks; a null OrgID
// is the caller's organisation.
type CreateWebhookRequest struct {
	OrgID       *uuid.UUID `json:"org_id"`
	URL         string     `json:"url"`
	Description string     `json:"description"`
}

// Escalation is a notice that something waited too long (schema
// Escalation): a critical report unacknowledged, or a case overdue.
type Escalation struct {
	ID uuid.UUID `json:"id"`
	// Kind is critical_unacknowledged or overdue.
	Kind         string     `json:"kind"`
	CaseID       uuid.UUID  `json:"case_id"`
	ReportID     *uuid.UUID `json:"report_id,omitempty"`
	ReportStatus *string    `json:"report_status,omitempty"`
	Level        int        `json:"level"`
	TargetOrgID  uuid.UUID  `json:"target_org_id"`
	// TargetRole is referring_physician or org_admin.
	TargetRole   string         `json:"target_role"`
	TargetUserID *uuid.UUID     `json:"target_user_id,omitempty"`
	Details      map[string]any `json:"details"`
	CreatedAt    time.Time      `json:"created_at"`
}

// StatsStep is the time cases took from one state to the next.
type StatsStep struct {
	From       string   `json:"from"`
	To         string   `json:"to"`
	Count      int      `json:"count"`
	P50Seconds *float64 `json:"p50_seconds"`
	P90Seconds *float64 `json:"p90_seconds"`
}

// Stats is GET /api/v1/stats (schema Stats): cases by state and the time
// of each step, since Since.
type Stats struct {
	Since    time.Time      `json:"since"`
	ByStatus map[string]int `json:"cases_by_status"`
	Steps    []StatsStep    `json:"steps"`
}
