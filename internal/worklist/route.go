package worklist

import (
	"context"
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

// Decision is what routing did with a case.
type Decision struct {
	CaseID         uuid.UUID
	Routed         bool
	ReadingGroupID uuid.UUID
	RuleID         *uuid.UUID
	DueAt          time.Time
	// Reason says why a case was not routed.
	Reason string
	// Skipped is set when the case was no longer waiting for routing (a
	// retried job, or a case cancelled meanwhile).
	Skipped bool
}

// Route sends a submitted case to a reading group: a case returning after
// "more information" goes back to the same group (and, while they are
// active, to the same specialist); otherwise the first enabled rule of the
// case's specialty that matches its modality, body site and sending site,
// then the specialty's default. The due time comes from the group's service
// level for the priority. A case no rule matches stays submitted, marked
// unrouted with the reason, for admins to see. Route is idempotent.
func (s *Service) Route(ctx context.Context, caseID uuid.UUID) (Decision, error) {
	d := Decision{CaseID: caseID}
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := cases.Lock(ctx, tx, cases.WorkerScope(), caseID)
		if err != nil {
			return fmt.Errorf("lock case %s: %w", caseID, err)
		}
		if c.Status != string(cases.StatusSubmitted) {
			d.Skipped = true
			return nil
		}
		returning := c.ReadingGroupID != nil
		if returning {
			d.ReadingGroupID = *c.ReadingGroupID
		} else {
			rule, reason, err := s.match(ctx, tx, c)
			if err != nil {
				return err
			}
			if rule == nil {
				d.Reason = reason
				if err := cases.MarkUnrouted(ctx, tx, cases.WorkerScope(), caseID, reason); err != nil {
					return err
				}
				if err := cases.AppendEvent(ctx, tx, caseID, nil, "unrouted", nil, "", map[string]any{"reason": reason}); err != nil {
					return err
				}
				return audit.Record(ctx, tx, audit.Event{Action: "case.unrouted", ObjectType: "case",
					ObjectID: caseID.String(), ObjectOrgID: &c.SiteOrgID})
			}
			d.ReadingGroupID, d.RuleID = rule.ReadingGroupID, &rule.ID
		}
		st, err := s.settings(ctx, tx, d.ReadingGroupID)
		if err != nil {
			return err
		}
		d.DueAt = time.Now().Add(SLA(st, c.Priority)).UTC().Truncate(time.Second)
		details := map[string]any{"reading_group_id": d.ReadingGroupID.String(), "due_at": d.DueAt.Format(time.RFC3339),
			"returning": returning}
		if d.RuleID != nil {
			details["rule_id"] = d.RuleID.String()
		}
		cur, err := cases.Move(ctx, tx, cases.WorkerScope(), caseID, cases.Step{From: cases.StatusSubmitted,
			To: cases.StatusRouted, Only: []cases.Status{cases.StatusSubmitted},
			Route: &cases.Route{ReadingGroupID: d.ReadingGroupID, RuleID: d.RuleID, DueAt: d.DueAt}})
		if err != nil {
			return fmt.Errorf("route case: %w", err)
		}
		from := cases.StatusSubmitted
		if err := cases.AppendEvent(ctx, tx, caseID, nil, "status", &from, cases.StatusRouted, details); err != nil {
			return err
		}
		d.Routed = true
		if returning && cur.LastSpecialistID != nil {
			ok, err := s.q.SpecialistInGroup(ctx, tx, worklistdb.SpecialistInGroupParams{ID: *cur.LastSpecialistID, OrgID: d.ReadingGroupID})
			if err != nil {
				return fmt.Errorf("check specialist: %w", err)
			}
			if ok {
				if _, err := cases.Move(ctx, tx, cases.WorkerScope(), caseID, cases.Step{From: cases.StatusRouted,
					To: cases.StatusInReview, Only: []cases.Status{cases.StatusRouted},
					Specialist: cur.LastSpecialistID, Lease: st.ClaimLease}); err != nil {
					return fmt.Errorf("return to specialist: %w", err)
				}
				from := cases.StatusRouted
				if err := cases.AppendEvent(ctx, tx, caseID, nil, "returned_to_specialist", &from, cases.StatusInReview,
					map[string]any{"specialist_id": cur.LastSpecialistID.String()}); err != nil {
					return err
				}
			}
		}
		return audit.Record(ctx, tx, audit.Event{Action: "case.route", ObjectType: "case", ObjectID: caseID.String(),
			ObjectOrgID: &c.SiteOrgID, Details: details})
	})
	return d, err
}

// match returns the first rule that matches c, or nil and why none did.
func (s *Service) match(ctx context.Context, tx pgx.Tx, c cases.Case) (*Rule, string, error) {
	rules, err := s.q.RulesForSpecialty(ctx, tx, c.Specialty)
	if err != nil {
		return nil, "", fmt.Errorf("routing rules: %w", err)
	}
	modalities, err := s.q.CaseModalities(ctx, tx, c.ID)
	if err != nil {
		return nil, "", fmt.Errorf("case modalities: %w", err)
	}
	sites, err := s.q.CaseBodyParts(ctx, tx, c.ID)
	if err != nil {
		return nil, "", fmt.Errorf("case body parts: %w", err)
	}
	if c.LesionBodySite != nil {
		sites = append(sites, strings.ToLower(*c.LesionBodySite))
	}
	for i := range rules {
		r := rules[i]
		if r.Modality != nil && !contains(upperAll(modalities), *r.Modality) {
			continue
		}
		if r.BodySite != nil && !anyContains(sites, *r.BodySite) {
			continue
		}
		if r.SiteOrgID != nil && *r.SiteOrgID != c.SiteOrgID {
			continue
		}
		return &r, "", nil
	}
	reason := fmt.Sprintf("no routing rule matches this %s case", c.Specialty)
	if len(modalities) > 0 {
		reason += fmt.Sprintf(" (modalities %s)", strings.Join(modalities, ", "))
	}
	if len(rules) == 0 {
		reason += fmt.Sprintf(" and there is no %s rule at all, not even a default", c.Specialty)
	} else {
		reason += fmt.Sprintf(" and %s has no default rule", c.Specialty)
	}
	return nil, reason + "; an admin must add a rule and re-route it", nil
}

func upperAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToUpper(s)
	}
	return out
}

// anyContains reports whether one of the case's body sites mentions the
// rule's ("arm" matches "left forearm").
func anyContains(sites []string, want string) bool {
	for _, s := range sites {
		if strings.Contains(s, want) {
			return true
		}
	}
	return false
}

// Unrouted is a submitted case no routing rule matched, waiting for a
// platform admin.
type Unrouted struct {
	CaseID      uuid.UUID
	SiteOrgID   uuid.UUID
	Specialty   string
	Priority    string
	SubmittedAt *time.Time
	// Reason says why no rule matched.
	Reason string
}

// Unrouted lists submitted cases no rule matched, oldest first. Platform
// admins only.
func (s *Service) Unrouted(ctx context.Context, p *identity.Principal) ([]Unrouted, error) {
	if !p.IsPlatformAdmin() {
		return nil, apperr.New(apperr.Forbidden, "only platform admins see unrouted cases")
	}
	list, err := s.q.UnroutedList(ctx, s.pool, p.IsPlatformAdmin())
	if err != nil {
		return nil, fmt.Errorf("unrouted cases: %w", err)
	}
	out := make([]Unrouted, 0, len(list))
	for _, c := range list {
		u := Unrouted{CaseID: c.ID, SiteOrgID: c.SiteOrgID, Specialty: c.Specialty, Priority: c.Priority,
			SubmittedAt: c.SubmittedAt}
		if c.UnroutedReason != nil {
			u.Reason = *c.UnroutedReason
		}
		out = append(out, u)
	}
	return out, nil
}
