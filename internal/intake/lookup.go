package intake

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
)

// MaxLookup is the most SHA-256 values one Lookup may ask about.
const MaxLookup = 1000

// Held is a file a case already holds, found by the SHA-256 of the bytes
// as they were sent.
type Held struct {
	SHA256 string
	FileID uuid.UUID
}

// Lookup answers which of sums (hex SHA-256 of the bytes as sent) a case
// of p's site already holds, so that a client resuming an upload sends
// only what is missing. Another tenant's case, or one p may not see, is
// NotFound; so is a case p sees only as its reader.
func (s *Service) Lookup(ctx context.Context, p *identity.Principal, caseID uuid.UUID, sums []string) ([]Held, error) {
	if len(sums) == 0 || len(sums) > MaxLookup {
		return nil, apperr.InvalidFields(map[string]string{"sha256": fmt.Sprintf("must list 1 to %d values", MaxLookup)})
	}
	clean := make([]string, len(sums))
	for i, v := range sums {
		clean[i] = strings.ToLower(strings.TrimSpace(v))
		if !sha256Re.MatchString(clean[i]) {
			return nil, apperr.InvalidFields(map[string]string{
				fmt.Sprintf("sha256[%d]", i): "must be a SHA-256 as 64 hex digits"})
		}
	}
	c, err := s.cases.Visible(ctx, s.pool, p, caseID)
	if err != nil {
		return nil, err
	}
	if c.SiteOrgID != p.OrgID {
		return nil, apperr.New(apperr.NotFound, "case not found")
	}
	rows, err := s.q.FileLookupBySHA(ctx, s.pool, intakedb.FileLookupBySHAParams{CaseID: c.ID, OrgID: p.OrgID,
		Sha256s: clean})
	if err != nil {
		return nil, fmt.Errorf("look up files of case %s: %w", c.ID, err)
	}
	out := make([]Held, len(rows))
	for i, r := range rows {
		out[i] = Held{SHA256: r.Sha256, FileID: r.ID}
	}
	err = audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "file.lookup", ObjectType: "case",
		ObjectID: c.ID.String(), ObjectOrgID: &c.SiteOrgID, Details: map[string]any{"asked": len(clean), "held": len(out)}})
	return out, err
}
