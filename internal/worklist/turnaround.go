package worklist

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
)

// Stages are the stages of a case that Turnaround measures, each from the
// end of the one before: submitted to routed, to claimed, to signed, to
// acknowledged.
var Stages = []string{"routed", "claimed", "signed", "acknowledged"}

// StageTimes are the durations of one stage for the cases of one reading
// group and site.
type StageTimes struct {
	ReadingGroup, Site      string
	Stage                   string
	Count                   int
	Min, P25, P50, P75, Max time.Duration
}

// Breach is a case of the period that was signed after its due time, or is
// still not signed past it.
type Breach struct {
	CaseID             uuid.UUID
	ReadingGroup, Site string
	Priority           string
	SubmittedAt        time.Time
	DueAt              time.Time
	// SignedAt is nil while the case is not signed.
	SignedAt *time.Time
	Late     time.Duration
}

// Turnaround is the stage times and SLA breaches of the cases submitted in
// [From, To).
type Turnaround struct {
	From, To time.Time
	Times    []StageTimes
	Breaches []Breach
}

// Turnaround returns, for the cases submitted in [from, to) that p's
// organisation sent or reads (every case for platform admins), the times of
// each stage per reading group and site, and the SLA breaches. Admins only.
func (s *Service) Turnaround(ctx context.Context, p *identity.Principal, from, to time.Time) (Turnaround, error) {
	out := Turnaround{From: from, To: to}
	if !p.HasAny(identity.RoleOrgAdmin, identity.RolePlatformAdmin) {
		return out, apperr.New(apperr.Forbidden, "turnaround is for admins")
	}
	if !to.After(from) || to.Sub(from) > 400*24*time.Hour {
		return out, apperr.InvalidFields(map[string]string{"to": "must be after from, at most 400 days later"})
	}
	rows, err := s.pool.Query(ctx, stageTimesSQL, p.IsPlatformAdmin(), p.OrgID, from, to)
	if err != nil {
		return out, fmt.Errorf("stage times: %w", err)
	}
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)).Round(time.Second) }
	out.Times, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StageTimes, error) {
		var x StageTimes
		var n int64
		var mn, p25, p50, p75, mx float64
		err := r.Scan(&x.ReadingGroup, &x.Site, &x.Stage, &n, &mn, &p25, &p50, &p75, &mx)
		x.Count, x.Min, x.P25, x.P50, x.P75, x.Max = int(n), sec(mn), sec(p25), sec(p50), sec(p75), sec(mx)
		return x, err
	})
	if err != nil {
		return out, fmt.Errorf("stage times: %w", err)
	}
	rows, err = s.pool.Query(ctx, breachesSQL, p.IsPlatformAdmin(), p.OrgID, from, to)
	if err != nil {
		return out, fmt.Errorf("sla breaches: %w", err)
	}
	out.Breaches, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Breach, error) {
		var b Breach
		var late float64
		err := r.Scan(&b.CaseID, &b.ReadingGroup, &b.Site, &b.Priority, &b.SubmittedAt, &b.DueAt, &b.SignedAt, &late)
		b.Late = sec(late)
		return b, err
	})
	if err != nil {
		return out, fmt.Errorf("sla breaches: %w", err)
	}
	return out, nil
}

// timedCasesSQL is the cases submitted in [$3, $4) that organisation $2
// sent or reads (all when $1), with the time each stage ended: routed from
// the case, claimed (the first move to in_review), signed and acknowledged
// (the first moves to reported and acknowledged) from its timeline.
const timedCasesSQL = `
WITH timed AS (
    SELECT c.id, c.priority, c.submitted_at, c.routed_at, c.due_at,
        coalesce(g.name, 'not routed') AS reading_group, s.name AS site,
        (SELECT min(e.at) FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'in_review') AS claimed_at,
        (SELECT min(e.at) FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'reported') AS signed_at,
        (SELECT min(e.at) FROM case_events e WHERE e.case_id = c.id AND e.to_status = 'acknowledged') AS acknowledged_at,
        c.status
    FROM cases c
    JOIN orgs s ON s.id = c.site_org_id
    LEFT JOIN orgs g ON g.id = c.reading_group_id
    WHERE ($1::boolean OR c.site_org_id = $2 OR c.reading_group_id = $2)
      AND c.submitted_at >= $3 AND c.submitted_at < $4
)`

// stageTimesSQL gives, per reading group, site and stage, the count and
// the minimum, quartiles and maximum in seconds. It is written by hand
// because sqlc cannot analyse the LATERAL VALUES that unpivots the stages.
const stageTimesSQL = timedCasesSQL + `
SELECT t.reading_group, t.site, v.stage, count(*),
    min(v.seconds), percentile_cont(0.25) WITHIN GROUP (ORDER BY v.seconds),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY v.seconds),
    percentile_cont(0.75) WITHIN GROUP (ORDER BY v.seconds), max(v.seconds)
FROM timed t
CROSS JOIN LATERAL (VALUES
    (1, 'routed', extract(epoch FROM t.routed_at - t.submitted_at)::float8),
    (2, 'claimed', extract(epoch FROM t.claimed_at - t.routed_at)::float8),
    (3, 'signed', extract(epoch FROM t.signed_at - t.claimed_at)::float8),
    (4, 'acknowledged', extract(epoch FROM t.acknowledged_at - t.signed_at)::float8)
) AS v (ord, stage, seconds)
WHERE v.seconds IS NOT NULL AND v.seconds >= 0
GROUP BY t.reading_group, t.site, v.ord, v.stage
ORDER BY t.reading_group, t.site, v.ord`

// breachesSQL lists the cases of timedCasesSQL signed after their due time
// or not signed (nor cancelled) past it, the latest first, at most 200.
const breachesSQL = timedCasesSQL + `
SELECT t.id, t.reading_group, t.site, t.priority, t.submitted_at, t.due_at, t.signed_at,
    extract(epoch FROM coalesce(t.signed_at, now()) - t.due_at)::float8
FROM timed t
WHERE t.due_at IS NOT NULL AND t.status <> 'cancelled'
  AND coalesce(t.signed_at, now()) > t.due_at
ORDER BY coalesce(t.signed_at, now()) - t.due_at DESC
LIMIT 200`
