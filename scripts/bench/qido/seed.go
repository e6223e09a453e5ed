package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The shape of the seeded data.
const (
	siteCount = 5   // sites; site 0 is the demo site, whose users search
	bigShare  = 0.6 // of the studies at site 0, the rest evenly at the others
	// physicians per site: the demo GP is one of bigSitePhysicians at site
	// 0, so it sees about 1/20 of that site's cases.
	bigSitePhysicians   = 20
	smallSitePhysicians = 5
	// studiesPerPatient is about how many studies a patient has.
	studiesPerPatient = 2.5
	// Of the cases, routedDemoRad go to the demo radiology group (whose
	// specialist searches), routedOther to another reading group, the rest
	// are not routed yet.
	routedDemoRad = 0.3
	routedOther   = 0.3
	// uidRoot roots the seeded UIDs (study i: uidRoot.1.i, photo study j:
	// uidRoot.2.j).
	uidRoot = "1.2.826.0.1.3680043.10.4242"
)

// commonSurnames are half the patients' surnames (each about 1% of the
// patients); the other half are made of two syllables (400 of them).
var commonSurnames = []string{"DOE", "SMITH", "JONES", "BROWN", "TAYLOR", "WILSON", "DAVIES", "EVANS", "THOMAS",
	"JOHNSON", "ROBERTS", "WALKER", "WRIGHT", "ROBINSON", "THOMPSON", "WHITE", "HUGHES", "EDWARDS", "GREEN", "HALL",
	"WOOD", "HARRIS", "LEWIS", "MARTIN", "JACKSON", "CLARKE", "TURNER", "HILL", "SCOTT", "COOPER", "MORRIS", "WARD",
	"MOORE", "KING", "WATSON", "BAKER", "HARRISON", "MORGAN", "PATEL", "YOUNG", "ALLEN", "MITCHELL", "JAMES",
	"ANDERSON", "PHILLIPS", "LEE", "BELL", "PARKER", "DAVIS", "NGUYEN"}

var (
	syllables1 = []string{"KA", "LO", "MI", "NU", "PE", "RA", "SI", "TO", "VA", "ZE", "BRI", "COR", "DAN", "FEL",
		"GAR", "HOL", "JUN", "KEL", "MAR", "NOV"}
	syllables2 = []string{"BERG", "DOTTIR", "SSON", "MAN", "OVA", "ESCU", "INI", "AKIS", "OGLU", "STEIN", "WICZ",
		"ELLI", "ANDER", "HOLM", "QUIST", "RUD", "TON", "WORTH", "FIELD", "LEY"}
	givenNames = []string{"JOHN", "JANE", "MARY", "JAMES", "ANNA", "PETER", "LUCY", "DAVID", "EMMA", "PAUL", "SARA",
		"MARK", "LAURA", "ALI", "FATIMA", "WEI", "MEI", "OMAR", "NINA", "IVAN", "OLGA", "CARLOS", "ROSA", "KENJI",
		"YUKI", "AMIR", "LEILA", "SAM", "ZOE", "LIAM", "ELLA", "NOAH", "MIA", "OSCAR", "RUTH", "HUGO", "ALMA",
		"FELIX", "IRIS", "LEO"}
)

// benchUUID is SQL for a UUID made of a tag (one hex digit) and a number
// n (SQL of a bigint; with hex, already 12 hex digits): ids that grow with
// n, so that the seeding appends to every primary key and foreign key
// index instead of splitting pages all over them (random v4 UUIDs made
// seeding 100,000 studies take over a minute).
func benchUUID(tag, n string, hex ...bool) string {
	digits := "lpad(to_hex(" + n + "), 12, '0')"
	if len(hex) > 0 && hex[0] {
		digits = n
	}
	return "('b0000000-0000-4000-8" + tag + "00-' || " + digits + ")::uuid"
}

// seedStats is what seedData made and how long it took.
type seedStats struct {
	Studies         int64   `json:"dicom_studies"`
	Series          int64   `json:"dicom_series"`
	Instances       int64   `json:"dicom_instances"`
	PhotoStudies    int64   `json:"photo_studies"`
	PhotoInstances  int64   `json:"photo_instances"`
	Cases           int64   `json:"cases"`
	Files           int64   `json:"files"`
	BigSiteStudies  int64   `json:"big_site_studies"`
	GPStudies       int64   `json:"gp_visible_studies"`
	SpecialistStuds int64   `json:"specialist_visible_studies"`
	SeedSeconds     float64 `json:"seed_seconds"`
	AnalyzeSeconds  float64 `json:"vacuum_analyze_seconds"`
	StudiesTableMB  float64 `json:"dicom_studies_mb"`
}

// seedStep is one statement of the seeding; one with ifColumn
// ("table.column") runs only on a schema that has that column (-build-ref
// may build an older commit).
type seedStep struct{ name, sql, ifColumn string }

// The seeding, in order, with the named arguments of seedData.
var seedSteps = []seedStep{
	{name: "stage studies", sql: `
CREATE TEMP TABLE bench_studies AS
SELECT g.i, ` + benchUUID("1", "g.i") + ` AS case_id, ` + benchUUID("2", "g.i") + ` AS study_id, g.photo, s.org_id, s.staff_id,
       s.physicians[1 + floor(g.r_phys * cardinality(s.physicians))::int] AS physician,
       CASE WHEN g.r_route < ` + fmt.Sprint(routedDemoRad) + ` THEN @rad_group::uuid
            WHEN g.r_route < ` + fmt.Sprint(routedDemoRad+routedOther) + ` THEN @other_group::uuid END AS grp,
       g.site, g.pnum, g.r_mod, g.r_ser, g.r_desc,
       to_char(date '2016-01-01' + floor(g.r_date * 3653)::int, 'YYYYMMDD') AS study_date,
       to_char(timestamp '2000-01-01' + g.r_time * interval '86399 seconds', 'HH24MISS') AS study_time
FROM (
    SELECT i, photo, site, r_phys, r_route, r_mod, r_ser, r_desc, r_date, r_time,
           floor(r_pat * CASE WHEN site = 0 THEN ceil(` + fmt.Sprint(bigShare) + ` * @studies::int / ` + fmt.Sprint(studiesPerPatient) + `)
                              ELSE ceil(` + fmt.Sprint((1-bigShare)/(siteCount-1)) + ` * @studies::int / ` + fmt.Sprint(studiesPerPatient) + `) END)::bigint AS pnum
    FROM (
        SELECT i, photo, random() AS r_phys, random() AS r_route, random() AS r_mod, random() AS r_ser,
               random() AS r_desc, random() AS r_date, random() AS r_time, random() AS r_pat,
               CASE WHEN r_site < ` + fmt.Sprint(bigShare) + ` THEN 0
                    ELSE least(` + fmt.Sprint(siteCount-1) + `, 1 + floor((r_site - ` + fmt.Sprint(bigShare) + `) / ` + fmt.Sprint((1-bigShare)/(siteCount-1)) + `)::int) END AS site
        FROM (SELECT i, i > @studies::int AS photo, random() AS r_site FROM generate_series(1, @studies::int + @photos::int) AS i) AS r0
    ) AS r
) AS g
JOIN bench_sites s ON s.idx = g.site`},
	{name: "name patients", sql: `
CREATE TEMP TABLE bench_patients AS
SELECT site, pnum, 'PID' || site || '-' || lpad(pnum::text, 7, '0') AS patient_id,
       CASE WHEN h % 2 = 0 THEN (@common::text[])[(1 + (h / 2) % cardinality(@common::text[]))::int]
            ELSE (@syl1::text[])[(1 + (h / 7) % cardinality(@syl1::text[]))::int] || (@syl2::text[])[(1 + (h / 149) % cardinality(@syl2::text[]))::int]
       END || '^' || (@given::text[])[(1 + (h / 3001) % cardinality(@given::text[]))::int] AS patient_name,
       CASE WHEN h % 3 = 0 THEN 'M' ELSE 'F' END AS sex,
       date '1930-01-01' + (h % 30000)::int AS birth
FROM (SELECT DISTINCT site, pnum, ((site * 1000003 + pnum) * 2654435761) % 4294967291 AS h FROM bench_studies) AS p`},
	{name: "cases", sql: `
INSERT INTO cases (id, site_org_id, created_by, referring_physician_id, status, specialty, priority,
    patient_name, patient_birth_date, patient_sex, patient_mrn, clinical_question, reading_group_id,
    submitted_at, routed_at, created_at, updated_at)
SELECT b.case_id, b.org_id, b.staff_id, b.physician, CASE WHEN b.grp IS NULL THEN 'submitted' ELSE 'acknowledged' END,
    CASE WHEN b.photo THEN 'dermatology' ELSE 'radiology' END, 'routine',
    replace(p.patient_name, '^', ' '), p.birth, p.sex, p.patient_id, 'QIDO benchmark study ' || b.i, b.grp,
    t, CASE WHEN b.grp IS NOT NULL THEN t END, t, t
FROM bench_studies b JOIN bench_patients p USING (site, pnum),
     LATERAL (SELECT to_timestamp(b.study_date || b.study_time, 'YYYYMMDDHH24MISS') AS t) AS ts
ORDER BY b.case_id`},
	{name: "dicom_studies", sql: `
INSERT INTO dicom_studies (id, org_id, case_id, study_instance_uid, patient_name, patient_id, patient_birth_date,
    patient_sex, study_date, study_time, study_description, accession_number)
SELECT b.study_id, b.org_id, b.case_id, '` + uidRoot + `.1.' || b.i, p.patient_name, p.patient_id, to_char(p.birth, 'YYYYMMDD'),
    p.sex, b.study_date, b.study_time, m.modality || ' ' || (ARRAY['HEAD', 'CHEST', 'ABDOMEN', 'SPINE', 'KNEE', 'PELVIS'])[1 + floor(b.r_desc * 6)::int],
    'ACC' || lpad(b.i::text, 9, '0')
FROM bench_studies b JOIN bench_patients p USING (site, pnum),
     LATERAL (SELECT CASE WHEN b.r_mod < 0.3 THEN 'CT' WHEN b.r_mod < 0.5 THEN 'MR' WHEN b.r_mod < 0.7 THEN 'CR'
                          WHEN b.r_mod < 0.85 THEN 'US' WHEN b.r_mod < 0.95 THEN 'DX' ELSE 'MG' END AS modality) AS m
WHERE NOT b.photo ORDER BY b.study_id`},
	{name: "stage series", sql: `
CREATE TEMP TABLE bench_series AS
SELECT ` + benchUUID("3", "row_number() OVER (ORDER BY b.i, k)") + ` AS id, st.org_id, st.id AS study_id, b.case_id, b.staff_id, k,
       st.study_instance_uid || '.' || k AS uid,
       CASE WHEN k <= 2 THEN split_part(st.study_description, ' ', 1)
            ELSE (ARRAY['SR', 'PR', split_part(st.study_description, ' ', 1)])[1 + (b.i + k) % 3] END AS modality
FROM bench_studies b JOIN dicom_studies st ON st.id = b.study_id,
     LATERAL generate_series(1, 1 + floor(b.r_ser * 4)::int) AS k`},
	{name: "dicom_series", sql: `
INSERT INTO dicom_series (id, org_id, study_id, series_instance_uid, modality, series_description, series_number)
SELECT id, org_id, study_id, uid, modality, modality || ' series ' || k, k FROM bench_series ORDER BY id`},
	{name: "stage instances", sql: `
CREATE TEMP TABLE bench_instances AS
SELECT ` + benchUUID("4", "row_number() OVER (ORDER BY se.id, m)") + ` AS file_id, se.id AS series_id, se.org_id, se.case_id, se.staff_id, m,
       se.uid || '.' || m AS sop_uid, md5(se.uid || '.' || m) || md5(se.uid || '/' || m) AS sha
FROM bench_series se, LATERAL generate_series(1, @per_series::int) AS m`},
	{name: "dicom files", sql: `
INSERT INTO files (id, case_id, org_id, kind, filename, content_type, size, sha256, blob_key, stored_size,
    stored_sha256, uploaded_by, preview_status)
SELECT file_id, case_id, org_id, 'dicom', sop_uid || '.dcm', 'application/dicom', 39000, sha,
    'orgs/' || org_id || '/sha256/' || sha, 39000, sha, staff_id, 'ready'
FROM bench_instances ORDER BY file_id`},
	{name: "dicom_instances", sql: `
INSERT INTO dicom_instances (id, org_id, series_id, file_id, sop_instance_uid, sop_class_uid, instance_number, rows,
    columns, frames, transfer_syntax, photometric)
SELECT ` + benchUUID("5", "substr(file_id::text, 25)", true) + `, org_id, series_id, file_id, sop_uid, '1.2.840.10008.5.1.4.1.1.2', m, 128,
    128, 1, '1.2.840.10008.1.2.1', 'MONOCHROME2'
FROM bench_instances ORDER BY file_id`},
	// Intake keeps these counts on the rows (migrations/00017).
	{name: "series counts", ifColumn: "dicom_series.instance_count", sql: `
UPDATE dicom_series SET instance_count = @per_series::int`},
	{name: "study counts", ifColumn: "dicom_studies.instance_count", sql: `
UPDATE dicom_studies st SET series_count = n.series, instance_count = n.series * @per_series::int, modalities = n.modalities
FROM (SELECT study_id, count(*) AS series,
             COALESCE(string_agg(DISTINCT modality, '\' ORDER BY modality) FILTER (WHERE modality <> ''), '') AS modalities
      FROM dicom_series GROUP BY study_id) n
WHERE n.study_id = st.id`},
	{name: "photo_studies", sql: `
INSERT INTO photo_studies (id, org_id, case_id, study_instance_uid, series_instance_uid, patient_name, patient_id,
    patient_birth_date, patient_sex, study_date, study_time, study_description, accession_number,
    referring_physician_name)
SELECT b.study_id, b.org_id, b.case_id, '` + uidRoot + `.2.' || b.i, '` + uidRoot + `.2.' || b.i || '.1', p.patient_name,
    p.patient_id, to_char(p.birth, 'YYYYMMDD'), p.sex, b.study_date, b.study_time, 'Dermatology photos',
    'ACC' || lpad(b.i::text, 9, '0'), 'PHYSICIAN^REFERRING'
FROM bench_studies b JOIN bench_patients p USING (site, pnum)
WHERE b.photo`},
	{name: "photo files and instances", sql: `
WITH src AS (
    SELECT ` + benchUUID("6", "row_number() OVER (ORDER BY st.id, m)") + ` AS file_id, st.id AS study_id, st.org_id, st.case_id, b.staff_id, m,
           st.series_instance_uid, st.series_instance_uid || '.' || m AS sop_uid, md5(st.series_instance_uid || '.' || m) || md5(st.series_instance_uid || '/' || m) AS sha
    FROM bench_studies b JOIN photo_studies st ON st.id = b.study_id, LATERAL generate_series(1, 2) AS m),
f AS (
    INSERT INTO files (id, case_id, org_id, kind, filename, content_type, size, sha256, blob_key, stored_size,
        stored_sha256, uploaded_by, width, height, preview_status)
    SELECT file_id, case_id, org_id, 'photo', 'photo-' || m || '.jpg', 'image/jpeg', 250000, sha,
        'orgs/' || org_id || '/sha256/' || sha, 240000, sha, staff_id, 1024, 768, 'ready'
    FROM src RETURNING id)
INSERT INTO photo_instances (org_id, study_id, file_id, sop_instance_uid, instance_number, transfer_syntax, rows, columns/*cols*/)
SELECT org_id, study_id, file_id, sop_uid, m, '1.2.840.10008.1.2.4.50', 768, 1024/*vals*/
FROM src WHERE file_id IN (SELECT id FROM f)`},
}

// seedData creates the other sites, their users and a second reading
// group, then the studies, series, instances, files, photo studies and
// cases, then VACUUM ANALYZE.
func (e *benchEnv) seedData(ctx context.Context, opts options) (seedStats, error) {
	var st seedStats
	conn, err := pgx.Connect(ctx, e.DBURL)
	if err != nil {
		return st, fmt.Errorf("connect to %s: %w", e.DBName, err)
	}
	defer conn.Close(context.Background())
	start := time.Now()
	for _, q := range []string{"SET synchronous_commit = off", "SET maintenance_work_mem = '256MB'", "SET work_mem = '64MB'"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return st, fmt.Errorf("%s: %w", q, err)
		}
	}
	// The foreign key checks (three per files and per dicom_instances row)
	// are most of the seeding's time; the rows are made consistent, so
	// skip them where allowed (a superuser, as scripts/services.sh's is).
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		e.Logf("seeding with foreign key checks (SET session_replication_role: %v)", err)
	}
	if _, err := conn.Exec(ctx, "SELECT setseed($1)", seedFraction(opts.seed)); err != nil {
		return st, fmt.Errorf("setseed: %w", err)
	}
	otherGroup, err := e.makeOrgs(ctx, conn)
	if err != nil {
		return st, err
	}
	e.Logf("seeding %d DICOM studies (1-4 series, %d instances per series) and %d photo studies over %d sites",
		opts.studies, opts.perSeries, opts.photos, siteCount)
	args := pgx.NamedArgs{"studies": opts.studies, "photos": opts.photos, "per_series": opts.perSeries,
		"rad_group": e.specialist.orgID, "other_group": otherGroup, "common": commonSurnames,
		"syl1": syllables1, "syl2": syllables2, "given": givenNames}
	// With migration 00013 (photo series), each photo instance names its
	// series, SOP class and modality.
	var photoSeries bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_name = 'photo_instances' AND column_name = 'series_instance_uid')`).Scan(&photoSeries); err != nil {
		return st, fmt.Errorf("photo_instances columns: %w", err)
	}
	cols, vals := "", ""
	if photoSeries {
		cols, vals = ", series_instance_uid, sop_class_uid, modality", ", series_instance_uid, '1.2.840.10008.5.1.4.1.1.77.1.4', 'XC'"
	}
	for _, s := range seedSteps {
		if s.ifColumn != "" {
			table, column, _ := strings.Cut(s.ifColumn, ".")
			var has bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
				WHERE table_name = $1 AND column_name = $2)`, table, column).Scan(&has); err != nil {
				return st, fmt.Errorf("seed %s: %w", s.name, err)
			}
			if !has {
				continue
			}
		}
		t0 := time.Now()
		q := strings.NewReplacer("/*cols*/", cols, "/*vals*/", vals).Replace(s.sql)
		tag, err := conn.Exec(ctx, q, args)
		if err != nil {
			return st, fmt.Errorf("seed %s: %w", s.name, err)
		}
		e.Logf("  %s: %d rows in %.1fs", s.name, tag.RowsAffected(), time.Since(t0).Seconds())
	}
	st.SeedSeconds = time.Since(start).Seconds()
	t0 := time.Now()
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return st, fmt.Errorf("vacuum analyze: %w", err)
	}
	st.AnalyzeSeconds = time.Since(t0).Seconds()
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM dicom_studies), (SELECT count(*) FROM dicom_series),
		(SELECT count(*) FROM dicom_instances), (SELECT count(*) FROM photo_studies), (SELECT count(*) FROM photo_instances),
		(SELECT count(*) FROM cases), (SELECT count(*) FROM files),
		(SELECT count(*) FROM cases WHERE site_org_id = $1), (SELECT count(*) FROM cases WHERE site_org_id = $1 AND (referring_physician_id = $2 OR created_by = $2)),
		(SELECT count(*) FROM cases WHERE reading_group_id = $3),
		pg_total_relation_size('dicom_studies') / 1e6`,
		e.staff.orgID, e.gp.userID, e.specialist.orgID).Scan(&st.Studies, &st.Series, &st.Instances, &st.PhotoStudies,
		&st.PhotoInstances, &st.Cases, &st.Files, &st.BigSiteStudies, &st.GPStudies, &st.SpecialistStuds, &st.StudiesTableMB)
	if err != nil {
		return st, fmt.Errorf("count the seeded rows: %w", err)
	}
	e.Logf("seeded %d studies, %d series, %d instances, %d photo studies in %.1fs; vacuum analyze %.1fs",
		st.Studies, st.Series, st.Instances, st.PhotoStudies, st.SeedSeconds, st.AnalyzeSeconds)
	return st, nil
}

// seedFraction maps the -seed flag to setseed's range [-1, 1].
func seedFraction(seed int64) float64 {
	return math.Mod(float64(seed)/1000, 2) - 1
}

// makeOrgs fills the temp table bench_sites (idx, org_id, staff_id,
// physicians): the demo site with its staff and GP and more physicians,
// and siteCount-1 new sites with a staff user and physicians each. It
// returns a second reading group's id.
func (e *benchEnv) makeOrgs(ctx context.Context, conn *pgx.Conn) (string, error) {
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE bench_sites (idx int PRIMARY KEY, org_id uuid NOT NULL,
		staff_id uuid NOT NULL, physicians uuid[] NOT NULL)`); err != nil {
		return "", fmt.Errorf("bench_sites: %w", err)
	}
	addUser := func(org, slug, role string, i int) (string, error) {
		var id string
		err := conn.QueryRow(ctx, `INSERT INTO users (org_id, email, name, roles) VALUES ($1, $2, $3, ARRAY[$4])
			RETURNING id`, org, fmt.Sprintf("%s-%d@%s.example", strings.ReplaceAll(role, "_", "-"), i, slug),
			fmt.Sprintf("Bench %s %d", strings.ReplaceAll(role, "_", " "), i), role).Scan(&id)
		if err != nil {
			return "", fmt.Errorf("create %s %d of %s: %w", role, i, slug, err)
		}
		return id, nil
	}
	for idx := range siteCount {
		org, slug, staff := e.staff.orgID, "demo-site", e.staff.userID
		physicians := []string{}
		n := smallSitePhysicians
		if idx == 0 {
			physicians = append(physicians, e.gp.userID)
			n = bigSitePhysicians
		} else {
			slug = fmt.Sprintf("bench-qido-site-%d", idx)
			if err := conn.QueryRow(ctx, `INSERT INTO orgs (kind, name, slug) VALUES ('site', $1, $2) RETURNING id`,
				fmt.Sprintf("Bench QIDO clinic %d", idx), slug).Scan(&org); err != nil {
				return "", fmt.Errorf("create site %d: %w", idx, err)
			}
			var err error
			if staff, err = addUser(org, slug, "site_staff", 1); err != nil {
				return "", err
			}
		}
		for i := len(physicians); i < n; i++ {
			id, err := addUser(org, slug, "referring_physician", i)
			if err != nil {
				return "", err
			}
			physicians = append(physicians, id)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO bench_sites VALUES ($1, $2, $3, $4)`, idx, org, staff, physicians); err != nil {
			return "", fmt.Errorf("bench_sites %d: %w", idx, err)
		}
	}
	var group string
	err := conn.QueryRow(ctx, `INSERT INTO orgs (kind, name, slug, specialties)
		VALUES ('reading_group', 'Bench QIDO other readers', 'bench-qido-readers', ARRAY['radiology', 'dermatology']) RETURNING id`).Scan(&group)
	if err != nil {
		return "", fmt.Errorf("create reading group: %w", err)
	}
	return group, nil
}
