package api

import (
	"time"

	"github.com/google/uuid"
)

// The case states (schema CaseStatus), the values of Case.Status.
const (
	CaseDraft         = "draft"
	CaseSubmitted     = "submitted"
	CaseRouted        = "routed"
	CaseInReview      = "in_review"
	CaseInfoRequested = "info_requested"
	CaseReported      = "reported"
	CaseDelivered     = "delivered"
	CaseAcknowledged  = "acknowledged"
	CaseCancelled     = "cancelled"
)

// CaseStatuses lists every case state, in the order of a case's life.
var CaseStatuses = []string{CaseDraft, CaseSubmitted, CaseRouted, CaseInReview, CaseInfoRequested, CaseReported,
	CaseDelivered, CaseAcknowledged, CaseCancelled}

// The case priorities (schema Priority).
const (
	PriorityStat    = "stat"
	PriorityUrgent  = "urgent"
	PriorityRoutine = "routine"
)

// The specialties (schema Specialty).
const (
	SpecialtyDermatology = "dermatology"
	SpecialtyRadiology   = "radiology"
)

// Patient identifies the patient of a case (schema Patient).
type Patient struct {
	Name string `json:"name"`
	// BirthDate is a date, 2006-01-02.
	BirthDate string `json:"birth_date"`
	// Sex is F, M, O or U.
	Sex string `json:"sex"`
	MRN string `json:"mrn"`
}

// Lesion describes the skin lesion of a dermatology case (schema Lesion).
type Lesion struct {
	BodySite string `json:"body_site,omitempty"`
	Duration string `json:"duration,omitempty"`
}

// Case is a consultation request and where it is in its life (schema Case).
type Case struct {
	ID        uuid.UUID `json:"id"`
	SiteOrgID uuid.UUID `json:"site_org_id"`
	// Status is one of CaseStatuses.
	Status               string     `json:"status"`
	Specialty            string     `json:"specialty"`
	Priority             string     `json:"priority"`
	Patient              Patient    `json:"patient"`
	ReferringPhysicianID uuid.UUID  `json:"referring_physician_id"`
	CreatedBy            uuid.UUID  `json:"created_by"`
	ClinicalQuestion     string     `json:"clinical_question"`
	History              string     `json:"history"`
	Lesion               *Lesion    `json:"lesion,omitempty"`
	ManifestSealedAt     *time.Time `json:"manifest_sealed_at"`
	// CompleteAt is when every file of the manifest had arrived.
	CompleteAt     *time.Time `json:"complete_at"`
	ReadingGroupID *uuid.UUID `json:"reading_group_id"`
	RoutedAt       *time.Time `json:"routed_at"`
	// UnroutedReason says why no routing rule matched a submitted case.
	UnroutedReason *string `json:"unrouted_reason,omitempty"`
	// InfoRequest is the specialist's question while info_requested.
	InfoRequest    *string    `json:"info_request,omitempty"`
	ClaimExpiresAt *time.Time `json:"claim_expires_at,omitempty"`
	AssignedTo     *uuid.UUID `json:"assigned_to"`
	DueAt          *time.Time `json:"due_at"`
	SubmittedAt    *time.Time `json:"submitted_at"`
	CancelledAt    *time.Time `json:"cancelled_at"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// CasePage is the answer of GET /api/v1/cases, newest first.
type CasePage struct {
	Items []Case `json:"items"`
	// NextCursor fetches the next (older) page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// ManifestEntry is one file a case declares it will hold (schema
// ManifestEntry). In answers, FileID is the file that arrived with that
// SHA-256.
type ManifestEntry struct {
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string     `json:"sha256"`
	Name   string     `json:"name,omitempty"`
	Size   *int64     `json:"size,omitempty"`
	FileID *uuid.UUID `json:"file_id,omitempty"`
}

// CreateCaseRequest is the body of POST /api/v1/cases, which answers a Case.
type CreateCaseRequest struct {
	ReferringPhysicianID uuid.UUID `json:"referring_physician_id"`
	Specialty            string    `json:"specialty"`
	Priority             string    `json:"priority"`
	Patient              Patient   `json:"patient"`
	ClinicalQuestion     string    `json:"clinical_question"`
	History              string    `json:"history"`
	Lesion               *Lesion   `json:"lesion"`
	// Manifest optionally declares the files to come, sealed at submission.
	Manifest []ManifestEntry `json:"manifest"`
	// IncomingStudyIDs are incoming studies (pushed site-wide to
	// /dicomweb/studies) that become the new case's files.
	IncomingStudyIDs []uuid.UUID `json:"incoming_study_ids"`
}

// UpdateCaseRequest is the body of PATCH /api/v1/cases/{id}: absent
// (null) members are left as they are.
type UpdateCaseRequest struct {
	Priority         *string       `json:"priority"`
	ClinicalQuestion *string       `json:"clinical_question"`
	History          *string       `json:"history"`
	Lesion           *LesionChange `json:"lesion"`
}

// LesionChange is the lesion of an UpdateCaseRequest: absent members are
// left as they are.
type LesionChange struct {
	BodySite *string `json:"body_site"`
	Duration *string `json:"duration"`
}

// CaseEvent is one entry of a case's history, GET
// /api/v1/cases/{id}/events (schema CaseEvent).
type CaseEvent struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	ActorID    *uuid.UUID     `json:"actor_id"`
	Kind       string         `json:"kind"`
	FromStatus *string        `json:"from_status,omitempty"`
	ToStatus   *string        `json:"to_status,omitempty"`
	Details    map[string]any `json:"details"`
}

// ManifestRequest is the body of PUT /api/v1/cases/{id}/manifest.
type ManifestRequest struct {
	Files []ManifestEntry `json:"files"`
}

// Manifest is a case's declared files and which have arrived (schema
// Manifest).
type Manifest struct {
	Files    []ManifestEntry `json:"files"`
	Declared int             `json:"declared"`
	Arrived  int             `json:"arrived"`
	// Missing lists the SHA-256 of the declared files not yet uploaded.
	Missing []string `json:"missing"`
}

// CancelRequest is the optional body of POST /api/v1/cases/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason"`
}
