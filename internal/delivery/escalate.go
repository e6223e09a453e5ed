package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery/deliverydb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// The kinds of escalation.
const (
	// EscalationCritical is a critical report not acknowledged in time:
	// level 1 reminds the referring physician after the reading group's
	// CriticalAckWithin, level 2 goes to the site's admins after twice that.
	EscalationCritical = "critical_unacknowledged"
	// EscalationOverdue is a worklist case within OverdueLead of its due
	// time, or past it: its reading group's admins are told, once.
	EscalationOverdue = "overdue"
)

// OverdueLead is how long before its due time a worklist case is flagged.
const OverdueLead = 15 * time.Minute

// Escalation is one escalation of something late.
type Escalation struct {
	ID           uuid.UUID
	Kind         string
	CaseID       uuid.UUID
	ReportID     *uuid.UUID
	ReportStatus *string
	Level        int
	TargetOrgID  uuid.UUID
	TargetRole   string
	TargetUserID *uuid.UUID
	Details      map[string]any
	CreatedAt    time.Time
}

func toEscalation(e deliverydb.Escalation) Escalation {
	out := Escalation{ID: e.ID, Kind: e.Kind, CaseID: e.CaseID, ReportID: e.ReportID, ReportStatus: e.ReportStatus,
		Level: int(e.Level), TargetOrgID: e.TargetOrgID, TargetRole: e.TargetRole, TargetUserID: e.TargetUserID,
		CreatedAt: e.CreatedAt, Details: map[string]any{}}
	_ = json.Unmarshal(e.Details, &out.Details)
	return out
}

// EscalateResult counts what one run of Escalate escalated.
type EscalateResult struct {
	Critical int
	Overdue  int
}

// Escalate escalates what is late: critical reports not acknowledged in
// time, and worklist cases near or past their due time. It is run every
// minute by a periodic job, by any number of workers at once: each level of
// each subject is escalated exactly once (a unique index holds it).
func (s *Service) Escalate(ctx context.Context) (EscalateResult, error) {
	var res EscalateResult
	rows, err := s.q.CriticalUnacknowledged(ctx, s.pool)
	if err != nil {
		return res, fmt.Errorf("critical unacknowledged: %w", err)
	}
	for _, r := range rows {
		for level := 1; level <= int(r.DueLevel); level++ {
			done, err := s.escalateCritical(ctx, r, level)
			if err != nil {
				return res, err
			}
			if done {
				res.Critical++
			}
		}
	}
	n, err := s.flagOverdue(ctx)
	res.Overdue = n
	return res, err
}

func (s *Service) escalateCritical(ctx context.Context, r deliverydb.CriticalUnacknowledgedRow, level int) (bool, error) {
	done := false
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		role, user := "referring_physician", &r.ReferringPhysicianID
		if level >= 2 {
			role, user = string(identity.RoleOrgAdmin), nil
		}
		details, _ := json.Marshal(map[string]any{"delivered_at": r.DeliveredAt.UTC(), "ack_within": r.AckWithin.String()})
		status := r.Status
		e, err := s.q.EscalationInsert(ctx, tx, deliverydb.EscalationInsertParams{Kind: EscalationCritical, CaseID: r.CaseID,
			ReportID: &r.ReportID, ReportStatus: &status, Level: int16(level), TargetOrgID: r.SiteOrgID, TargetRole: role,
			TargetUserID: user, Details: details})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // escalated before
		}
		if err != nil {
			return fmt.Errorf("record escalation: %w", err)
		}
		if level == 1 {
			// The reminder: the item is unread again, flagged, on top.
			if err := s.q.InboxSetReminded(ctx, tx, r.ReportID); err != nil {
				return fmt.Errorf("remind: %w", err)
			}
		}
		done = true
		return cases.AppendEvent(ctx, tx, r.CaseID, nil, "escalated", nil, "", map[string]any{"escalation_id": e.ID,
			"kind": EscalationCritical, "level": level, "report_id": r.ReportID, "report_status": r.Status,
			"target_role": role, "target_org_id": r.SiteOrgID})
	})
	return done, err
}

// flagOverdue flags the worklist cases due within OverdueLead, or past due,
// and escalates each to its reading group's admins.
func (s *Service) flagOverdue(ctx context.Context) (int, error) {
	n := 0
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := s.q.OverdueCandidates(ctx, tx, OverdueLead)
		if err != nil {
			return fmt.Errorf("overdue cases: %w", err)
		}
		for _, c := range rows {
			flagged, err := s.q.CaseFlagOverdue(ctx, tx, c.ID)
			if err != nil {
				return fmt.Errorf("flag overdue: %w", err)
			}
			if flagged == 0 {
				continue
			}
			details, _ := json.Marshal(map[string]any{"due_at": c.DueAt.UTC(), "status": c.Status})
			e, err := s.q.EscalationInsert(ctx, tx, deliverydb.EscalationInsertParams{Kind: EscalationOverdue, CaseID: c.ID,
				Level: 1, TargetOrgID: *c.ReadingGroupID, TargetRole: string(identity.RoleOrgAdmin), Details: details})
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("record escalation: %w", err)
			}
			if err := cases.AppendEvent(ctx, tx, c.ID, nil, "escalated", nil, "", map[string]any{"escalation_id": e.ID,
				"kind": EscalationOverdue, "level": 1, "due_at": c.DueAt.UTC(), "target_role": string(identity.RoleOrgAdmin),
				"target_org_id": *c.ReadingGroupID}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// EscalationQuery filters Escalations.
type EscalationQuery struct {
	Kind  *string
	Limit int
}

// Escalations returns the escalations of the cases of p's organisation (the
// site that sent them or the reading group that reads them), newest first;
// platform admins see all.
func (s *Service) Escalations(ctx context.Context, p *identity.Principal, q EscalationQuery) ([]Escalation, error) {
	if !p.HasAny(identity.RoleOrgAdmin, identity.RolePlatformAdmin) {
		return nil, apperr.New(apperr.Forbidden, "escalations are for admins")
	}
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	if q.Kind != nil && *q.Kind != EscalationCritical && *q.Kind != EscalationOverdue {
		return nil, apperr.InvalidFields(map[string]string{"kind": "must be critical_unacknowledged or overdue"})
	}
	rows, err := s.q.EscalationList(ctx, s.pool, deliverydb.EscalationListParams{Platform: p.IsPlatformAdmin(),
		OrgID: p.OrgID, Kind: q.Kind, Lim: int32(q.Limit)})
	if err != nil {
		return nil, fmt.Errorf("escalations: %w", err)
	}
	out := make([]Escalation, len(rows))
	for i, r := range rows {
		out[i] = toEscalation(r)
	}
	return out, nil
}
