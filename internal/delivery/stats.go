package delivery

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/delivery/deliverydb"
	"github.com/teleread/teleread/internal/identity"
)

// Steps are the steps of the case flow that Stats and the
// teleread_case_step_seconds metric measure, in order.
var Steps = [][2]string{
	{"submitted", "routed"}, {"routed", "claimed"}, {"claimed", "signed"},
	{"signed", "delivered"}, {"delivered", "acknowledged"},
}

// StepStats are the durations of one step of the flow.
type StepStats struct {
	From, To string
	Count    int
	// P50 and P90 are nil when no case made the step in the window.
	P50, P90 *time.Duration
}

// Stats are an organisation's case counts and flow durations.
type Stats struct {
	Since    time.Time
	ByStatus map[string]int
	Steps    []StepStats
}

// Stats returns, for the cases of p's organisation (the site that sent them
// or the reading group that reads them; every case for platform admins):
// the number of cases created since `since` by their current status, and
// the median and 90th percentile of each step of the flow that ended since
// `since`. Admins only.
func (s *Service) Stats(ctx context.Context, p *identity.Principal, since time.Time) (Stats, error) {
	if !p.HasAny(identity.RoleOrgAdmin, identity.RolePlatformAdmin) {
		return Stats{}, apperr.New(apperr.Forbidden, "statistics are for admins")
	}
	out := Stats{Since: since, ByStatus: map[string]int{}}
	counts, err := s.q.StatusCounts(ctx, s.pool, deliverydb.StatusCountsParams{Platform: p.IsPlatformAdmin(),
		OrgID: p.OrgID, Since: since})
	if err != nil {
		return out, fmt.Errorf("status counts: %w", err)
	}
	for _, c := range counts {
		out.ByStatus[c.Status] = int(c.N)
	}
	rows, err := s.pool.Query(ctx, stepDurationsSQL, p.IsPlatformAdmin(), p.OrgID, since)
	if err != nil {
		return out, fmt.Errorf("step durations: %w", err)
	}
	type row struct {
		Ord      int
		From, To string
		N        int64
		P50, P90 float64
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.Ord, &x.From, &x.To, &x.N, &x.P50, &x.P90)
		return x, err
	})
	if err != nil {
		return out, fmt.Errorf("step durations: %w", err)
	}
	byStep := map[[2]string]row{}
	for _, r := range got {
		byStep[[2]string{r.From, r.To}] = r
	}
	for _, st := range Steps {
		ss := StepStats{From: st[0], To: st[1]}
		if r, ok := byStep[st]; ok && r.N > 0 {
			p50, p90 := seconds(r.P50), seconds(r.P90)
			ss.Count, ss.P50, ss.P90 = int(r.N), &p50, &p90
		}
		out.Steps = append(out.Steps, ss)
	}
	return out, nil
}

func seconds(f float64) time.Duration {
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond)
}

// stepDurationsSQL gives the median and 90th percentile, in seconds, of each
// step of the flow that ended since $3, for the cases of organisation $2
// (all when $1). The times come from the case (submitted, routed) and its
// timeline (claimed: the last move to in_review before signing; signed,
// delivered, acknowledged: the first moves to reported, delivered,
// acknowledged). It is written by hand because sqlc cannot analyse the
// LATERAL VALUES that unpivots the steps.
const stepDurationsSQL = `
WITH scoped AS (
    SELECT c.id, c.submitted_at, c.routed_at,
        (SELECT min(e.at) FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'reported') AS signed_at,
        (SELECT min(e.at) FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'delivered') AS delivered_at,
        (SELECT min(e.at) FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'acknowledged') AS acknowledged_at
    FROM cases c
    WHERE ($1::boolean OR c.site_org_id = $2 OR c.reading_group_id = $2)
      AND c.submitted_at IS NOT NULL
), timed AS (
    SELECT s.*,
        (SELECT max(e.at) FROM case_events e WHERE e.case_id = s.id AND e.to_status = 'in_review'
           AND (s.signed_at IS NULL OR e.at <= s.signed_at)) AS claimed_at
    FROM scoped s
), steps AS (
    SELECT v.ord, v.step_from, v.step_to, extract(epoch FROM v.t1 - v.t0)::float8 AS seconds, v.t1 AS ended_at
    FROM timed t
    CROSS JOIN LATERAL (VALUES
        (1, 'submitted', 'routed', t.submitted_at, t.routed_at),
        (2, 'routed', 'claimed', t.routed_at, t.claimed_at),
        (3, 'claimed', 'signed', t.claimed_at, t.signed_at),
        (4, 'signed', 'delivered', t.signed_at, t.delivered_at),
        (5, 'delivered', 'acknowledged', t.delivered_at, t.acknowledged_at)
    ) AS v (ord, step_from, step_to, t0, t1)
    WHERE v.t0 IS NOT NULL AND v.t1 IS NOT NULL AND v.t1 >= v.t0
)
SELECT ord, step_from, step_to, count(*),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
    percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)
FROM steps
WHERE ended_at >= $3
GROUP BY ord, step_from, step_to
ORDER BY ord`
