// Package worklist routes submitted cases to reading groups by
// admin-managed rules, sets their due time from the group's service levels,
// and serves the specialists' worklist with exclusive, expiring claims.
package worklist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/worklist/worklistdb"
)

// Rule is a routing rule.
type Rule = worklistdb.RoutingRule

// Settings are a reading group's service levels and reading options.
type Settings = worklistdb.ReadingGroupSetting

// DefaultSettings are used until a reading group sets its own.
func DefaultSettings(org uuid.UUID) Settings {
	return Settings{OrgID: org, SlaStat: time.Hour, SlaUrgent: 4 * time.Hour, SlaRoutine: 48 * time.Hour,
		ClaimLease: 30 * time.Minute, CriticalAckWithin: time.Hour}
}

// SLA returns the time allowed for a case of priority.
func SLA(s Settings, priority string) time.Duration {
	switch priority {
	case cases.Priorities[0]:
		return s.SlaStat
	case cases.Priorities[1]:
		return s.SlaUrgent
	default:
		return s.SlaRoutine
	}
}

// Service manages routing rules, routing and the worklist.
type Service struct {
	pool    *pgxpool.Pool
	q       *worklistdb.Queries
	observe func(from, to string, d time.Duration)
}

// Option configures a Service.
type Option func(*Service)

// WithObserver reports how long a case waited on the worklist before it was
// claimed (metrics; the package stays free of Prometheus).
func WithObserver(f func(from, to string, d time.Duration)) Option {
	return func(s *Service) { s.observe = f }
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, opts ...Option) *Service {
	s := &Service{pool: pool, q: worklistdb.New()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewRule is the input of CreateRule.
type NewRule struct {
	Position       int32
	Name           string
	Specialty      string
	Modality       string
	BodySite       string
	SiteOrgID      *uuid.UUID
	ReadingGroupID uuid.UUID
	IsDefault      bool
}

// CreateRule adds a routing rule. Platform admins only.
func (s *Service) CreateRule(ctx context.Context, p *identity.Principal, in NewRule) (Rule, error) {
	if !p.IsPlatformAdmin() {
		return Rule{}, apperr.New(apperr.Forbidden, "only platform admins manage routing rules")
	}
	fields := map[string]string{}
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		fields["name"] = "is required (at most 200 characters)"
	}
	if in.Specialty != identity.SpecialtyDermatology && in.Specialty != identity.SpecialtyRadiology {
		fields["specialty"] = "must be dermatology or radiology"
	}
	if in.IsDefault && (in.Modality != "" || in.BodySite != "" || in.SiteOrgID != nil) {
		fields["is_default"] = "a default rule matches every case of its specialty: leave modality, body_site and site_org_id empty"
	}
	org, err := s.q.OrgKind(ctx, s.pool, worklistdb.OrgKindParams{ID: in.ReadingGroupID, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && org.Kind != string(identity.OrgReadingGroup)):
		fields["reading_group_id"] = "must be a reading group"
	case err != nil:
		return Rule{}, fmt.Errorf("check reading group: %w", err)
	case !contains(org.Specialties, in.Specialty):
		fields["reading_group_id"] = fmt.Sprintf("the reading group does not read %s", in.Specialty)
	}
	if len(fields) > 0 {
		return Rule{}, apperr.InvalidFields(fields)
	}
	var r Rule
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		r, err = s.q.RuleInsert(ctx, tx, worklistdb.RuleInsertParams{Position: in.Position, Name: in.Name,
			Specialty: in.Specialty, Modality: optionalUpper(in.Modality), BodySite: optionalLower(in.BodySite),
			SiteOrgID: in.SiteOrgID, ReadingGroupID: in.ReadingGroupID, IsDefault: in.IsDefault, Enabled: true})
		if postgres.IsUniqueViolation(err, "routing_rules_default_key") {
			return apperr.New(apperr.Conflict, "%s already has a default rule: disable it first", in.Specialty)
		}
		if err != nil {
			return postgres.Translate(err, "routing rule")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "routing_rule.create",
			ObjectType: "routing_rule", ObjectID: r.ID.String(), ObjectOrgID: &r.ReadingGroupID})
	})
	return r, err
}

// ListRules returns every routing rule. Platform admins only.
func (s *Service) ListRules(ctx context.Context, p *identity.Principal) ([]Rule, error) {
	if !p.IsPlatformAdmin() {
		return nil, apperr.New(apperr.Forbidden, "only platform admins manage routing rules")
	}
	rules, err := s.q.RuleList(ctx, s.pool, p.IsPlatformAdmin())
	if err != nil {
		return nil, fmt.Errorf("list routing rules: %w", err)
	}
	return rules, nil
}

// RuleChange is the input of UpdateRule.
type RuleChange struct {
	Position       *int32
	Name           *string
	Enabled        *bool
	ReadingGroupID *uuid.UUID
}

// UpdateRule changes a rule's order, name, group or whether it is on.
func (s *Service) UpdateRule(ctx context.Context, p *identity.Principal, id uuid.UUID, in RuleChange) (Rule, error) {
	if !p.IsPlatformAdmin() {
		return Rule{}, apperr.New(apperr.Forbidden, "only platform admins manage routing rules")
	}
	var r Rule
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		r, err = s.q.RuleUpdate(ctx, tx, worklistdb.RuleUpdateParams{ID: id, Platform: p.IsPlatformAdmin(), Position: in.Position, Name: in.Name,
			Enabled: in.Enabled, ReadingGroupID: in.ReadingGroupID})
		if postgres.IsUniqueViolation(err, "routing_rules_default_key") {
			return apperr.New(apperr.Conflict, "the specialty already has an enabled default rule")
		}
		if err != nil {
			return postgres.Translate(err, "routing rule")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "routing_rule.update",
			ObjectType: "routing_rule", ObjectID: r.ID.String(), ObjectOrgID: &r.ReadingGroupID})
	})
	return r, err
}

// DeleteRule removes a rule; cases it routed keep their group.
func (s *Service) DeleteRule(ctx context.Context, p *identity.Principal, id uuid.UUID) error {
	if !p.IsPlatformAdmin() {
		return apperr.New(apperr.Forbidden, "only platform admins manage routing rules")
	}
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := s.q.RuleDelete(ctx, tx, worklistdb.RuleDeleteParams{ID: id, Platform: p.IsPlatformAdmin()})
		if err != nil {
			return fmt.Errorf("delete routing rule: %w", err)
		}
		if n == 0 {
			return apperr.New(apperr.NotFound, "routing rule not found")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "routing_rule.delete",
			ObjectType: "routing_rule", ObjectID: id.String()})
	})
}

// GetSettings returns a reading group's settings (defaults until set).
// Admins of the group and platform admins only.
func (s *Service) GetSettings(ctx context.Context, p *identity.Principal, org uuid.UUID) (Settings, error) {
	if err := s.canAdminGroup(ctx, p, org); err != nil {
		return Settings{}, err
	}
	return s.settings(ctx, s.pool, org)
}

func (s *Service) settings(ctx context.Context, db postgres.DB, org uuid.UUID) (Settings, error) {
	st, err := s.q.SettingsGet(ctx, db, org)
	if errors.Is(err, pgx.ErrNoRows) {
		return DefaultSettings(org), nil
	}
	if err != nil {
		return Settings{}, fmt.Errorf("reading group settings: %w", err)
	}
	return st, nil
}

// PutSettings replaces a reading group's settings.
func (s *Service) PutSettings(ctx context.Context, p *identity.Principal, in Settings) (Settings, error) {
	if err := s.canAdminGroup(ctx, p, in.OrgID); err != nil {
		return Settings{}, err
	}
	fields := map[string]string{}
	for name, d := range map[string]time.Duration{"sla_stat": in.SlaStat, "sla_urgent": in.SlaUrgent,
		"sla_routine": in.SlaRoutine, "critical_ack_within": in.CriticalAckWithin} {
		if d < time.Minute || d > 90*24*time.Hour {
			fields[name] = "must be from one minute to 90 days"
		}
	}
	if in.ClaimLease < time.Minute || in.ClaimLease > 24*time.Hour {
		fields["claim_lease"] = "must be from one minute to 24 hours"
	}
	if len(fields) > 0 {
		return Settings{}, apperr.InvalidFields(fields)
	}
	var st Settings
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		st, err = s.q.SettingsUpsert(ctx, tx, worklistdb.SettingsUpsertParams{OrgID: in.OrgID, SlaStat: in.SlaStat,
			SlaUrgent: in.SlaUrgent, SlaRoutine: in.SlaRoutine, ClaimLease: in.ClaimLease,
			RequireSecondRead: in.RequireSecondRead, CriticalAckWithin: in.CriticalAckWithin})
		if err != nil {
			return postgres.Translate(err, "settings")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "reading_group.settings",
			ObjectType: "org", ObjectID: in.OrgID.String(), ObjectOrgID: &in.OrgID})
	})
	return st, err
}

// canAdminGroup allows platform admins, and org admins of that reading
// group; others get NotFound.
func (s *Service) canAdminGroup(ctx context.Context, p *identity.Principal, org uuid.UUID) error {
	if p.IsPlatformAdmin() {
		o, err := s.q.OrgKind(ctx, s.pool, worklistdb.OrgKindParams{ID: org, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && o.Kind != string(identity.OrgReadingGroup)) {
			return apperr.New(apperr.NotFound, "reading group not found")
		}
		return err
	}
	if p.OrgID == org && p.OrgKind == identity.OrgReadingGroup && p.Has(identity.RoleOrgAdmin) {
		return nil
	}
	return apperr.New(apperr.NotFound, "reading group not found")
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func optionalUpper(s string) *string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return nil
	}
	return &s
}

func optionalLower(s string) *string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return nil
	}
	return &s
}
