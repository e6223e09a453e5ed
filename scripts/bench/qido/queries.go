package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// kind is one sort of search: who makes it, and how its values are drawn
// and its answers found by SQL.
type kind struct {
	name, who, desc string
	// values draws up to n distinct searches of the kind.
	values func(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]search, error)
}

// search is one search: its path and query under /dicomweb, the tag whose
// values the answer lists, and the UIDs it must list, in order.
type search struct {
	path string
	tag  string
	want []string
}

// The tags a search's answer is checked by.
const (
	tagStudyUID  = "0020000D"
	tagSeriesUID = "0020000E"
	tagSOPUID    = "00080018"
)

// Callers.
const (
	whoStaff      = "staff"
	whoGP         = "gp"
	whoSpecialist = "specialist"
)

// kinds are every search the benchmark makes.
var kinds = []kind{
	{"patient_id", whoStaff, "/studies?PatientID= one patient of the site", patientIDs(whoStaff)},
	{"name_prefix", whoStaff, "/studies?PatientName=DOE* (a common surname, ~1% of patients)", namePrefixes(whoStaff, false)},
	{"name_qmark", whoStaff, "/studies?PatientName=DO?E* (? for the surname's 3rd letter)", namePrefixes(whoStaff, true)},
	{"date_month", whoStaff, "/studies?StudyDate=YYYYMM01-YYYYMM31", months(whoStaff, "")},
	{"date_month_ct", whoStaff, "/studies?StudyDate=<month>&ModalitiesInStudy=CT", months(whoStaff, "CT")},
	{"accession", whoStaff, "/studies?AccessionNumber=", accessions},
	{"study_uids", whoStaff, "/studies?StudyInstanceUID=a,b,c", studyUIDLists},
	{"all_page", whoStaff, "/studies?limit=50&offset=0", allStudies(whoStaff, 0)},
	{"all_deep", whoStaff, "/studies?limit=50&offset=1000", allStudies(whoStaff, 1000)},
	{"study_series", whoStaff, "/studies/{study}/series", studySeries},
	{"series_instances", whoStaff, "/studies/{study}/series/{series}/instances", seriesInstances},
	{"series_mr", whoStaff, "/series?Modality=MR&limit=100", seriesMR},
	{"instance_sop", whoStaff, "/instances?SOPInstanceUID=", instanceSOPs},
	{"gp_all_page", whoGP, "/studies?limit=50 as the referring physician (own cases)", allStudies(whoGP, 0)},
	{"gp_name_prefix", whoGP, "/studies?PatientName=DOE* as the referring physician", namePrefixes(whoGP, false)},
	{"gp_patient_id", whoGP, "/studies?PatientID= as the referring physician", patientIDs(whoGP)},
	{"spec_all_page", whoSpecialist, "/studies?limit=50 as a specialist (routed cases)", allStudies(whoSpecialist, 0)},
	{"spec_date_month", whoSpecialist, "/studies?StudyDate=<month> as a specialist", months(whoSpecialist, "")},
	{"spec_patient_id", whoSpecialist, "/studies?PatientID= as a specialist", patientIDs(whoSpecialist)},
}

func kindByName(name string) *kind {
	for i := range kinds {
		if kinds[i].name == name {
			return &kinds[i]
		}
	}
	return nil
}

func (e *benchEnv) principal(who string) principal {
	switch who {
	case whoGP:
		return e.gp
	case whoSpecialist:
		return e.specialist
	}
	return e.staff
}

// visibleCases is the visibility rule (docs/security.md) for principal p,
// on cases c: $1 org, $2 site-wide, $3 user. The searches' own SQL is
// internal/dicomweb/qido.sql; this is written apart from it, to check it.
const visibleCases = `((c.site_org_id = $1::uuid AND ($2::boolean OR c.referring_physician_id = $3::uuid OR c.created_by = $3::uuid))
    OR c.reading_group_id = $1::uuid)`

func visArgs(p principal) []any { return []any{p.orgID, p.siteWide, p.userID} }

// studyFilter is a study search's matching values, as SQL sees them.
type studyFilter struct {
	patientID, nameLike, accession string
	uids                           []string
	dateFrom, dateTo, modality     string
	limit, offset                  int
}

// wantStudies returns the study UIDs a study search must answer, in the
// order of PS3.18's paging (newest first, as qido.sql orders).
func (e *benchEnv) wantStudies(ctx context.Context, p principal, f studyFilter) ([]string, error) {
	where := `AND ($4 = '' OR st.patient_id = $4) AND ($5 = '' OR lower(st.patient_name) LIKE lower($5))
        AND ($6 = '' OR st.accession_number = $6) AND (cardinality($7::text[]) = 0 OR st.study_instance_uid = ANY($7::text[]))
        AND ($8 = '' OR st.study_date BETWEEN $8 AND $9)`
	q := `SELECT uid FROM (
    SELECT st.study_instance_uid AS uid, st.study_date, st.study_time FROM dicom_studies st JOIN cases c ON c.id = st.case_id
    WHERE ` + visibleCases + where + `
      AND ($10 = '' OR EXISTS (SELECT 1 FROM dicom_series se WHERE se.study_id = st.id AND se.modality = $10))
    UNION ALL
    SELECT st.study_instance_uid, st.study_date, st.study_time FROM photo_studies st JOIN cases c ON c.id = st.case_id
    WHERE ` + visibleCases + where + ` AND ($10 = '' OR $10 = 'XC')
) u ORDER BY study_date DESC, study_time DESC, uid LIMIT $11 OFFSET $12`
	args := append(visArgs(p), f.patientID, f.nameLike, f.accession, append([]string{}, f.uids...), f.dateFrom, f.dateTo,
		f.modality, f.limit, f.offset)
	return e.uids(ctx, q, args...)
}

// uids runs q and returns its one text column.
func (e *benchEnv) uids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := e.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil {
		out = []string{}
	}
	return out, err
}

// studyQuery turns a filter into a /studies search (PS3.18 10.6).
func studyQuery(f studyFilter, match url.Values) search {
	q := url.Values{}
	for k, v := range match {
		q[k] = v
	}
	q.Set("limit", fmt.Sprint(f.limit))
	if f.offset > 0 {
		q.Set("offset", fmt.Sprint(f.offset))
	}
	return search{path: "/studies?" + q.Encode(), tag: tagStudyUID}
}

// draw picks up to n distinct values from the text column of q.
func (e *benchEnv) draw(ctx context.Context, rng *rand.Rand, n int, q string, args ...any) ([]string, error) {
	all, err := e.uids(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if len(all) > n {
		all = all[:n]
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no values: %s", strings.Join(strings.Fields(q), " "))
	}
	return all, nil
}

// studyKind makes a kind's searches from drawn values.
func studyKind(who string, f func(v string) (studyFilter, url.Values), draw func(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]string, error)) func(context.Context, *benchEnv, *rand.Rand, int) ([]search, error) {
	return func(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]search, error) {
		vals, err := draw(ctx, e, rng, n)
		if err != nil {
			return nil, err
		}
		var out []search
		for _, v := range vals {
			filter, match := f(v)
			s := studyQuery(filter, match)
			if s.want, err = e.wantStudies(ctx, e.principal(who), filter); err != nil {
				return nil, fmt.Errorf("expected answer of %s: %w", s.path, err)
			}
			out = append(out, s)
		}
		return out, nil
	}
}

// patientIDs: the patients of studies the caller sees (a few of them).
func patientIDs(who string) func(context.Context, *benchEnv, *rand.Rand, int) ([]search, error) {
	return studyKind(who, func(v string) (studyFilter, url.Values) {
		return studyFilter{patientID: v, limit: 100}, url.Values{"PatientID": {v}}
	}, func(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]string, error) {
		return e.draw(ctx, rng, n, `SELECT patient_id FROM (SELECT DISTINCT st.patient_id FROM dicom_studies st
			JOIN cases c ON c.id = st.case_id WHERE `+visibleCases+`) p ORDER BY 1 LIMIT 20000`, visArgs(e.principal(who))...)
	})
}

// namePrefixes: a common surname with * (and with ? for its 3rd letter).
func namePrefixes(who string, qmark bool) func(context.Context, *benchEnv, *rand.Rand, int) ([]search, error) {
	return studyKind(who, func(v string) (studyFilter, url.Values) {
		if qmark && len(v) >= 3 {
			v = v[:2] + "?" + v[3:]
		}
		return studyFilter{nameLike: likeOf(v + "*"), limit: 100}, url.Values{"PatientName": {v + "*"}}
	}, func(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]string, error) {
		names := slices.Clone(commonSurnames)
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		return names[:min(n, len(names))], nil
	})
}

// likeOf turns a DICOM wildcard value into a LIKE pattern (the seeded
// names hold no %, _ or \).
func likeOf(v string) string {
	return strings.NewReplacer("*", "%", "?", "_").Replace(v)
}

// months: one calendar month of the ten years of study dates, optionally
// with ModalitiesInStudy.
func months(who, modality string) func(context.Context, *benchEnv, *rand.Rand, int) ([]search, error) {
	return studyKind(who, func(v string) (studyFilter, url.Values) {
		from, to := v+"01", v+"31"
		m := url.Values{"StudyDate": {from + "-" + to}}
		if modality != "" {
			m.Set("ModalitiesInStudy", modality)
		}
		return studyFilter{dateFrom: from, dateTo: to, modality: modality, limit: 100}, m
	}, func(_ context.Context, _ *benchEnv, rng *rand.Rand, n int) ([]string, error) {
		var all []string
		for y := 2016; y <= 2025; y++ {
			for m := 1; m <= 12; m++ {
				all = append(all, fmt.Sprintf("%d%02d", y, m))
			}
		}
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		return all[:min(n, len(all))], nil
	})
}

var accessions = studyKind(whoStaff, func(v string) (studyFilter, url.Values) {
	return studyFilter{accession: v, limit: 100}, url.Values{"AccessionNumber": {v}}
}, func(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]string, error) {
	return e.draw(ctx, rng, n, `SELECT accession_number FROM dicom_studies WHERE org_id = $1 ORDER BY random() LIMIT $2`, e.staff.orgID, n)
})

var studyUIDLists = studyKind(whoStaff, func(v string) (studyFilter, url.Values) {
	uids := strings.Split(v, ",")
	return studyFilter{uids: uids, limit: 100}, url.Values{"StudyInstanceUID": {v}}
}, func(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]string, error) {
	all, err := e.draw(ctx, rng, 3*n, `SELECT study_instance_uid FROM dicom_studies WHERE org_id = $1 ORDER BY random() LIMIT $2`, e.staff.orgID, 3*n)
	if err != nil {
		return nil, err
	}
	var out []string
	for i := 0; i+3 <= len(all); i += 3 {
		out = append(out, strings.Join(all[i:i+3], ","))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("fewer than 3 studies")
	}
	return out, nil
})

// allStudies: every study the caller sees, 50 at a time from offset.
func allStudies(who string, offset int) func(context.Context, *benchEnv, *rand.Rand, int) ([]search, error) {
	return studyKind(who, func(string) (studyFilter, url.Values) {
		return studyFilter{limit: 50, offset: offset}, nil
	}, func(context.Context, *benchEnv, *rand.Rand, int) ([]string, error) { return []string{""}, nil })
}

// studySeries: the series of one study of the site.
func studySeries(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]search, error) {
	vals, err := e.draw(ctx, rng, n, `SELECT study_instance_uid FROM dicom_studies WHERE org_id = $1 ORDER BY random() LIMIT $2`, e.staff.orgID, n)
	if err != nil {
		return nil, err
	}
	var out []search
	for _, v := range vals {
		s := search{path: "/studies/" + v + "/series", tag: tagSeriesUID}
		if s.want, err = e.uids(ctx, `SELECT se.series_instance_uid FROM dicom_series se JOIN dicom_studies st ON st.id = se.study_id
			WHERE st.study_instance_uid = $1 ORDER BY se.series_number, se.series_instance_uid`, v); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// seriesInstances: the instances of one series of the site.
func seriesInstances(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]search, error) {
	vals, err := e.draw(ctx, rng, n, `SELECT st.study_instance_uid || '/series/' || se.series_instance_uid FROM dicom_series se
		JOIN dicom_studies st ON st.id = se.study_id WHERE se.org_id = $1 ORDER BY random() LIMIT $2`, e.staff.orgID, n)
	if err != nil {
		return nil, err
	}
	var out []search
	for _, v := range vals {
		_, series, _ := strings.Cut(v, "/series/")
		s := search{path: "/studies/" + v + "/instances", tag: tagSOPUID}
		if s.want, err = e.uids(ctx, `SELECT i.sop_instance_uid FROM dicom_instances i JOIN dicom_series se ON se.id = i.series_id
			WHERE se.series_instance_uid = $1 ORDER BY i.instance_number, i.sop_instance_uid`, series); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// seriesMR: the first 100 MR series the site staff sees.
func seriesMR(ctx context.Context, e *benchEnv, _ *rand.Rand, _ int) ([]search, error) {
	want, err := e.uids(ctx, `SELECT se.series_instance_uid FROM dicom_series se JOIN dicom_studies st ON st.id = se.study_id
		JOIN cases c ON c.id = st.case_id WHERE `+visibleCases+` AND se.modality = 'MR'
		ORDER BY st.study_instance_uid, se.series_number, se.series_instance_uid LIMIT 100`, visArgs(e.staff)...)
	if err != nil {
		return nil, err
	}
	return []search{{path: "/series?Modality=MR&limit=100", tag: tagSeriesUID, want: want}}, nil
}

// instanceSOPs: one instance of the site by its SOP Instance UID.
func instanceSOPs(ctx context.Context, e *benchEnv, rng *rand.Rand, n int) ([]search, error) {
	vals, err := e.draw(ctx, rng, n, `SELECT sop_instance_uid FROM dicom_instances WHERE org_id = $1 ORDER BY random() LIMIT $2`, e.staff.orgID, n)
	if err != nil {
		return nil, err
	}
	var out []search
	for _, v := range vals {
		out = append(out, search{path: "/instances?SOPInstanceUID=" + v, tag: tagSOPUID, want: []string{v}})
	}
	return out, nil
}

// answerUIDs reads the values of tag from a QIDO-RS answer (a DICOM JSON
// array), in order.
func answerUIDs(body []byte, tag string) ([]string, error) {
	var sets []map[string]json.RawMessage
	if err := json.Unmarshal(body, &sets); err != nil {
		return nil, fmt.Errorf("answer is not a DICOM JSON array: %w: %.300s", err, body)
	}
	out := make([]string, 0, len(sets))
	for i, ds := range sets {
		var el struct {
			Value []string `json:"Value"`
		}
		if raw, ok := ds[tag]; ok {
			if err := json.Unmarshal(raw, &el); err != nil {
				return nil, fmt.Errorf("data set %d: %s: %w", i, tag, err)
			}
		}
		v := el.Value
		if len(v) != 1 {
			return nil, fmt.Errorf("data set %d has %d values of %s", i, len(v), tag)
		}
		out = append(out, v[0])
	}
	return out, nil
}
