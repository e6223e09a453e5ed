// Package reports owns the specialist's report on a case: the versioned
// draft written by the specialist who holds the claim, signing (preliminary
// and final when the reading group requires a second read), immutable
// addenda, and the report's outward forms: the PDF, the FHIR R4
// DiagnosticReport and the webhook payload. Signing hands the report to
// delivery in the same transaction. It knows nothing about HTTP.
package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports/reportsdb"
)

// The states of a report. A draft changes; a preliminary report is signed
// by a first reader and waits for the second; a final report is done.
// Signed reports never change: corrections are addenda.
const (
	StatusDraft       = "draft"
	StatusPreliminary = "preliminary"
	StatusFinal       = "final"
)

// The delivery events of a report (delivery.Notice.Event and webhooks).
const (
	EventPreliminary = "report.preliminary"
	EventFinal       = "report.final"
	EventAddendum    = "report.addendum"
)

// Diagnosis is one coded (or free-text) diagnosis of a report.
type Diagnosis struct {
	Text string `json:"text"`
	// System is SystemICD10, SystemSNOMED or "" for free text.
	System string `json:"system"`
	Code   string `json:"code"`
}

// Content is what a specialist writes; it is what a signature covers.
type Content struct {
	Findings        string
	Impression      string
	Diagnoses       []Diagnosis
	Recommendations string
	// FollowUp is an ISO 8601 duration (P3M) or "" for none.
	FollowUp string
	Critical bool
}

// Signature is one signature of a report: preliminary or final.
type Signature struct {
	Kind          string
	SignerID      uuid.UUID
	SignerName    string
	SignedAt      time.Time
	ContentSHA256 string
	// SHA256 covers the content hash, the kind, the signer and the time.
	SHA256 string
}

// Addendum is a signed, immutable correction or addition to a signed
// report.
type Addendum struct {
	ID         uuid.UUID
	Text       string
	SignerID   uuid.UUID
	SignerName string
	SignedAt   time.Time
	SHA256     string
}

// Report is a case's report with its signatures and addenda.
type Report struct {
	ID     uuid.UUID
	CaseID uuid.UUID
	Status string
	// Version counts the saves of the draft; it is frozen by signing.
	Version int32
	Content
	// ContentSHA256 is set by the first signature.
	ContentSHA256 string
	AuthorID      uuid.UUID
	UpdatedBy     uuid.UUID
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Signatures    []Signature
	Addenda       []Addendum
}

// Signed reports whether the report has at least one signature.
func (r Report) Signed() bool { return r.Status != StatusDraft }

// Signature returns the signature of kind, if any.
func (r Report) Signature(kind string) (Signature, bool) {
	for _, s := range r.Signatures {
		if s.Kind == kind {
			return s, true
		}
	}
	return Signature{}, false
}

// LeaseRenewer extends a specialist's claim on a case inside a
// transaction; *worklist.Service is one.
type LeaseRenewer interface {
	RenewLease(ctx context.Context, tx pgx.Tx, p *identity.Principal, caseID uuid.UUID) error
}

// OpenMarker records that the referring physician opened a delivered
// report; *delivery.Service is one. Declared here so that delivery need not
// import reports.
type OpenMarker interface {
	MarkOpened(ctx context.Context, p *identity.Principal, reportID uuid.UUID) error
}

// Options tune a Service.
type Options struct {
	// PublicURL is where users reach the server (TELEREAD_PUBLIC_URL): the
	// links in webhooks and FHIR resources are absolute under it.
	PublicURL string
	// MaxKeyImages caps the images in a PDF; 0 means 12.
	MaxKeyImages int
	// ObserveStep, if set, is told how long a case took from its claim to
	// the final signature (metrics; the package stays free of Prometheus).
	ObserveStep func(from, to string, d time.Duration)
}

// Service manages reports.
type Service struct {
	pool    *pgxpool.Pool
	store   *blob.Store
	jobs    cases.JobInserter
	leases  LeaseRenewer
	opened  OpenMarker
	opts    Options
	q       *reportsdb.Queries
	now     func() time.Time
	enqueue func(ctx context.Context, tx pgx.Tx, jobs cases.JobInserter, n delivery.Notice) error
}

// NewService returns a Service. store holds the case images for the PDF;
// jobs enqueues deliveries when a report is signed; leases renews the
// specialist's claim when a draft is saved; opened records that a
// referring physician opened a signed report (delivery.NewOpener; nil
// records nothing).
func NewService(pool *pgxpool.Pool, store *blob.Store, jobs cases.JobInserter, leases LeaseRenewer, opened OpenMarker, opts Options) *Service {
	if opts.MaxKeyImages <= 0 {
		opts.MaxKeyImages = 12
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &Service{pool: pool, store: store, jobs: jobs, leases: leases, opened: opened, opts: opts, q: reportsdb.New(),
		now: time.Now, enqueue: delivery.Enqueue}
}

// Links are the absolute (or, without a public URL, root-relative) URLs of
// a report's representations.
type Links struct {
	Self string `json:"self"`
	PDF  string `json:"pdf"`
	FHIR string `json:"fhir"`
}

// LinksOf returns the links of report id.
func (s *Service) LinksOf(id uuid.UUID) Links {
	base := s.opts.PublicURL + "/api/v1/reports/" + id.String()
	return Links{Self: base, PDF: base + "/pdf", FHIR: base + "/fhir"}
}

// specialistOf checks that p is a specialist of a reading group: others
// cannot see the case at all (404); a reading group member without the role
// may not write (403).
func specialistOf(p *identity.Principal) error { return cases.SpecialistOf(p, "write reports") }

// lockCase locks the case for a change to its report, if it is routed to
// p's reading group; otherwise it is not found. The case is always locked
// before its report, here and in the worklist, so writers never deadlock.
func (s *Service) lockCase(ctx context.Context, tx pgx.Tx, p *identity.Principal, id uuid.UUID) (cases.Case, error) {
	return cases.Lock(ctx, tx, cases.GroupScope(p.OrgID), id)
}

// holdsClaim checks that p holds the claim on c: only the claimant drafts
// and signs.
func holdsClaim(c cases.Case, p *identity.Principal) error {
	switch {
	case c.Status == string(cases.StatusInReview) && c.AssignedTo != nil && *c.AssignedTo == p.UserID:
		return nil
	case c.Status == string(cases.StatusInReview):
		return apperr.New(apperr.Conflict, "another specialist holds the claim on this case")
	case c.Status == string(cases.StatusRouted):
		return apperr.New(apperr.Conflict, "claim the case before you write or sign its report")
	default:
		return apperr.New(apperr.Conflict, "the case is %s: its report can no longer be drafted or signed", c.Status)
	}
}

// fromRow turns a stored report into a Report without its signatures and
// addenda.
func fromRow(r reportsdb.Report) (Report, error) {
	out := Report{ID: r.ID, CaseID: r.CaseID, Status: r.Status, Version: r.Version, AuthorID: r.AuthorID,
		UpdatedBy: r.UpdatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Content: Content{Findings: r.Findings, Impression: r.Impression, Recommendations: r.Recommendations,
			FollowUp: r.FollowUp, Critical: r.Critical}}
	if r.ContentSha256 != nil {
		out.ContentSHA256 = *r.ContentSha256
	}
	if err := json.Unmarshal(r.Diagnoses, &out.Diagnoses); err != nil {
		return Report{}, fmt.Errorf("report %s diagnoses: %w", r.ID, err)
	}
	if out.Diagnoses == nil {
		out.Diagnoses = []Diagnosis{}
	}
	return out, nil
}

// complete loads r's signatures and addenda.
func (s *Service) complete(ctx context.Context, db reportsdb.DBTX, sc cases.Scope, row reportsdb.Report) (Report, error) {
	r, err := fromRow(row)
	if err != nil {
		return Report{}, err
	}
	pp := sc.Params()
	sigs, err := s.q.SignatureList(ctx, db, reportsdb.SignatureListParams{ReportID: r.ID, Platform: pp.Platform,
		SiteOrgID: pp.SiteOrgID, ReadingGroupID: pp.ReadingGroupID})
	if err != nil {
		return Report{}, fmt.Errorf("report signatures: %w", err)
	}
	for _, sg := range sigs {
		r.Signatures = append(r.Signatures, Signature{Kind: sg.Kind, SignerID: sg.SignerID, SignerName: sg.SignerName,
			SignedAt: sg.SignedAt, ContentSHA256: sg.ContentSha256, SHA256: sg.Sha256})
	}
	add, err := s.q.AddendumList(ctx, db, reportsdb.AddendumListParams{ReportID: r.ID, Platform: pp.Platform,
		SiteOrgID: pp.SiteOrgID, ReadingGroupID: pp.ReadingGroupID})
	if err != nil {
		return Report{}, fmt.Errorf("report addenda: %w", err)
	}
	for _, a := range add {
		r.Addenda = append(r.Addenda, Addendum{ID: a.ID, Text: a.Text, SignerID: a.SignerID, SignerName: a.SignerName,
			SignedAt: a.SignedAt, SHA256: a.Sha256})
	}
	return r, nil
}
