// Package cases owns consult cases: the patient and clinical question, the
// state machine and its timeline, the sealed file manifest, and submit.
// Every query is scoped to what the principal may see, in SQL.
package cases

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases/casesdb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// Case is a consult request and where it stands.
type Case = casesdb.Case

// Event is one entry of a case's timeline.
type Event = casesdb.CaseEvent

// JobInserter enqueues River jobs inside a transaction; *river.Client is one.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Service manages cases.
type Service struct {
	pool *pgxpool.Pool
	jobs JobInserter
	q    *casesdb.Queries
	now  func() time.Time
}

// NewService returns a Service; jobs enqueues the routing job on submit.
func NewService(pool *pgxpool.Pool, jobs JobInserter) *Service {
	return &Service{pool: pool, jobs: jobs, q: casesdb.New(), now: time.Now}
}

// RouteArgs is the River job that routes a submitted case to a reading
// group. It carries the id only, never patient data.
type RouteArgs struct {
	CaseID uuid.UUID `json:"case_id"`
}

// Kind names the job.
func (RouteArgs) Kind() string { return "route" }

// siteWide reports whether p sees every case of their site (staff and
// admins) rather than only their own referrals.
func siteWide(p *identity.Principal) bool {
	return p.HasAny(identity.RoleSiteStaff, identity.RoleOrgAdmin)
}

// NewCase is the input of Create.
type NewCase struct {
	ReferringPhysicianID uuid.UUID
	Specialty            string
	Priority             string
	PatientName          string
	PatientBirthDate     string // YYYY-MM-DD
	PatientSex           string // F, M, O, U
	PatientMRN           string
	ClinicalQuestion     string
	History              string
	LesionBodySite       string
	LesionDuration       string
	// Manifest optionally declares, and seals, the files the site will send.
	Manifest []ManifestEntry
}

// Create opens a draft case at p's site.
func (s *Service) Create(ctx context.Context, p *identity.Principal, in NewCase) (Case, error) {
	return s.CreateThen(ctx, p, in, nil)
}

// CreateThen is Create that also runs then, when it is not nil, in the
// transaction that opens the case (the HTTP edge stores the answer to an
// Idempotency-Key there, so that a retry never opens a second case); an
// error of then rolls the case back.
func (s *Service) CreateThen(ctx context.Context, p *identity.Principal, in NewCase,
	then func(ctx context.Context, tx pgx.Tx, c Case) error) (Case, error) {
	if p.OrgKind != identity.OrgSite || !p.HasAny(identity.RoleSiteStaff, identity.RoleReferringPhysician) {
		return Case{}, apperr.New(apperr.Forbidden, "cases are created by site staff and referring physicians")
	}
	if in.ReferringPhysicianID == uuid.Nil && p.Has(identity.RoleReferringPhysician) {
		in.ReferringPhysicianID = p.UserID
	}
	fields := map[string]string{}
	birth := validateNewCase(&in, s.now(), fields)
	if len(fields) == 0 {
		ok, err := s.q.UserInOrgWithRole(ctx, s.pool, casesdb.UserInOrgWithRoleParams{
			ID: in.ReferringPhysicianID, OrgID: p.OrgID, Role: string(identity.RoleReferringPhysician)})
		if err != nil {
			return Case{}, fmt.Errorf("check referring physician: %w", err)
		}
		if !ok {
			fields["referring_physician_id"] = "must be an active referring physician of your site"
		}
	}
	if len(in.Manifest) > 0 {
		if msg := validateManifest(in.Manifest); msg != "" {
			fields["manifest"] = msg
		}
	}
	if len(fields) > 0 {
		return Case{}, apperr.InvalidFields(fields)
	}
	var c Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		c, err = s.q.CaseInsert(ctx, tx, casesdb.CaseInsertParams{
			SiteOrgID: p.OrgID, CreatedBy: p.UserID, ReferringPhysicianID: in.ReferringPhysicianID,
			Specialty: in.Specialty, Priority: in.Priority, PatientName: in.PatientName, PatientBirthDate: birth,
			PatientSex: in.PatientSex, PatientMrn: in.PatientMRN, ClinicalQuestion: in.ClinicalQuestion,
			History: in.History, LesionBodySite: optional(in.LesionBodySite), LesionDuration: optional(in.LesionDuration),
		})
		if err != nil {
			return postgres.Translate(err, "case")
		}
		if err := s.event(ctx, tx, c.ID, p, "created", nil, StatusDraft, nil); err != nil {
			return err
		}
		if len(in.Manifest) > 0 {
			if err := s.sealManifest(ctx, tx, c, p, in.Manifest); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.create", ObjectType: "case",
			ObjectID: c.ID.String(), ObjectOrgID: &c.SiteOrgID}); err != nil {
			return err
		}
		if then != nil {
			return then(ctx, tx, c)
		}
		return nil
	})
	if err != nil {
		return Case{}, err
	}
	return c, nil
}

func validateNewCase(in *NewCase, now time.Time, fields map[string]string) time.Time {
	in.PatientName = strings.TrimSpace(in.PatientName)
	in.PatientMRN = strings.TrimSpace(in.PatientMRN)
	in.ClinicalQuestion = strings.TrimSpace(in.ClinicalQuestion)
	if in.Specialty != identity.SpecialtyDermatology && in.Specialty != identity.SpecialtyRadiology {
		fields["specialty"] = "must be dermatology or radiology"
	}
	if !ValidPriority(in.Priority) {
		fields["priority"] = "must be stat, urgent or routine"
	}
	if in.PatientName == "" || len(in.PatientName) > 200 {
		fields["patient.name"] = "is required (at most 200 characters)"
	}
	birth, err := time.Parse(time.DateOnly, in.PatientBirthDate)
	if err != nil {
		fields["patient.birth_date"] = "must be a date like 1980-04-30"
	} else if birth.After(now) || birth.Year() < 1880 {
		fields["patient.birth_date"] = "must be a real date in the past"
	}
	switch in.PatientSex {
	case "F", "M", "O", "U":
	default:
		fields["patient.sex"] = "must be F, M, O or U"
	}
	if in.PatientMRN == "" || len(in.PatientMRN) > 64 {
		fields["patient.mrn"] = "is required (at most 64 characters)"
	}
	if in.ClinicalQuestion == "" || len(in.ClinicalQuestion) > 4000 {
		fields["clinical_question"] = "is required (at most 4000 characters)"
	}
	if len(in.History) > 20000 {
		fields["history"] = "must be at most 20000 characters"
	}
	if in.Specialty == identity.SpecialtyDermatology && strings.TrimSpace(in.LesionBodySite) == "" {
		fields["lesion.body_site"] = "is required for dermatology"
	}
	if in.ReferringPhysicianID == uuid.Nil {
		fields["referring_physician_id"] = "is required"
	}
	return birth
}

func optional(s string) *string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return &s
}

// Get returns a case p may see, and audits the read (the case carries
// patient data).
func (s *Service) Get(ctx context.Context, p *identity.Principal, id uuid.UUID) (Case, error) {
	c, err := s.q.CaseGet(ctx, s.pool, s.getParams(p, id))
	if err != nil {
		return Case{}, postgres.Translate(err, "case")
	}
	err = audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "case.view", ObjectType: "case",
		ObjectID: c.ID.String(), ObjectOrgID: &c.SiteOrgID})
	return c, err
}

// Visible returns the case if p may see it, without auditing: for callers
// that audit their own read (file downloads).
func (s *Service) Visible(ctx context.Context, db postgres.DB, p *identity.Principal, id uuid.UUID) (Case, error) {
	c, err := s.q.CaseGet(ctx, db, s.getParams(p, id))
	return c, postgres.Translate(err, "case")
}

func (s *Service) getParams(p *identity.Principal, id uuid.UUID) casesdb.CaseGetParams {
	return casesdb.CaseGetParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: siteWide(p), UserID: p.UserID}
}

// Filter selects cases for List.
type Filter struct {
	Status    *string
	Specialty *string
	// Cursor is the last case of the previous page.
	Cursor *Cursor
	Limit  int
}

// Cursor is a position in the newest-first list.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// List returns the cases p may see, newest first, and audits the read.
func (s *Service) List(ctx context.Context, p *identity.Principal, f Filter) ([]Case, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	params := casesdb.CaseListParams{Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: siteWide(p),
		UserID: p.UserID, Status: f.Status, Specialty: f.Specialty, Lim: int32(f.Limit)}
	if f.Cursor != nil {
		params.BeforeCreated, params.BeforeID = &f.Cursor.CreatedAt, &f.Cursor.ID
	}
	list, err := s.q.CaseList(ctx, s.pool, params)
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	if len(list) > 0 {
		ids := make([]string, len(list))
		for i, c := range list {
			ids[i] = c.ID.String()
		}
		org := p.OrgID
		if err := audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "case.list", ObjectType: "case",
			ObjectID: "*", ObjectOrgID: &org, Details: map[string]any{"case_ids": ids}}); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// Events returns the timeline of a case p may see.
//
// The timeline carries clinical messages (requests for information,
// reasons), so reading it is audited like reading the case.
func (s *Service) Events(ctx context.Context, p *identity.Principal, id uuid.UUID) ([]Event, error) {
	c, err := s.Visible(ctx, s.pool, p, id)
	if err != nil {
		return nil, err
	}
	sc := ScopeOf(p).Params()
	evs, err := s.q.EventList(ctx, s.pool, casesdb.EventListParams{CaseID: id, Platform: sc.Platform,
		SiteOrgID: sc.SiteOrgID, ReadingGroupID: sc.ReadingGroupID})
	if err != nil {
		return nil, fmt.Errorf("case events: %w", err)
	}
	err = audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "case.events", ObjectType: "case",
		ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	return evs, err
}

// event appends to a case's timeline inside tx.
func (s *Service) event(ctx context.Context, tx pgx.Tx, caseID uuid.UUID, p *identity.Principal, kind string,
	from *Status, to Status, details map[string]any) error {
	return AppendEvent(ctx, tx, caseID, p, kind, from, to, details)
}

// AppendEvent appends an entry to a case's timeline inside tx. p may be nil
// for the system (workers); to may be "" when the status does not change.
func AppendEvent(ctx context.Context, tx pgx.Tx, caseID uuid.UUID, p *identity.Principal, kind string,
	from *Status, to Status, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	js, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("case event details: %w", err)
	}
	var actor *uuid.UUID
	if p != nil {
		id := p.UserID
		actor = &id
	}
	var fromS, toS *string
	if from != nil {
		f := string(*from)
		fromS = &f
	}
	if to != "" {
		t := string(to)
		toS = &t
	}
	_, err = casesdb.New().EventInsert(ctx, tx, casesdb.EventInsertParams{CaseID: caseID, ActorID: actor, Kind: kind,
		FromStatus: fromS, ToStatus: toS, Details: js})
	if err != nil {
		return fmt.Errorf("case event: %w", err)
	}
	return nil
}

// Transition moves a case to `to` from one of the states the transition
// table allows, inside tx, and records it on the timeline: Move in p's
// scope, or, when p is nil (the system), in a job's scope. A case in another
// state is a Conflict naming its state.
//
// from is the state the caller saw (for the timeline and the message).
func Transition(ctx context.Context, tx pgx.Tx, id uuid.UUID, from Status, p *identity.Principal, to Status, details map[string]any) (Case, error) {
	next, err := Move(ctx, tx, scopeFor(p), id, Step{From: from, To: to})
	if err != nil {
		return Case{}, err
	}
	if err := AppendEvent(ctx, tx, id, p, "status", &from, to, details); err != nil {
		return Case{}, err
	}
	return next, nil
}

// SpecialistOf checks that p is a specialist of a reading group: others
// cannot see the case at all (NotFound); a member of the group without the
// role is Forbidden to do what `does` says ("claim cases").
func SpecialistOf(p *identity.Principal, does string) error {
	if p.OrgKind != identity.OrgReadingGroup {
		return apperr.New(apperr.NotFound, "case not found")
	}
	if !p.Has(identity.RoleSpecialist) {
		return apperr.New(apperr.Forbidden, "only specialists of the reading group %s", does)
	}
	return nil
}
