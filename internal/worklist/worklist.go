package worklist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/worklist/worklistdb"
)

// Item is one case on a worklist.
type Item struct {
	CaseID           uuid.UUID
	Status           string
	Specialty        string
	Priority         string
	DueAt            *time.Time
	Overdue          bool
	RoutedAt         *time.Time
	AssignedTo       *uuid.UUID
	ClaimExpiresAt   *time.Time
	PatientName      string
	PatientSex       string
	PatientBirthDate time.Time
	ClinicalQuestion string
	LesionBodySite   *string
	Modalities       []string
	Files            int
	SiteName         string
	// AwaitingSecondRead is set when a preliminary report is signed and the
	// case waits for a second specialist to sign it final.
	AwaitingSecondRead bool
	priorityRank       int16
}

// Query filters a worklist.
type Query struct {
	Specialty *string
	Priority  *string
	Modality  *string
	Status    *string // routed or in_review
	Overdue   bool
	Mine      bool
	Cursor    *Cursor
	Limit     int
}

// Cursor is a position in the worklist order (priority, due time, id).
type Cursor struct {
	PriorityRank int16
	DueAt        time.Time
	ID           uuid.UUID
}

// Page is a worklist page with the counts per priority of the whole list.
type Page struct {
	Items      []Item
	Next       *Cursor
	Counts     map[string]int
	Overdue    map[string]int
	TotalCount int
}

// List returns the worklist of p's reading group, ordered by priority and
// then due time, with cursor pagination, and audits the read (it shows
// patients). Filters are combined with a small query builder: this is the
// genuinely dynamic search of the worklist.
func (s *Service) List(ctx context.Context, p *identity.Principal, q Query) (Page, error) {
	if p.OrgKind != identity.OrgReadingGroup {
		return Page{}, apperr.New(apperr.Forbidden, "the worklist belongs to reading groups")
	}
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	where := []string{"c.reading_group_id = $1", "c.status IN ('routed', 'in_review')"}
	args := []any{p.OrgID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.Specialty != nil {
		add("c.specialty = ?", *q.Specialty)
	}
	if q.Priority != nil {
		add("c.priority = ?", *q.Priority)
	}
	if q.Status != nil {
		add("c.status = ?", *q.Status)
	}
	if q.Modality != nil {
		add(`EXISTS (SELECT 1 FROM dicom_series ds JOIN dicom_studies st ON st.id = ds.study_id
			WHERE st.case_id = c.id AND ds.modality = ?)`, strings.ToUpper(*q.Modality))
	}
	if q.Overdue {
		where = append(where, "c.due_at < now()")
	}
	if q.Mine {
		add("c.assigned_to = ?", p.UserID)
	}
	if q.Cursor != nil {
		args = append(args, q.Cursor.PriorityRank, q.Cursor.DueAt, q.Cursor.ID)
		n := len(args)
		where = append(where, fmt.Sprintf("(c.priority_rank, c.due_at, c.id) > ($%d, $%d, $%d)", n-2, n-1, n))
	}
	args = append(args, q.Limit)
	sql := `SELECT c.id, c.status, c.specialty, c.priority, c.priority_rank, c.due_at, c.due_at < now(), c.routed_at,
		c.assigned_to, c.claim_expires_at, c.patient_name, c.patient_sex, c.patient_birth_date, c.clinical_question,
		c.lesion_body_site,
		coalesce((SELECT array_agg(DISTINCT ds.modality) FROM dicom_series ds JOIN dicom_studies st ON st.id = ds.study_id
			WHERE st.case_id = c.id AND ds.modality <> ''), '{}'),
		(SELECT count(*) FROM files f WHERE f.case_id = c.id)::int,
		o.name,
		EXISTS (SELECT 1 FROM reports r WHERE r.case_id = c.id AND r.status = 'preliminary')
		FROM cases c JOIN orgs o ON o.id = c.site_org_id
		WHERE ` + strings.Join(where, " AND ") + fmt.Sprintf(`
		ORDER BY c.priority_rank, c.due_at, c.id LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("worklist: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		var it Item
		var overdue *bool
		err := r.Scan(&it.CaseID, &it.Status, &it.Specialty, &it.Priority, &it.priorityRank, &it.DueAt, &overdue,
			&it.RoutedAt, &it.AssignedTo, &it.ClaimExpiresAt, &it.PatientName, &it.PatientSex, &it.PatientBirthDate,
			&it.ClinicalQuestion, &it.LesionBodySite, &it.Modalities, &it.Files, &it.SiteName,
			&it.AwaitingSecondRead)
		it.Overdue = overdue != nil && *overdue
		return it, err
	})
	if err != nil {
		return Page{}, fmt.Errorf("worklist rows: %w", err)
	}
	page := Page{Items: items, Counts: map[string]int{}, Overdue: map[string]int{}}
	for _, pr := range cases.Priorities {
		page.Counts[pr], page.Overdue[pr] = 0, 0
	}
	if len(items) == q.Limit {
		last := items[len(items)-1]
		if last.DueAt != nil {
			page.Next = &Cursor{PriorityRank: last.priorityRank, DueAt: *last.DueAt, ID: last.CaseID}
		}
	}
	counts, err := s.q.WorklistCounts(ctx, s.pool, &p.OrgID)
	if err != nil {
		return Page{}, fmt.Errorf("worklist counts: %w", err)
	}
	for _, c := range counts {
		page.Counts[c.Priority] = int(c.N)
		page.Overdue[c.Priority] = int(c.Overdue)
		page.TotalCount += int(c.N)
	}
	if len(items) > 0 {
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = it.CaseID.String()
		}
		org := p.OrgID
		if err := audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "worklist.view", ObjectType: "case",
			ObjectID: "*", ObjectOrgID: &org, Details: map[string]any{"case_ids": ids}}); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

// Claim gives a routed case to p with a lease. Of many concurrent claims
// exactly one wins; the others get Conflict. Claiming a case one already
// holds renews the lease; an expired lease can be taken over.
func (s *Service) Claim(ctx context.Context, p *identity.Principal, id uuid.UUID) (cases.Case, error) {
	if err := cases.SpecialistOf(p, "claim cases"); err != nil {
		return cases.Case{}, err
	}
	var out cases.Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := cases.Lock(ctx, tx, cases.GroupScope(p.OrgID), id)
		if err != nil {
			return err
		}
		if cur.Specialty != "" && !contains(p.Specialties, cur.Specialty) {
			return apperr.New(apperr.Forbidden, "this is a %s case and you do not read %s", cur.Specialty, cur.Specialty)
		}
		st, err := s.settings(ctx, tx, p.OrgID)
		if err != nil {
			return err
		}
		spec := p.UserID
		from := cases.Status(cur.Status)
		c, err := cases.Move(ctx, tx, cases.GroupScope(p.OrgID), id, cases.Step{From: from, To: cases.StatusInReview,
			Specialist: &spec, Lease: st.ClaimLease, Held: &cases.Held{By: &spec, OrLapsed: true}})
		if errors.Is(err, cases.ErrRefused) {
			if cur.Status == string(cases.StatusInReview) {
				return apperr.New(apperr.Conflict, "another specialist has claimed this case")
			}
			return apperr.New(apperr.Conflict, "the case is %s and cannot be claimed", cur.Status)
		}
		if err != nil {
			return err
		}
		if err := cases.AppendEvent(ctx, tx, id, p, "claimed", &from, cases.StatusInReview,
			map[string]any{"lease_expires_at": c.ClaimExpiresAt.UTC().Format(time.RFC3339)}); err != nil {
			return err
		}
		out = c
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.claim", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	})
	if err == nil && s.observe != nil && out.RoutedAt != nil && out.ClaimedAt != nil {
		s.observe("routed", "claimed", out.ClaimedAt.Sub(*out.RoutedAt))
	}
	return out, err
}

// Release gives a claimed case back to the worklist. A specialist releases
// their own claim; an admin of the group any claim.
func (s *Service) Release(ctx context.Context, p *identity.Principal, id uuid.UUID) (cases.Case, error) {
	if p.OrgKind != identity.OrgReadingGroup {
		return cases.Case{}, apperr.New(apperr.NotFound, "case not found")
	}
	var out cases.Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		sc := cases.GroupScope(p.OrgID)
		cur, err := cases.Lock(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		spec := p.UserID
		step := cases.Step{From: cases.Status(cur.Status), To: cases.StatusRouted, Only: []cases.Status{cases.StatusInReview}}
		if !p.Has(identity.RoleOrgAdmin) {
			step.Held = &cases.Held{By: &spec}
		}
		c, err := cases.Move(ctx, tx, sc, id, step)
		if errors.Is(err, cases.ErrRefused) {
			return apperr.New(apperr.Conflict, "the case is %s and not claimed by you", cur.Status)
		}
		if err != nil {
			return err
		}
		from := cases.StatusInReview
		if err := cases.AppendEvent(ctx, tx, id, p, "released", &from, cases.StatusRouted, nil); err != nil {
			return err
		}
		out = c
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.release", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	})
	return out, err
}

// Reassign gives a case of the group to another of its specialists. Admins
// of the reading group only.
func (s *Service) Reassign(ctx context.Context, p *identity.Principal, id, specialist uuid.UUID) (cases.Case, error) {
	if p.OrgKind != identity.OrgReadingGroup {
		return cases.Case{}, apperr.New(apperr.NotFound, "case not found")
	}
	if !p.Has(identity.RoleOrgAdmin) {
		return cases.Case{}, apperr.New(apperr.Forbidden, "only admins of the reading group reassign cases")
	}
	var out cases.Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		sc := cases.GroupScope(p.OrgID)
		cur, err := cases.Lock(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		ok, err := s.q.SpecialistInGroup(ctx, tx, worklistdb.SpecialistInGroupParams{ID: specialist, OrgID: p.OrgID})
		if err != nil {
			return fmt.Errorf("check specialist: %w", err)
		}
		if !ok {
			return apperr.InvalidFields(map[string]string{"specialist_id": "must be an active specialist of your reading group"})
		}
		st, err := s.settings(ctx, tx, p.OrgID)
		if err != nil {
			return err
		}
		from := cases.Status(cur.Status)
		c, err := cases.Move(ctx, tx, sc, id, cases.Step{From: from, To: cases.StatusInReview,
			Specialist: &specialist, Lease: st.ClaimLease})
		if errors.Is(err, cases.ErrRefused) {
			return apperr.New(apperr.Conflict, "the case is %s and cannot be reassigned", cur.Status)
		}
		if err != nil {
			return err
		}
		if err := cases.AppendEvent(ctx, tx, id, p, "reassigned", &from, cases.StatusInReview,
			map[string]any{"specialist_id": specialist.String()}); err != nil {
			return err
		}
		out = c
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.reassign", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID, Details: map[string]any{"specialist_id": specialist.String()}})
	})
	return out, err
}

// RequestInfo sends a case back to the site with a message. The site adds
// files and resubmits; routing then returns it to the same group and, when
// possible, the same specialist.
func (s *Service) RequestInfo(ctx context.Context, p *identity.Principal, id uuid.UUID, message string) (cases.Case, error) {
	if err := cases.SpecialistOf(p, "claim cases"); err != nil {
		return cases.Case{}, err
	}
	message = strings.TrimSpace(message)
	if message == "" || len(message) > 4000 {
		return cases.Case{}, apperr.InvalidFields(map[string]string{"message": "say what is needed (at most 4000 characters)"})
	}
	var out cases.Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		sc := cases.GroupScope(p.OrgID)
		cur, err := cases.Lock(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		spec := p.UserID
		from := cases.Status(cur.Status)
		c, err := cases.Move(ctx, tx, sc, id, cases.Step{From: from, To: cases.StatusInfoRequested,
			Specialist: &spec, InfoRequest: &message, Held: &cases.Held{By: &spec}})
		if errors.Is(err, cases.ErrRefused) {
			return apperr.New(apperr.Conflict, "the case is %s, or claimed by another specialist", cur.Status)
		}
		if err != nil {
			return err
		}
		if err := cases.AppendEvent(ctx, tx, id, p, "info_requested", &from, cases.StatusInfoRequested,
			map[string]any{"message": message}); err != nil {
			return err
		}
		out = c
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.request_info", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	})
	return out, err
}

// RenewLease extends p's claim, for example when a draft report is saved.
func (s *Service) RenewLease(ctx context.Context, tx pgx.Tx, p *identity.Principal, id uuid.UUID) error {
	st, err := s.settings(ctx, tx, p.OrgID)
	if err != nil {
		return err
	}
	return cases.RenewClaim(ctx, tx, p.OrgID, id, p.UserID, st.ClaimLease)
}

// ExpireLeases returns cases whose claim lapsed to the worklist, so that
// another specialist can take them. It returns how many it released.
func (s *Service) ExpireLeases(ctx context.Context) (int, error) {
	ids, err := s.q.ExpiredLeases(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("expired leases: %w", err)
	}
	n := 0
	for _, id := range ids {
		err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			_, err := cases.Move(ctx, tx, cases.WorkerScope(), id, cases.Step{From: cases.StatusInReview,
				To: cases.StatusRouted, Only: []cases.Status{cases.StatusInReview}, Held: &cases.Held{OrLapsed: true}})
			if errors.Is(err, cases.ErrRefused) {
				return nil // claimed again or finished meanwhile
			}
			if err != nil {
				return err
			}
			n++
			from := cases.StatusInReview
			return cases.AppendEvent(ctx, tx, id, nil, "lease_expired", &from, cases.StatusRouted, nil)
		})
		if err != nil {
			return n, fmt.Errorf("expire lease of %s: %w", id, err)
		}
	}
	return n, nil
}
