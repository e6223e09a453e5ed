package cases

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases/casesdb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// Scope is whose cases a statement may touch: the caller's organisation as
// a site (the cases it sends) or as a reading group (the cases routed to
// it), every case for a platform admin, or, for a job, the one case its
// arguments name. It goes into the WHERE clause of every statement on the
// cases table; the zero Scope matches no case.
type Scope struct {
	platform bool
	worker   bool
	site     uuid.UUID
	group    uuid.UUID
}

// ScopeOf is p's scope: every case for a platform admin, else the cases of
// p's organisation as a site or as a reading group.
func ScopeOf(p *identity.Principal) Scope {
	switch {
	case p.IsPlatformAdmin():
		return Scope{platform: true}
	case p.OrgKind == identity.OrgReadingGroup:
		return Scope{group: p.OrgID}
	default:
		return Scope{site: p.OrgID}
	}
}

// SiteScope is the scope of site org: the cases it sends.
func SiteScope(org uuid.UUID) Scope { return Scope{site: org} }

// GroupScope is the scope of reading group org: the cases routed to it.
func GroupScope(org uuid.UUID) Scope { return Scope{group: org} }

// WorkerScope is a job's scope: the case its arguments name. Lock and
// Read find that case by id alone; the other statements then run in the
// case's own site scope.
func WorkerScope() Scope { return Scope{worker: true} }

// scopeFor is p's scope, or a job's when p is nil (the system).
func scopeFor(p *identity.Principal) Scope {
	if p == nil {
		return WorkerScope()
	}
	return ScopeOf(p)
}

// ScopeParams are a Scope as statement parameters (@platform, @site_org_id,
// @reading_group_id), for the queries of other packages that reach a case's
// rows. A worker's scope matches nothing here: resolve it first (Lock or
// Read, then SiteScope of the case).
type ScopeParams struct {
	Platform       bool
	SiteOrgID      uuid.UUID
	ReadingGroupID *uuid.UUID
}

// Params returns the statement parameters of s.
func (s Scope) Params() ScopeParams {
	out := ScopeParams{Platform: s.platform, SiteOrgID: s.site}
	if s.group != uuid.Nil {
		g := s.group
		out.ReadingGroupID = &g
	}
	return out
}

// Lock locks case id for a change inside tx, if it is in scope; otherwise
// it is NotFound. Lock is the one way other packages lock a case.
func Lock(ctx context.Context, tx pgx.Tx, sc Scope, id uuid.UUID) (Case, error) {
	q := casesdb.New()
	var c Case
	var err error
	if sc.worker {
		c, err = q.CaseLockWorker(ctx, tx, id)
	} else {
		pp := sc.Params()
		c, err = q.CaseLock(ctx, tx, casesdb.CaseLockParams{ID: id, Platform: pp.Platform, SiteOrgID: pp.SiteOrgID,
			ReadingGroupID: pp.ReadingGroupID})
	}
	return c, postgres.Translate(err, "case")
}

// Read returns case id if it is in scope; otherwise it is NotFound. For
// packages that have checked the finer visibility themselves.
func Read(ctx context.Context, db postgres.DB, sc Scope, id uuid.UUID) (Case, error) {
	q := casesdb.New()
	var c Case
	var err error
	if sc.worker {
		c, err = q.CaseReadWorker(ctx, db, id)
	} else {
		pp := sc.Params()
		c, err = q.CaseRead(ctx, db, casesdb.CaseReadParams{ID: id, Platform: pp.Platform, SiteOrgID: pp.SiteOrgID,
			ReadingGroupID: pp.ReadingGroupID})
	}
	return c, postgres.Translate(err, "case")
}

// ErrRefused is wrapped by the Conflict Move returns when the case is not
// in a state it may move from (or, for a guarded move, not held by the
// given specialist).
var ErrRefused = errors.New("transition refused")

// Step is one change of a case's status and the columns that change with
// it.
type Step struct {
	// To is the new status.
	To Status
	// From is the status the caller saw under its lock, for the message of
	// a refusal; the statement itself checks the table.
	From Status
	// Only narrows the states the table allows To from, for a transition
	// that is one case of several (a release leaves only in_review).
	Only []Status
	// Specialist, moving to in_review, holds the claim from now on for
	// Lease (assigned_to, claimed_at, claim_expires_at); moving to
	// in_review or info_requested it is the case's last specialist.
	Specialist *uuid.UUID
	Lease      time.Duration
	// InfoRequest is the message of a move to info_requested.
	InfoRequest *string
	// Route, moving submitted → routed, names the reading group.
	Route *Route
	// Held, when set, refuses a case in review whose claim is not held by
	// Held.By, unless Held.OrLapsed and the claim has lapsed.
	Held *Held
}

// Route is where routing sends a case.
type Route struct {
	ReadingGroupID uuid.UUID
	RuleID         *uuid.UUID
	DueAt          time.Time
}

// Held guards a move of a case in review by its claim.
type Held struct {
	By       *uuid.UUID
	OrLapsed bool
}

// Move changes case id's status inside tx, in the caller's scope, from a
// state the transition table (allowedFrom) allows for st.To, checked in the
// statement itself. A refused move is a Conflict wrapping ErrRefused; a
// case out of scope is NotFound. The timeline is the caller's (AppendEvent).
func Move(ctx context.Context, tx pgx.Tx, sc Scope, id uuid.UUID, st Step) (Case, error) {
	if sc.worker {
		c, err := Lock(ctx, tx, sc, id)
		if err != nil {
			return Case{}, err
		}
		sc = SiteScope(c.SiteOrgID)
	}
	from := allowedFrom[st.To]
	if len(st.Only) > 0 {
		var narrowed []Status
		for _, s := range from {
			for _, o := range st.Only {
				if s == o {
					narrowed = append(narrowed, s)
				}
			}
		}
		from = narrowed
	}
	pp := sc.Params()
	arg := casesdb.CaseMoveParams{ID: id, ToStatus: string(st.To), FromStatuses: statusStrings(from),
		Platform: pp.Platform, SiteOrgID: pp.SiteOrgID, ReadingGroupID: pp.ReadingGroupID,
		SpecialistID: st.Specialist, Lease: st.Lease, InfoRequest: st.InfoRequest}
	if st.Route != nil {
		g, due := st.Route.ReadingGroupID, st.Route.DueAt
		arg.Route, arg.RouteGroupID, arg.RoutingRuleID, arg.DueAt = true, &g, st.Route.RuleID, &due
	}
	if st.Held != nil {
		arg.CheckHolder, arg.Holder, arg.LapsedOk = true, st.Held.By, st.Held.OrLapsed
	}
	c, err := casesdb.New().CaseMove(ctx, tx, arg)
	if errors.Is(err, pgx.ErrNoRows) {
		return Case{}, apperr.Wrap(ErrRefused, apperr.Conflict, "the case is %s and cannot become %s", st.From, st.To)
	}
	if err != nil {
		return Case{}, fmt.Errorf("case status: %w", err)
	}
	return c, nil
}

// MarkUnrouted records on a submitted case why routing could not send it
// anywhere, inside tx and in scope (a job's: the routing job).
func MarkUnrouted(ctx context.Context, tx pgx.Tx, sc Scope, id uuid.UUID, reason string) error {
	c, err := Lock(ctx, tx, sc, id)
	if err != nil {
		return err
	}
	if err := casesdb.New().CaseSetUnrouted(ctx, tx, casesdb.CaseSetUnroutedParams{ID: id, SiteOrgID: c.SiteOrgID,
		Reason: &reason}); err != nil {
		return fmt.Errorf("mark unrouted: %w", err)
	}
	return nil
}

// RenewClaim extends specialist's claim on a case routed to reading group
// group by lease, inside tx; a case the specialist does not hold is left as
// it is.
func RenewClaim(ctx context.Context, tx pgx.Tx, group, id, specialist uuid.UUID, lease time.Duration) error {
	if _, err := casesdb.New().CaseRenewClaim(ctx, tx, casesdb.CaseRenewClaimParams{ID: id, ReadingGroupID: &group,
		SpecialistID: &specialist, Lease: lease}); err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}
