package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// scale is phase 2: the worklist with many cases in the database.
type scale struct {
	e *benchEnv
	// groups are the reading groups the bulk cases are spread over, the
	// demo radiology group (whose specialist is timed) first; specialties
	// and specialists are by group.
	groups      []string
	specialties []string
	specialists []string
	sites       []string
}

// groupCount is how many reading groups share the bulk cases.
const groupCount = 10

// makeOrgs creates the reading groups (each with a specialist) and sites
// the bulk cases belong to, next to the demo ones.
func (s *scale) makeOrgs(ctx context.Context) error {
	u := s.e.users
	var derm, dermSpecialist string
	err := s.e.pool.QueryRow(ctx, `SELECT o.id, u.id FROM orgs o JOIN users u ON u.org_id = o.id
		WHERE o.slug = 'demo-derm' AND 'specialist' = ANY(u.roles) LIMIT 1`).Scan(&derm, &dermSpecialist)
	if err != nil {
		return fmt.Errorf("demo dermatology group: %w", err)
	}
	s.groups = []string{u.radGroupID, derm}
	s.specialties = []string{"radiology", "dermatology"}
	s.specialists = []string{u.specialistUserID, dermSpecialist}
	s.sites = []string{u.siteOrgID}
	for i := len(s.groups); i < groupCount; i++ {
		spec := []string{"radiology", "dermatology"}[i%2]
		var org, user string
		err := s.e.pool.QueryRow(ctx, `WITH o AS (
				INSERT INTO orgs (kind, name, slug, specialties) VALUES ('reading_group', $1, $2, ARRAY[$3]) RETURNING id)
			INSERT INTO users (org_id, email, name, roles, specialties)
			SELECT o.id, $2 || '@bench.example', 'Bench Specialist ' || $4, ARRAY['specialist'], ARRAY[$3] FROM o
			RETURNING org_id, id`,
			fmt.Sprintf("Bench %s readers %d", spec, i), fmt.Sprintf("bench-group-%02d", i), spec, fmt.Sprint(i)).Scan(&org, &user)
		if err != nil {
			return fmt.Errorf("create reading group %d: %w", i, err)
		}
		s.groups, s.specialties, s.specialists = append(s.groups, org), append(s.specialties, spec), append(s.specialists, user)
	}
	for i := len(s.sites); i < groupCount; i++ {
		var org string
		err := s.e.pool.QueryRow(ctx, `INSERT INTO orgs (kind, name, slug) VALUES ('site', $1, $2) RETURNING id`,
			fmt.Sprintf("Bench clinic %d", i), fmt.Sprintf("bench-site-%02d", i)).Scan(&org)
		if err != nil {
			return fmt.Errorf("create site %d: %w", i, err)
		}
		s.sites = append(s.sites, org)
	}
	return nil
}

// bulkInsertSQL makes $1 cases in one INSERT … SELECT over generate_series.
// About 0.5% are open (routed, or in review with a live lease), spread
// evenly over the reading groups; the rest are mostly acknowledged, some
// delivered, reported, cancelled or drafts. Priorities are 5% stat, 20%
// urgent, 75% routine; open cases were routed between now and 1.5 times
// their service level ago, so about a third are overdue (and, as the
// escalation job would have done, already flagged). Closed cases spread
// over two years. setseed makes the spread the same on every run.
const bulkInsertSQL = `
INSERT INTO cases (site_org_id, created_by, referring_physician_id, status, specialty, priority,
    patient_name, patient_birth_date, patient_sex, patient_mrn, clinical_question, lesion_body_site,
    reading_group_id, assigned_to, due_at, submitted_at, routed_at, claimed_at, claim_expires_at,
    overdue_flagged_at, created_at, updated_at)
SELECT site, $6::uuid, $7::uuid, status, spec, priority,
    'Bulk Patient ' || i, date '1930-01-01' + (r_misc * 30000)::int, CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
    'BULK-' || i, 'Bulk case ' || i || ': query fracture?', CASE WHEN spec = 'dermatology' THEN 'forearm' END,
    CASE WHEN routed THEN grp END,
    CASE WHEN routed AND status <> 'routed' THEN specialist END,
    CASE WHEN routed THEN routed_at + sla END,
    routed_at - interval '2 seconds', routed_at,
    CASE WHEN status = 'in_review' THEN now() - r_misc * interval '20 minutes' END,
    CASE WHEN status = 'in_review' THEN now() + interval '2 hours' END,
    CASE WHEN open AND routed_at + sla <= now() + interval '15 minutes' THEN routed_at + sla - interval '15 minutes' END,
    coalesce(routed_at, now() - r_time * interval '730 days') - interval '10 minutes',
    coalesce(routed_at, now() - r_time * interval '730 days')
FROM (
    SELECT *, CASE WHEN open THEN now() - r_time * 1.5 * sla
                   WHEN routed THEN now() - interval '1 day' - r_time * interval '730 days' END AS routed_at
    FROM (
        SELECT *, status IN ('routed', 'in_review') AS open, status NOT IN ('draft', 'cancelled') AS routed,
            CASE priority WHEN 'stat' THEN interval '1 hour' WHEN 'urgent' THEN interval '4 hours'
                ELSE interval '48 hours' END AS sla,
            ($2::uuid[])[g] AS grp, ($3::text[])[g] AS spec, ($4::uuid[])[g] AS specialist,
            ($5::uuid[])[1 + i % cardinality($5::uuid[])] AS site
        FROM (
            SELECT i, r_time, r_misc,
                CASE WHEN r_status < 0.005 THEN CASE WHEN r_misc < 0.2 THEN 'in_review' ELSE 'routed' END
                     WHEN r_status < 0.010 THEN 'draft'
                     WHEN r_status < 0.040 THEN 'cancelled'
                     WHEN r_status < 0.060 THEN 'delivered'
                     WHEN r_status < 0.065 THEN 'reported'
                     ELSE 'acknowledged' END AS status,
                CASE WHEN r_prio < 0.05 THEN 'stat' WHEN r_prio < 0.25 THEN 'urgent' ELSE 'routine' END AS priority,
                1 + floor(r_group * cardinality($2::uuid[]))::int AS g
            FROM (SELECT i, random() AS r_status, random() AS r_group, random() AS r_prio, random() AS r_time,
                         random() AS r_misc
                  FROM generate_series(1, $1::int) AS i) AS r
        ) AS s
    ) AS t
) AS u`

// studiesSQL gives every bulk radiology case one study with one series of
// a modality (40% CT), so that the worklist's modality column and filter
// meet tables of a realistic size.
const studiesSQL = `
WITH st AS (
    INSERT INTO dicom_studies (org_id, case_id, study_instance_uid, patient_name, patient_id)
    SELECT site_org_id, id, '1.2.826.0.1.3680043.10.9999.' || row_number() OVER (), patient_name, patient_mrn
    FROM cases WHERE specialty = 'radiology' AND patient_mrn LIKE 'BULK-%'
    RETURNING id, org_id, study_instance_uid)
INSERT INTO dicom_series (org_id, study_id, series_instance_uid, modality, series_number)
SELECT org_id, id, study_instance_uid || '.1', (ARRAY['CT', 'CT', 'MR', 'CR', 'US'])[1 + floor(random() * 5)::int], 1
FROM st`

// bulkStats is what the bulk insert made, and how long it took.
type bulkStats struct {
	Cases          int64   `json:"cases"`
	Studies        int64   `json:"studies"`
	InsertSeconds  float64 `json:"insert_seconds"`
	StudiesSeconds float64 `json:"studies_seconds"`
	VacuumSeconds  float64 `json:"vacuum_analyze_seconds"`
	OpenCases      int64   `json:"open_cases"`
	GroupOpenCases int64   `json:"timed_group_open_cases"`
	GroupOverdue   int64   `json:"timed_group_overdue"`
	GroupStat      int64   `json:"timed_group_stat"`
	TableMB        float64 `json:"cases_table_mb"`
	WorklistIdxMB  float64 `json:"cases_worklist_idx_mb"`
}

// bulkInsert makes n cases, then VACUUM ANALYZE.
func (s *scale) bulkInsert(ctx context.Context, n int) (bulkStats, error) {
	u := s.e.users
	var st bulkStats
	conn, err := s.e.pool.Acquire(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT setseed(0.42)"); err != nil {
		return st, err
	}
	t := time.Now()
	tag, err := conn.Exec(ctx, bulkInsertSQL, n, s.groups, s.specialties, s.specialists, s.sites, u.staffUserID, u.gpUserID)
	if err != nil {
		return st, fmt.Errorf("bulk insert: %w", err)
	}
	st.Cases, st.InsertSeconds = tag.RowsAffected(), time.Since(t).Seconds()
	t = time.Now()
	if tag, err = conn.Exec(ctx, studiesSQL); err != nil {
		return st, fmt.Errorf("bulk studies: %w", err)
	}
	st.Studies = tag.RowsAffected()
	st.StudiesSeconds = time.Since(t).Seconds()
	t = time.Now()
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) cases, dicom_studies, dicom_series, files, orgs"); err != nil {
		return st, fmt.Errorf("vacuum analyze: %w", err)
	}
	st.VacuumSeconds = time.Since(t).Seconds()
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status IN ('routed', 'in_review')),
			count(*) FILTER (WHERE status IN ('routed', 'in_review') AND reading_group_id = $1),
			count(*) FILTER (WHERE status IN ('routed', 'in_review') AND reading_group_id = $1 AND due_at < now()),
			count(*) FILTER (WHERE status IN ('routed', 'in_review') AND reading_group_id = $1 AND priority = 'stat'),
			pg_table_size('cases') / 1048576.0, pg_relation_size('cases_worklist_idx') / 1048576.0
		FROM cases`, u.radGroupID).Scan(&st.OpenCases, &st.GroupOpenCases, &st.GroupOverdue, &st.GroupStat, &st.TableMB, &st.WorklistIdxMB)
	if err != nil {
		return st, fmt.Errorf("count bulk cases: %w", err)
	}
	return st, nil
}

// variant is one way a specialist asks for the worklist.
type variant struct {
	Name     string
	query    string // the API's query string
	priority string
	modality string
	overdue  bool
}

var variants = []variant{
	{Name: "default page"},
	{Name: "priority=stat", query: "?priority=stat", priority: "stat"},
	{Name: "overdue=true", query: "?overdue=true", overdue: true},
	{Name: "modality=CT", query: "?modality=CT", modality: "CT"},
}

// worklistSQL is the page query of internal/worklist.List (worklist.go) for
// the first page of v with the default limit, copied in shape: keep the two
// in step. It returns the SQL and its arguments, with their types for a
// PREPARE.
func worklistSQL(groupID string, v variant) (sql string, args []any, types []string) {
	where := "c.reading_group_id = $1 AND c.status IN ('routed', 'in_review')"
	args, types = []any{groupID}, []string{"uuid"}
	if v.priority != "" {
		args, types = append(args, v.priority), append(types, "text")
		where += fmt.Sprintf(" AND c.priority = $%d", len(args))
	}
	if v.modality != "" {
		args, types = append(args, v.modality), append(types, "text")
		where += fmt.Sprintf(` AND EXISTS (SELECT 1 FROM dicom_series ds JOIN dicom_studies st ON st.id = ds.study_id
			WHERE st.case_id = c.id AND ds.modality = $%d)`, len(args))
	}
	if v.overdue {
		where += " AND c.due_at < now()"
	}
	args, types = append(args, 50), append(types, "int")
	sql = `SELECT c.id, c.status, c.specialty, c.priority, c.priority_rank, c.due_at, c.due_at < now(), c.routed_at,
		c.assigned_to, c.claim_expires_at, c.patient_name, c.patient_sex, c.patient_birth_date, c.clinical_question,
		c.lesion_body_site,
		coalesce((SELECT array_agg(DISTINCT ds.modality) FROM dicom_series ds JOIN dicom_studies st ON st.id = ds.study_id
			WHERE st.case_id = c.id AND ds.modality <> ''), '{}'),
		(SELECT count(*) FROM files f WHERE f.case_id = c.id)::int,
		o.name,
		EXISTS (SELECT 1 FROM reports r WHERE r.case_id = c.id AND r.status = 'preliminary')
		FROM cases c JOIN orgs o ON o.id = c.site_org_id
		WHERE ` + where + fmt.Sprintf(`
		ORDER BY c.priority_rank, c.due_at, c.id LIMIT $%d`, len(args))
	return sql, args, types
}

// countsSQL is WorklistCounts of internal/worklist/worklist.sql, which the
// worklist route runs with every page.
const countsSQL = `SELECT priority, count(*)::int AS n, count(*) FILTER (WHERE due_at < now())::int AS overdue
FROM cases
WHERE reading_group_id = $1 AND status IN ('routed', 'in_review')
GROUP BY priority`

// timeAPI fetches the worklist page of v m times, one after the other, as
// the timed specialist, after a few untimed calls.
func (s *scale) timeAPI(ctx context.Context, v variant, m int) (lat []time.Duration, items, total int, err error) {
	var page struct {
		Items []struct{} `json:"items"`
		Total int        `json:"total"`
	}
	get := func() (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.e.BaseURL+"/api/v1/worklist"+v.query, nil)
		if err != nil {
			return 0, err
		}
		t := time.Now()
		err = s.e.Send(req, s.e.users.specialist, http.StatusOK, &page)
		return time.Since(t), err
	}
	for range 10 {
		if _, err := get(); err != nil {
			return nil, 0, 0, fmt.Errorf("worklist %s: %w", v.Name, err)
		}
	}
	lat = make([]time.Duration, m)
	for i := range m {
		if lat[i], err = get(); err != nil {
			return nil, 0, 0, fmt.Errorf("worklist %s: %w", v.Name, err)
		}
	}
	return lat, len(page.Items), page.Total, nil
}

// timeSQL runs sql m times on the bench's pool (prepared and cached by pgx,
// as the server's pool does), reading every row.
func (s *scale) timeSQL(ctx context.Context, sql string, args []any, m int) ([]time.Duration, error) {
	run := func() (time.Duration, error) {
		t := time.Now()
		rows, err := s.e.pool.Query(ctx, sql, args...)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
		}
		rows.Close()
		return time.Since(t), rows.Err()
	}
	for range 10 {
		if _, err := run(); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, m)
	for i := range m {
		var err error
		if lat[i], err = run(); err != nil {
			return nil, err
		}
	}
	return lat, nil
}

// explain returns the plan of sql under EXPLAIN (ANALYZE, BUFFERS): as
// planned for these argument values (a custom plan), or, with generic, the
// generic plan a prepared statement may switch to after five executions
// (PREPARE, then EXECUTE under plan_cache_mode = force_generic_plan).
func (s *scale) explain(ctx context.Context, sql string, args []any, types []string, generic bool) (string, error) {
	conn, err := s.e.pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	var rows pgx.Rows
	if !generic {
		rows, err = conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	} else {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
			return "", err
		}
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "RESET plan_cache_mode") }()
		if _, err := conn.Exec(ctx, fmt.Sprintf("PREPARE bench_plan(%s) AS %s", strings.Join(types, ", "), sql)); err != nil {
			return "", fmt.Errorf("prepare: %w", err)
		}
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "DEALLOCATE bench_plan") }()
		// EXECUTE takes no bind parameters: the values go in as literals.
		lit := make([]string, len(args))
		for i, a := range args {
			lit[i] = "'" + strings.ReplaceAll(fmt.Sprint(a), "'", "''") + "'::" + types[i]
		}
		rows, err = conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_plan("+strings.Join(lit, ", ")+")")
	}
	if err != nil {
		return "", fmt.Errorf("explain: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("explain: %w", err)
	}
	return strings.Join(lines, "\n"), nil
}
