package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
)

// The webhook payload: what the referring site's EHR receives. It carries
// the patient, because it goes to the site's own system, which holds the
// patient already and must file the report against them.
type webhookPayload struct {
	Event              string             `json:"event"`
	ReportID           uuid.UUID          `json:"report_id"`
	CaseID             uuid.UUID          `json:"case_id"`
	Status             string             `json:"status"`
	Critical           bool               `json:"critical"`
	Specialty          string             `json:"specialty"`
	Patient            webhookPatient     `json:"patient"`
	ReferringPhysician webhookParty       `json:"referring_physician"`
	ReadingGroup       webhookParty       `json:"reading_group"`
	Findings           string             `json:"findings"`
	Impression         string             `json:"impression"`
	Diagnoses          []Diagnosis        `json:"diagnoses"`
	Recommendations    string             `json:"recommendations"`
	FollowUpInterval   string             `json:"follow_up_interval"`
	Signatures         []webhookSignature `json:"signatures"`
	Addenda            []webhookAddendum  `json:"addenda"`
	ContentSHA256      string             `json:"content_sha256"`
	Issued             time.Time          `json:"issued"`
	Links              Links              `json:"links"`
}

type webhookPatient struct {
	Name      string `json:"name"`
	BirthDate string `json:"birth_date"`
	Sex       string `json:"sex"`
	MRN       string `json:"mrn"`
}

type webhookParty struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

type webhookSignature struct {
	Kind       string    `json:"kind"`
	SignerID   uuid.UUID `json:"signer_id"`
	SignerName string    `json:"signer_name"`
	SignedAt   time.Time `json:"signed_at"`
	SHA256     string    `json:"sha256"`
}

type webhookAddendum struct {
	ID         uuid.UUID `json:"id"`
	Text       string    `json:"text"`
	SignerID   uuid.UUID `json:"signer_id"`
	SignerName string    `json:"signer_name"`
	SignedAt   time.Time `json:"signed_at"`
	SHA256     string    `json:"sha256"`
}

// WebhookPayload returns the JSON body of a webhook for event about report
// id: the report as it stands when the webhook is sent (a retried
// report.preliminary delivered after the final signature shows status
// final), with its signers, addenda, the patient and links to the PDF and
// FHIR forms. It implements delivery.ReportSource; it reads as the system,
// and delivery records the send.
func (s *Service) WebhookPayload(ctx context.Context, id uuid.UUID, event string) ([]byte, error) {
	switch event {
	case EventPreliminary, EventFinal, EventAddendum:
	default:
		return nil, fmt.Errorf("webhook payload: unknown event %q", event)
	}
	r, c, err := s.loadByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !r.Signed() {
		return nil, apperr.New(apperr.Conflict, "report %s is not signed", id)
	}
	d, err := s.document(ctx, cases.SiteScope(c.SiteOrgID), r, c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(d.webhook(event))
}

func (d document) webhook(event string) webhookPayload {
	r, c := d.Report, d.Case
	out := webhookPayload{Event: event, ReportID: r.ID, CaseID: c.ID, Status: r.Status, Critical: r.Critical,
		Specialty: c.Specialty,
		Patient: webhookPatient{Name: c.PatientName, BirthDate: c.PatientBirthDate.Format(time.DateOnly),
			Sex: c.PatientSex, MRN: c.PatientMrn},
		ReferringPhysician: webhookParty{ID: c.ReferringPhysicianID, Name: d.ReferringName},
		Findings:           r.Findings, Impression: r.Impression, Diagnoses: r.Diagnoses,
		Recommendations: r.Recommendations, FollowUpInterval: r.FollowUp,
		Signatures: []webhookSignature{}, Addenda: []webhookAddendum{},
		ContentSHA256: r.ContentSHA256, Issued: d.issued(), Links: d.Links}
	if c.ReadingGroupID != nil {
		out.ReadingGroup = webhookParty{ID: *c.ReadingGroupID, Name: d.GroupName}
	}
	for _, s := range r.Signatures {
		out.Signatures = append(out.Signatures, webhookSignature{Kind: s.Kind, SignerID: s.SignerID,
			SignerName: s.SignerName, SignedAt: s.SignedAt, SHA256: s.SHA256})
	}
	for _, a := range r.Addenda {
		out.Addenda = append(out.Addenda, webhookAddendum{ID: a.ID, Text: a.Text, SignerID: a.SignerID,
			SignerName: a.SignerName, SignedAt: a.SignedAt, SHA256: a.SHA256})
	}
	return out
}
