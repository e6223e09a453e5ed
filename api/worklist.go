package api

import (
	"time"

	"github.com/google/uuid"
)

// PatientBrief is the patient as a worklist shows it.
type PatientBrief struct {
	Name string `json:"name"`
	Sex  string `json:"sex"`
	// BirthDate is a date, 2006-01-02.
	BirthDate string `json:"birth_date"`
}

// WorklistItem is one case waiting for a specialist.
type WorklistItem struct {
	CaseID uuid.UUID `json:"case_id"`
	// Status is routed or in_review.
	Status           string       `json:"status"`
	Specialty        string       `json:"specialty"`
	Priority         string       `json:"priority"`
	DueAt            *time.Time   `json:"due_at"`
	Overdue          bool         `json:"overdue"`
	RoutedAt         *time.Time   `json:"routed_at"`
	AssignedTo       *uuid.UUID   `json:"assigned_to"`
	ClaimExpiresAt   *time.Time   `json:"claim_expires_at"`
	Patient          PatientBrief `json:"patient"`
	ClinicalQuestion string       `json:"clinical_question"`
	LesionBodySite   *string      `json:"lesion_body_site,omitempty"`
	Modalities       []string     `json:"modalities"`
	Files            int          `json:"files"`
	// Site is the referring site's name.
	Site string `json:"site"`
	// AwaitingSecondRead: a preliminary report is signed; another
	// specialist signs it final.
	AwaitingSecondRead bool `json:"awaiting_second_read"`
}

// WorklistPage is GET /api/v1/worklist (schema WorklistPage): one page of
// the caller's worklist, most urgent first, and counts over all of it.
type WorklistPage struct {
	Items []WorklistItem `json:"items"`
	// Counts and Overdue count the cases by priority.
	Counts  map[string]int `json:"counts"`
	Overdue map[string]int `json:"overdue"`
	Total   int            `json:"total"`
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ReassignRequest is the body of POST /api/v1/cases/{id}/reassign.
type ReassignRequest struct {
	SpecialistID uuid.UUID `json:"specialist_id"`
}

// RequestInfoRequest is the body of POST /api/v1/cases/{id}/request-info:
// the question sent back to the referring site.
type RequestInfoRequest struct {
	Message string `json:"message"`
}

// UnroutedCase is a submitted case no routing rule matched, GET
// /api/v1/unrouted.
type UnroutedCase struct {
	CaseID      uuid.UUID  `json:"case_id"`
	SiteOrgID   uuid.UUID  `json:"site_org_id"`
	Specialty   string     `json:"specialty"`
	Priority    string     `json:"priority"`
	SubmittedAt *time.Time `json:"submitted_at"`
	Reason      string     `json:"reason"`
}

// RoutingRule sends the submitted cases it matches to a reading group
// (schema RoutingRule). The specific rules of a specialty are tried by
// Position, the default last; a null Modality, BodySite or SiteOrgID
// matches any.
type RoutingRule struct {
	ID             uuid.UUID  `json:"id"`
	Position       int32      `json:"position"`
	Name           string     `json:"name"`
	Specialty      string     `json:"specialty"`
	Modality       *string    `json:"modality"`
	BodySite       *string    `json:"body_site"`
	SiteOrgID      *uuid.UUID `json:"site_org_id"`
	ReadingGroupID uuid.UUID  `json:"reading_group_id"`
	IsDefault      bool       `json:"is_default"`
	Enabled        bool       `json:"enabled"`
	CreatedAt      time.Time  `json:"created_at"`
}

// CreateRoutingRuleRequest is the body of POST /api/v1/routing-rules;
// Position 0 is 100, and an empty Modality or BodySite matches any.
type CreateRoutingRuleRequest struct {
	Position       int32      `json:"position"`
	Name           string     `json:"name"`
	Specialty      string     `json:"specialty"`
	Modality       string     `json:"modality"`
	BodySite       string     `json:"body_site"`
	SiteOrgID      *uuid.UUID `json:"site_org_id"`
	ReadingGroupID uuid.UUID  `json:"reading_group_id"`
	IsDefault      bool       `json:"is_default"`
}

// UpdateRoutingRuleRequest is the body of PATCH /api/v1/routing-rules/{id}:
// absent (null) members are left as they are.
type UpdateRoutingRuleRequest struct {
	Position       *int32     `json:"position"`
	Name           *string    `json:"name"`
	Enabled        *bool      `json:"enabled"`
	ReadingGroupID *uuid.UUID `json:"reading_group_id"`
}

// GroupSettings are a reading group's service levels (schema
// GroupSettings), both the body and the answer of
// /api/v1/reading-groups/{id}/settings.
type GroupSettings struct {
	// SLASeconds is the time to report by priority: stat, urgent, routine.
	SLASeconds               map[string]int64 `json:"sla_seconds"`
	ClaimLeaseSeconds        int64            `json:"claim_lease_seconds"`
	RequireSecondRead        bool             `json:"require_second_read"`
	CriticalAckWithinSeconds int64            `json:"critical_ack_within_seconds"`
}
