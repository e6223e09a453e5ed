package api

import (
	"time"

	"github.com/google/uuid"
)

// The states of a report (Report.Status).
const (
	ReportDraft       = "draft"
	ReportPreliminary = "preliminary"
	ReportFinal       = "final"
)

// The coding systems of a Diagnosis; "" is free text.
const (
	SystemICD10  = "ICD-10"
	SystemSNOMED = "SNOMED-CT"
)

// FHIRContentType is the media type of GET /api/v1/reports/{id}/fhir.
const FHIRContentType = "application/fhir+json"

// Diagnosis is one coded (or free-text) diagnosis of a report (schema
// Diagnosis).
type Diagnosis struct {
	Text string `json:"text"`
	// System is SystemICD10, SystemSNOMED or "" for free text.
	System string `json:"system"`
	// Code is an ICD-10 code like L43.9, a SNOMED CT concept id, or "".
	Code string `json:"code"`
}

// Signature is a signing of a report, preliminary or final (schema
// ReportSignature).
type Signature struct {
	// Kind is preliminary or final.
	Kind       string    `json:"kind"`
	SignerID   uuid.UUID `json:"signer_id"`
	SignerName string    `json:"signer_name"`
	SignedAt   time.Time `json:"signed_at"`
	// SHA256 is of the content signed.
	SHA256 string `json:"sha256"`
}

// Addendum is a signed addition to a final report (schema ReportAddendum).
type Addendum struct {
	ID         uuid.UUID `json:"id"`
	Text       string    `json:"text"`
	SignerID   uuid.UUID `json:"signer_id"`
	SignerName string    `json:"signer_name"`
	SignedAt   time.Time `json:"signed_at"`
	SHA256     string    `json:"sha256"`
}

// ReportLinks are the addresses of a report and its renderings.
type ReportLinks struct {
	Self string `json:"self"`
	PDF  string `json:"pdf"`
	FHIR string `json:"fhir"`
}

// Report is a case's report (schema Report). Its Version is also the
// ETag of the answer, which If-Match takes back when saving a draft.
type Report struct {
	ID     uuid.UUID `json:"id"`
	CaseID uuid.UUID `json:"case_id"`
	// Status is ReportDraft, ReportPreliminary or ReportFinal.
	Status           string      `json:"status"`
	Version          int32       `json:"version"`
	Findings         string      `json:"findings"`
	Impression       string      `json:"impression"`
	Diagnoses        []Diagnosis `json:"diagnoses"`
	Recommendations  string      `json:"recommendations"`
	FollowUpInterval string      `json:"follow_up_interval"`
	Critical         bool        `json:"critical"`
	// ContentSHA256 is of the signed content; null for a draft.
	ContentSHA256 *string     `json:"content_sha256"`
	AuthorID      uuid.UUID   `json:"author_id"`
	UpdatedBy     uuid.UUID   `json:"updated_by"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
	Signatures    []Signature `json:"signatures"`
	Addenda       []Addendum  `json:"addenda"`
	Links         ReportLinks `json:"links"`
}

// ReportDraftRequest is the body of PUT /api/v1/cases/{id}/report (schema
// ReportDraft), which saves the draft whole.
type ReportDraftRequest struct {
	Findings        string      `json:"findings"`
	Impression      string      `json:"impression"`
	Diagnoses       []Diagnosis `json:"diagnoses"`
	Recommendations string      `json:"recommendations"`
	// FollowUpInterval is an ISO 8601 duration of years, months, weeks or
	// days (P3M), or "".
	FollowUpInterval string `json:"follow_up_interval"`
	Critical         bool   `json:"critical"`
}

// AddendumRequest is the body of POST /api/v1/cases/{id}/report/addenda,
// which answers the signed Addendum.
type AddendumRequest struct {
	Text string `json:"text"`
}
