package reports

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/reports/reportsdb"
)

// Get returns report id if p may read it, and audits the read
// (report.view). Platform admins read every report; the reading group the
// case is routed to reads drafts and signed reports; the site reads signed
// reports only (site staff and admins all of the site's, a referring
// physician those of their own cases). Anyone else gets NotFound. When the
// reader is the case's referring physician, the report is marked opened.
func (s *Service) Get(ctx context.Context, p *identity.Principal, id uuid.UUID) (Report, error) {
	r, c, err := s.visible(ctx, p, &id, nil)
	if err != nil {
		return Report{}, err
	}
	return r, s.viewed(ctx, p, r, c, "report.view")
}

// GetForCase is Get by the case's id.
func (s *Service) GetForCase(ctx context.Context, p *identity.Principal, caseID uuid.UUID) (Report, error) {
	r, c, err := s.visible(ctx, p, nil, &caseID)
	if err != nil {
		return Report{}, err
	}
	return r, s.viewed(ctx, p, r, c, "report.view")
}

// visible loads a report, by its id or its case's, that p may read, with
// its case.
func (s *Service) visible(ctx context.Context, p *identity.Principal, id, caseID *uuid.UUID) (Report, cases.Case, error) {
	org := p.OrgID
	row, err := s.q.ReportGetVisible(ctx, s.pool, reportsdb.ReportGetVisibleParams{ID: id, CaseID: caseID,
		Platform: p.IsPlatformAdmin(), OrgID: &org,
		SiteWide: p.OrgKind == identity.OrgSite && p.HasAny(identity.RoleSiteStaff, identity.RoleOrgAdmin),
		UserID:   p.UserID})
	if err != nil {
		return Report{}, cases.Case{}, postgres.Translate(err, "report")
	}
	sc := cases.ScopeOf(p)
	r, err := s.complete(ctx, s.pool, sc, row)
	if err != nil {
		return Report{}, cases.Case{}, err
	}
	c, err := cases.Read(ctx, s.pool, sc, r.CaseID)
	if err != nil {
		return Report{}, cases.Case{}, fmt.Errorf("case of report %s: %w", r.ID, err)
	}
	return r, c, nil
}

// viewed audits a read of r (action report.view, report.pdf or
// report.fhir) and, when the reader is the case's referring physician and
// the report is signed, records that it was opened.
func (s *Service) viewed(ctx context.Context, p *identity.Principal, r Report, c cases.Case, action string) error {
	if err := audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: action, ObjectType: "report",
		ObjectID: r.ID.String(), ObjectOrgID: &c.SiteOrgID,
		Details: map[string]any{"case_id": c.ID.String(), "status": r.Status}}); err != nil {
		return err
	}
	if s.opened != nil && r.Signed() && p.UserID == c.ReferringPhysicianID {
		if err := s.opened.MarkOpened(ctx, p, r.ID); err != nil {
			return fmt.Errorf("mark report %s opened: %w", r.ID, err)
		}
	}
	return nil
}
