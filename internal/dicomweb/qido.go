package dicomweb

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/dicomweb/dicomwebdb"
	"github.com/teleread/teleread/internal/identity"
)

// qidoRoutes are the QIDO-RS searches (PS3.18 10.6).
var qidoRoutes = routeSet{routes: []route{
	{method: http.MethodGet, path: "/studies", rule: readers, handle: (*Handler).searchStudies},
	{method: http.MethodGet, path: "/studies/:study/series", rule: readers, handle: (*Handler).searchSeries},
	{method: http.MethodGet, path: "/series", rule: readers, handle: (*Handler).searchSeries},
	{method: http.MethodGet, path: "/studies/:study/series/:series/instances", rule: readers, handle: (*Handler).searchInstances},
	{method: http.MethodGet, path: "/studies/:study/instances", rule: readers, handle: (*Handler).searchInstances},
	{method: http.MethodGet, path: "/instances", rule: readers, handle: (*Handler).searchInstances},
}}

// Search limits: a search answers at most defaultLimit matches unless
// limit says otherwise, and never more than maxLimit.
const (
	defaultLimit = 100
	maxLimit     = 1000
	maxOffset    = 1_000_000
)

// qidoAttr is an attribute a search returns (and may match on).
type qidoAttr struct{ tag, keyword, vr string }

// The attributes of each level (PS3.18 Tables 10.6.3-3, -4, -5).
var (
	studyAttrs = []qidoAttr{
		{"00080005", "SpecificCharacterSet", "CS"}, {"00080020", "StudyDate", "DA"}, {"00080030", "StudyTime", "TM"},
		{"00080050", "AccessionNumber", "SH"}, {"00080061", "ModalitiesInStudy", "CS"},
		{"00080090", "ReferringPhysicianName", "PN"}, {"00100010", "PatientName", "PN"}, {"00100020", "PatientID", "LO"},
		{"00100030", "PatientBirthDate", "DA"}, {"00100040", "PatientSex", "CS"}, {"0020000D", "StudyInstanceUID", "UI"},
		{"00200010", "StudyID", "SH"}, {"00201206", "NumberOfStudyRelatedSeries", "IS"},
		{"00201208", "NumberOfStudyRelatedInstances", "IS"}, {tagRetrieveURL, "RetrieveURL", "UR"},
	}
	seriesAttrs = []qidoAttr{
		{"00080005", "SpecificCharacterSet", "CS"}, {"00080060", "Modality", "CS"}, {"0008103E", "SeriesDescription", "LO"},
		{"0020000D", "StudyInstanceUID", "UI"}, {"0020000E", "SeriesInstanceUID", "UI"}, {"00200011", "SeriesNumber", "IS"},
		{"00201209", "NumberOfSeriesRelatedInstances", "IS"}, {tagRetrieveURL, "RetrieveURL", "UR"},
	}
	instanceAttrs = []qidoAttr{
		{"00080005", "SpecificCharacterSet", "CS"}, {"00080016", "SOPClassUID", "UI"}, {"00080018", "SOPInstanceUID", "UI"},
		{"0020000D", "StudyInstanceUID", "UI"}, {"0020000E", "SeriesInstanceUID", "UI"}, {"00200013", "InstanceNumber", "IS"},
		{"00280010", "Rows", "US"}, {"00280011", "Columns", "US"}, {"00280008", "NumberOfFrames", "IS"},
		{tagRetrieveURL, "RetrieveURL", "UR"},
	}
)

// Matching keys each level accepts (by keyword; a tag is translated).
var (
	studyKeys = []string{"PatientID", "PatientName", "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
		"ReferringPhysicianName", "StudyInstanceUID"}
	seriesKeys   = []string{"Modality", "SeriesInstanceUID"}
	instanceKeys = []string{"SOPClassUID", "SOPInstanceUID"}
)

// allAttrs maps every tag and keyword a search knows to its keyword.
var allAttrs = func() map[string]string {
	m := map[string]string{}
	for _, set := range [][]qidoAttr{studyAttrs, seriesAttrs, instanceAttrs} {
		for _, a := range set {
			m[a.tag] = a.keyword
			m[strings.ToLower(a.keyword)] = a.keyword
		}
	}
	return m
}()

// isTag reports whether k is a tag written as 8 hex digits.
func isTag(k string) bool {
	if len(k) != 8 {
		return false
	}
	_, err := strconv.ParseUint(k, 16, 32)
	return err == nil
}

// keywordOf reads a query key as a tag (8 hex digits) or keyword.
func keywordOf(k string) (string, bool) {
	if kw, ok := allAttrs[strings.ToUpper(k)]; ok && len(k) == 8 {
		return kw, true
	}
	kw, ok := allAttrs[strings.ToLower(k)]
	return kw, ok
}

// search is a parsed QIDO-RS query: matching values by keyword, paging,
// and whether every attribute was asked for (includefield=all).
type search struct {
	match         map[string]string
	limit, offset int32
}

// searchOf parses the query string for a level that matches on keys. The
// attributes returned are always the level's whole table (includefield
// names only attributes of it, or all, so there is nothing to add).
func searchOf(c *gin.Context, keys []string) (search, error) {
	s := search{match: map[string]string{}, limit: defaultLimit}
	for k, vs := range c.Request.URL.Query() {
		switch lk := strings.ToLower(k); lk {
		case "limit", "offset":
			n, err := strconv.Atoi(vs[len(vs)-1])
			low, bound := 1, maxLimit
			if lk == "offset" {
				low, bound = 0, maxOffset
			}
			if err != nil || n < low || n > bound {
				return s, invalid("%s must be a whole number from %d to %d", lk, low, bound)
			}
			if lk == "limit" {
				s.limit = int32(n)
			} else {
				s.offset = int32(n)
			}
		case "fuzzymatching":
			if v := strings.ToLower(vs[len(vs)-1]); v != "false" {
				return s, invalid("fuzzymatching is not supported (only fuzzymatching=false)")
			}
		case "includefield":
			for _, v := range vs {
				for _, f := range strings.Split(v, ",") {
					f = strings.TrimSpace(f)
					if f == "" || strings.EqualFold(f, "all") {
						continue
					}
					// A tag this server does not answer is ignored (OHIF
					// always asks for StudyDescription, SeriesDate, ...);
					// a name that is no attribute at all is a mistake.
					if _, ok := keywordOf(f); !ok && !isTag(f) {
						return s, invalid("includefield %q is not an attribute this server returns", f)
					}
				}
			}
		default:
			kw, ok := keywordOf(k)
			if !ok || !contains(keys, kw) {
				return s, invalid("%q is not an attribute this search matches on", k)
			}
			if len(vs) > 1 {
				return s, invalid("%s is given more than once", kw)
			}
			if !utf8.ValidString(vs[0]) || strings.ContainsRune(vs[0], 0) {
				// PostgreSQL refuses such text: it would be a 500.
				return s, invalid("%s is not valid UTF-8 text", kw)
			}
			if vs[0] != "" {
				s.match[kw] = vs[0]
			}
		}
	}
	return s, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// uidList reads a comma- or backslash-separated list of UIDs.
func uidList(kw, v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, u := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\\' }) {
		if !ValidUID(u) {
			return nil, invalid("%s %q is not a DICOM UID", kw, u)
		}
		out = append(out, u)
	}
	return out, nil
}

// likePattern turns a DICOM wildcard value (* and ?) into a LIKE pattern,
// escaping LIKE's own %, _ and \. A value without wildcards matches exactly.
func likePattern(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '%', '_', '\\':
			b.WriteRune('\\')
			b.WriteRune(r)
		case '*':
			b.WriteRune('%')
		case '?':
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var (
	dateRe = regexp.MustCompile(`^\d{4}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$`)
	timeRe = regexp.MustCompile(`^([01]\d|2[0-3])([0-5]\d([0-5]\d(\.\d{1,6})?)?)?$`)
)

// rangeOf reads a DA or TM value: one value, or a range A-B, -B, A-.
// Malformed or reversed ranges are Invalid.
func rangeOf(kw, v string, re *regexp.Regexp) (from, to string, err error) {
	if v == "" {
		return "", "", nil
	}
	from, to, isRange := strings.Cut(v, "-")
	if !isRange {
		to = from
	}
	if from == "" && to == "" {
		return "", "", invalid("%s %q is not a value or a range", kw, v)
	}
	for _, x := range []string{from, to} {
		if x != "" && !re.MatchString(x) {
			return "", "", invalid("%s %q is malformed", kw, v)
		}
	}
	if from != "" && to != "" && from > to {
		return "", "", invalid("%s range %q is reversed", kw, v)
	}
	if re == timeRe && to != "" {
		to += "~" // a time's end covers its finer times: "1200" covers "120059"
	}
	return from, to, nil
}

// scope is the principal and case of a search.
type scope struct {
	p      *identity.Principal
	caseID uuid.UUID
}

// scopeOf reads the principal, the URL's UIDs and case, and checks that the
// case (when one is named) and the study (when one is named) are visible.
func (h *Handler) scopeOf(c *gin.Context) (scope, target, error) {
	p := identity.FromContext(c.Request.Context())
	t, err := targetOf(c)
	if err != nil {
		return scope{}, t, err
	}
	s := scope{p: p, caseID: t.caseID}
	ctx := c.Request.Context()
	if t.caseID != uuid.Nil {
		ok, err := h.q.CaseVisible(ctx, h.pool, dicomwebdb.CaseVisibleParams{CaseID: t.caseID,
			Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: p.SeesWholeSite(), UserID: p.UserID})
		if err != nil {
			return s, t, fmt.Errorf("check case visible: %w", err)
		}
		if !ok {
			return s, t, apperr.New(apperr.NotFound, "case not found")
		}
	}
	if t.study != "" {
		ok, err := h.q.StudyVisible(ctx, h.pool, dicomwebdb.StudyVisibleParams{StudyUid: t.study, CaseID: t.caseID,
			Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: p.SeesWholeSite(), UserID: p.UserID})
		if err != nil {
			return s, t, fmt.Errorf("check study visible: %w", err)
		}
		if !ok {
			return s, t, apperr.New(apperr.NotFound, "study not found")
		}
	}
	return s, t, nil
}

// customPlans runs a search's query as an unnamed statement (pgx's
// QueryExecModeCacheDescribe), so that PostgreSQL plans it for its values
// on every run. The searches are catch-all queries (`@x = ” OR col = @x`)
// whose useful indexes depend on which filters are given; as a prepared
// statement (pgx's default) PostgreSQL switches, after five runs, to one
// generic plan when that looks no dearer than the plans so far, and a
// generic plan of a catch-all can use none of them: over 100,000 studies
// every later search on that connection then took about a second
// (docs/benchmarks.md, QIDO-RS).
type customPlans struct{ db dicomwebdb.DBTX }

func (d customPlans) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return d.db.Exec(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

func (d customPlans) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return d.db.Query(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

func (d customPlans) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return d.db.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
}

// seen is one case a search showed, for the audit.
type seen struct{ caseID, org uuid.UUID }

// auditSearch records one read per case whose studies a search showed.
func (h *Handler) auditSearch(c *gin.Context, p *identity.Principal, level string, hits []seen) error {
	count := map[seen]int{}
	var order []seen
	for _, k := range hits {
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	evs := make([]audit.Event, 0, len(order))
	for _, k := range order {
		evs = append(evs, audit.Event{Actor: p.Actor(), Action: "dicomweb.search",
			ObjectType: "case", ObjectID: k.caseID.String(), ObjectOrgID: &k.org,
			Details: map[string]any{"level": level, "matches": count[k], "query": c.Request.URL.RawQuery}})
	}
	// A page of studies is as many cases: their reads are one INSERT, not
	// one per case (100 of them took longer than the search itself;
	// docs/benchmarks.md, QIDO-RS).
	if err := audit.RecordReads(c.Request.Context(), h.pool, evs); err != nil {
		return fmt.Errorf("audit search: %w", err)
	}
	return nil
}

// answer writes the matches as a DICOM JSON array. No match is 200 with []
// rather than 204 No Content (which PS3.18 also allows): OHIF and most
// clients accept an empty array, and it keeps one answer shape.
func (h *Handler) answer(c *gin.Context, sets []Dataset) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, sets); err != nil {
		h.fail(c, fmt.Errorf("encode search answer: %w", err))
		return
	}
	c.Header("Cache-Control", "private, no-store")
	c.Data(http.StatusOK, mediaDICOMJSON+"; charset=utf-8", buf.Bytes())
}

// searchStudies answers GET {root}/studies.
func (h *Handler) searchStudies(c *gin.Context) {
	sc, _, err := h.scopeOf(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	q, err := searchOf(c, studyKeys)
	if err != nil {
		h.fail(c, err)
		return
	}
	params, err := studyParams(sc, q)
	if err != nil {
		h.fail(c, err)
		return
	}
	rows, err := h.q.SearchStudies(c.Request.Context(), customPlans{h.pool}, params)
	if err != nil {
		h.fail(c, fmt.Errorf("search studies: %w", err))
		return
	}
	sets := make([]Dataset, 0, len(rows))
	hits := make([]seen, 0, len(rows))
	for _, r := range rows {
		hits = append(hits, seen{r.CaseID, r.OrgID})
		sets = append(sets, h.studyDataset(c, r))
	}
	if err := h.auditSearch(c, sc.p, "study", hits); err != nil {
		h.fail(c, err)
		return
	}
	h.answer(c, sets)
}

// studyDataset is the answer of a study search for one study.
func (h *Handler) studyDataset(c *gin.Context, r dicomwebdb.SearchStudiesRow) Dataset {
	return Dataset{
		"00080005": str("CS", "ISO_IR 192"), "00080020": str("DA", r.StudyDate), "00080030": str("TM", r.StudyTime),
		"00080050": str("SH", r.AccessionNumber), "00080061": str("CS", strings.Split(r.Modalities, `\`)...),
		"00080090": pn(r.ReferringPhysicianName), "00100010": pn(r.PatientName), "00100020": str("LO", r.PatientID),
		"00100030": str("DA", r.PatientBirthDate), "00100040": str("CS", r.PatientSex),
		"0020000D": str("UI", r.StudyInstanceUid), "00200010": str("SH"),
		"00201206": num("IS", r.SeriesCount), "00201208": num("IS", r.InstanceCount),
		tagRetrieveURL: str("UR", h.retrieveURL(c, r.StudyInstanceUid)),
	}
}

// addStudyAttrs adds, to the answers of a search of all series or all
// instances (one not under a study), the attributes of their studies
// (PS3.18 10.6.3.3: the study-level attributes are included when the
// search is not scoped to a study), found in one search of those studies
// in the same scope. Each answer keeps its own Retrieve URL.
func (h *Handler) addStudyAttrs(c *gin.Context, sc scope, sets []Dataset, studies []string) error {
	uids := make([]string, 0, len(studies))
	for _, u := range studies {
		if !slices.Contains(uids, u) {
			uids = append(uids, u)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	p := sc.p
	rows, err := h.q.SearchStudies(c.Request.Context(), customPlans{h.pool}, dicomwebdb.SearchStudiesParams{
		CaseID: sc.caseID, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: p.SeesWholeSite(), UserID: p.UserID,
		StudyUids: uids, Modalities: []string{}, Lim: int32(len(uids)), PageEnd: int32(len(uids))})
	if err != nil {
		return fmt.Errorf("search the studies of the answer: %w", err)
	}
	byUID := make(map[string]Dataset, len(rows))
	for _, r := range rows {
		byUID[r.StudyInstanceUid] = h.studyDataset(c, r)
	}
	for i, ds := range sets {
		for tag, v := range byUID[studies[i]] {
			if _, ok := ds[tag]; !ok {
				ds[tag] = v
			}
		}
	}
	return nil
}

// studyParams turns a study search into the query's parameters.
func studyParams(sc scope, q search) (dicomwebdb.SearchStudiesParams, error) {
	p := sc.p
	params := dicomwebdb.SearchStudiesParams{CaseID: sc.caseID, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID,
		SiteWide: p.SeesWholeSite(), UserID: p.UserID, PatientID: q.match["PatientID"],
		Accession: q.match["AccessionNumber"], Lim: q.limit, Off: q.offset, PageEnd: q.limit + q.offset}
	if v := q.match["PatientName"]; v != "" && v != "*" {
		params.PatientName = likePattern(v)
	}
	if v := q.match["ReferringPhysicianName"]; v != "" && v != "*" {
		params.Referrer = likePattern(v)
	}
	var err error
	if params.StudyUids, err = uidList("StudyInstanceUID", q.match["StudyInstanceUID"]); err != nil {
		return params, err
	}
	if params.DateFrom, params.DateTo, err = rangeOf("StudyDate", q.match["StudyDate"], dateRe); err != nil {
		return params, err
	}
	if params.TimeFrom, params.TimeTo, err = rangeOf("StudyTime", q.match["StudyTime"], timeRe); err != nil {
		return params, err
	}
	if v := q.match["ModalitiesInStudy"]; v != "" {
		params.Modalities = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\\' })
	}
	if params.StudyUids == nil {
		params.StudyUids = []string{}
	}
	if params.Modalities == nil {
		params.Modalities = []string{}
	}
	return params, nil
}

// searchSeries answers GET {root}/series and {root}/studies/{study}/series.
func (h *Handler) searchSeries(c *gin.Context) {
	sc, t, err := h.scopeOf(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	q, err := searchOf(c, seriesKeys)
	if err != nil {
		h.fail(c, err)
		return
	}
	uids, err := uidList("SeriesInstanceUID", q.match["SeriesInstanceUID"])
	if err != nil {
		h.fail(c, err)
		return
	}
	p := sc.p
	rows, err := h.q.SearchSeries(c.Request.Context(), customPlans{h.pool}, dicomwebdb.SearchSeriesParams{CaseID: sc.caseID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: p.SeesWholeSite(), UserID: p.UserID,
		StudyUid: t.study, Modality: q.match["Modality"], SeriesUids: append([]string{}, uids...), Lim: q.limit, Off: q.offset,
		PageEnd: q.limit + q.offset})
	if err != nil {
		h.fail(c, fmt.Errorf("search series: %w", err))
		return
	}
	sets := make([]Dataset, 0, len(rows))
	hits := make([]seen, 0, len(rows))
	studies := make([]string, 0, len(rows))
	for _, r := range rows {
		hits = append(hits, seen{r.CaseID, r.OrgID})
		ds := Dataset{
			"00080005": str("CS", "ISO_IR 192"), "00080060": str("CS", r.Modality), "0008103E": str("LO", r.SeriesDescription),
			"0020000D": str("UI", r.StudyInstanceUid), "0020000E": str("UI", r.SeriesInstanceUid), "00200011": str("IS"),
			"00201209":     num("IS", r.InstanceCount),
			tagRetrieveURL: str("UR", h.retrieveURL(c, r.StudyInstanceUid)+"/series/"+r.SeriesInstanceUid),
		}
		if r.SeriesNumber != 0 {
			ds["00200011"] = num("IS", int64(r.SeriesNumber))
		}
		sets = append(sets, ds)
		studies = append(studies, r.StudyInstanceUid)
	}
	if t.study == "" {
		if err := h.addStudyAttrs(c, sc, sets, studies); err != nil {
			h.fail(c, err)
			return
		}
	}
	if err := h.auditSearch(c, p, "series", hits); err != nil {
		h.fail(c, err)
		return
	}
	h.answer(c, sets)
}

// searchInstances answers GET {root}/instances,
// {root}/studies/{study}/instances and …/series/{series}/instances.
func (h *Handler) searchInstances(c *gin.Context) {
	sc, t, err := h.scopeOf(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	q, err := searchOf(c, instanceKeys)
	if err != nil {
		h.fail(c, err)
		return
	}
	uids, err := uidList("SOPInstanceUID", q.match["SOPInstanceUID"])
	if err != nil {
		h.fail(c, err)
		return
	}
	if v := q.match["SOPClassUID"]; v != "" && !ValidUID(v) {
		h.fail(c, invalid("SOPClassUID %q is not a DICOM UID", v))
		return
	}
	p := sc.p
	rows, err := h.q.SearchInstances(c.Request.Context(), customPlans{h.pool}, dicomwebdb.SearchInstancesParams{CaseID: sc.caseID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, SiteWide: p.SeesWholeSite(), UserID: p.UserID,
		StudyUid: t.study, SeriesUid: t.series, SopClass: q.match["SOPClassUID"], SopUids: append([]string{}, uids...),
		Lim: q.limit, Off: q.offset})
	if err != nil {
		h.fail(c, fmt.Errorf("search instances: %w", err))
		return
	}
	sets := make([]Dataset, 0, len(rows))
	hits := make([]seen, 0, len(rows))
	studies := make([]string, 0, len(rows))
	for _, r := range rows {
		hits = append(hits, seen{r.CaseID, r.OrgID})
		ds := Dataset{
			"00080005": str("CS", "ISO_IR 192"), "00080016": str("UI", r.SopClassUid), "00080018": str("UI", r.SopInstanceUid),
			"0020000D": str("UI", r.StudyInstanceUid), "0020000E": str("UI", r.SeriesInstanceUid), "00200013": str("IS"),
			"00280010": str("US"), "00280011": str("US"), "00280008": num("IS", int64(r.Frames)),
			tagRetrieveURL: str("UR", h.retrieveURL(c, r.StudyInstanceUid)+"/series/"+r.SeriesInstanceUid+"/instances/"+r.SopInstanceUid),
		}
		if r.InstanceNumber != 0 {
			ds["00200013"] = num("IS", int64(r.InstanceNumber))
		}
		if r.Rows != 0 {
			ds["00280010"] = num("US", int64(r.Rows))
		}
		if r.Columns != 0 {
			ds["00280011"] = num("US", int64(r.Columns))
		}
		sets = append(sets, ds)
		studies = append(studies, r.StudyInstanceUid)
	}
	if t.study == "" {
		if err := h.addStudyAttrs(c, sc, sets, studies); err != nil {
			h.fail(c, err)
			return
		}
	}
	if err := h.auditSearch(c, p, "instance", hits); err != nil {
		h.fail(c, err)
		return
	}
	h.answer(c, sets)
}
