package worklist

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// Reroute enqueues routing again for a submitted case that no rule matched,
// after an admin has added one. Platform admins only.
func (s *Service) Reroute(ctx context.Context, p *identity.Principal, jobs cases.JobInserter, id uuid.UUID) error {
	if !p.IsPlatformAdmin() {
		return apperr.New(apperr.Forbidden, "only platform admins re-route cases")
	}
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := cases.Lock(ctx, tx, cases.ScopeOf(p), id)
		if err != nil {
			return err
		}
		if c.Status != string(cases.StatusSubmitted) {
			return apperr.New(apperr.Conflict, "the case is %s; only submitted cases wait for routing", c.Status)
		}
		if _, err := jobs.InsertTx(ctx, tx, cases.RouteArgs{CaseID: id}, nil); err != nil {
			return fmt.Errorf("enqueue routing: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.reroute", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	})
}
