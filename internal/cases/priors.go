package cases

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases/casesdb"
	"github.com/teleread/teleread/internal/identity"
)

// Priors returns the patient's other cases (the same site and MRN) that p
// may see, newest first, and audits the read. The case itself must be
// visible to p: otherwise it is not found.
func (s *Service) Priors(ctx context.Context, p *identity.Principal, id uuid.UUID) ([]Case, error) {
	if _, err := s.Visible(ctx, s.pool, p, id); err != nil {
		return nil, err
	}
	list, err := s.q.CasePriorsOfPatient(ctx, s.pool, casesdb.CasePriorsOfPatientParams{ID: id,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: siteWide(p), UserID: p.UserID})
	if err != nil {
		return nil, fmt.Errorf("priors of case %s: %w", id, err)
	}
	if len(list) > 0 {
		ids := make([]string, len(list))
		for i, c := range list {
			ids[i] = c.ID.String()
		}
		org := p.OrgID
		if err := audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "case.priors", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &org, Details: map[string]any{"case_ids": ids}}); err != nil {
			return nil, err
		}
	}
	return list, nil
}
