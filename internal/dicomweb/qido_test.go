package dicomweb_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
)

// qidoAnswer is a QIDO-RS answer: data sets by tag.
type qidoAnswer []map[string]struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// first is the first value of tag in data set i, as a string ("" if none).
func (a qidoAnswer) first(i int, tag string) string {
	v := a[i][tag].Value
	if len(v) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v[0], &s) == nil {
		return s
	}
	var pn struct{ Alphabetic string }
	if json.Unmarshal(v[0], &pn) == nil && pn.Alphabetic != "" {
		return pn.Alphabetic
	}
	return string(v[0])
}

// search GETs path with query q as token and decodes a 200 answer; any
// other status is returned with the raw body.
func (b *authzBed) search(t *testing.T, path string, q url.Values, token string) (int, qidoAnswer, string) {
	t.Helper()
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, raw := b.do(t, http.MethodGet, path, token, nil, "")
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, string(raw)
	}
	require.Contains(t, resp.Header.Get("Content-Type"), "application/dicom+json")
	var a qidoAnswer
	require.NoError(t, json.Unmarshal(raw, &a), string(raw))
	return resp.StatusCode, a, string(raw)
}

func TestQIDOStudies(t *testing.T) {
	t.Parallel()
	b := newAuthzBed(t)
	b.stowAll(t)
	staff := b.siteA.Tokens[identity.RoleSiteStaff]

	for _, root := range []string{"/dicomweb", "/dicomweb/cases/" + b.caseA} {
		st, a, raw := b.search(t, root+"/studies", nil, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Len(t, a, 1, raw)
		require.Equal(t, b.studyUID, a.first(0, "0020000D"))
		require.Equal(t, "77654033", a.first(0, "00100020"))
		require.Contains(t, a.first(0, "00100010"), "Archibald")
		require.Equal(t, "3", a.first(0, "00201208"))
		require.Equal(t, "3", a.first(0, "00201206"))
		require.Equal(t, "CR", a.first(0, "00080061"))
		require.Equal(t, b.srv.URL+root+"/studies/"+b.studyUID, a.first(0, "00081190"))
	}
	st, a, raw := b.search(t, "/dicomweb/studies", nil, staff)
	require.Equal(t, http.StatusOK, st, raw)
	date, tm := a.first(0, "00080020"), a.first(0, "00080030")
	require.Len(t, date, 8, raw)

	matches := func(q url.Values) int {
		t.Helper()
		st, a, raw := b.search(t, "/dicomweb/studies", q, staff)
		require.Equal(t, http.StatusOK, st, "%v: %s", q, raw)
		return len(a)
	}
	for q, want := range map[string]int{
		"PatientID=77654033":                             1,
		"00100020=77654033":                              1,
		"PatientID=7765403":                              0,
		"PatientName=doe*":                               1,
		"PatientName=DOE%5EARCH?BALD*":                   1,
		"PatientName=*archi*":                            1,
		"PatientName=smith*":                             0,
		"PatientName=doe%25":                             0, // % is literal, not LIKE's wildcard
		"PatientName=doe_archibald":                      0, // _ is literal
		"StudyDate=" + date:                              1,
		"StudyDate=" + date + "-":                        1,
		"StudyDate=-" + date:                             1,
		"StudyDate=19000101-" + date:                     1,
		"StudyDate=21000101-":                            0,
		"StudyDate=-19000101":                            0,
		"ModalitiesInStudy=CR":                           1,
		"ModalitiesInStudy=CT":                           0,
		"ModalitiesInStudy=CT,CR":                        1,
		"StudyInstanceUID=" + b.studyUID:                 1,
		"StudyInstanceUID=1.2.3," + b.studyUID:           1,
		"StudyInstanceUID=1.2.3":                         0,
		"AccessionNumber=NOPE":                           0,
		"fuzzymatching=false&PatientName=doe*":           1,
		"includefield=all":                               1,
		"includefield=00100010,StudyDate":                1,
		"includefield=PatientName&includefield=0020000D": 1,
		// what OHIF sends: tags this server does not answer are ignored
		"includefield=00081030,00080060,00080090,00100030": 1,
		"limit=1":          1,
		"limit=1&offset=1": 0,
	} {
		v, err := url.ParseQuery(q)
		require.NoError(t, err)
		require.Equal(t, want, matches(v), q)
	}
	if tm != "" {
		require.Equal(t, 1, matches(url.Values{"StudyTime": {tm}}), tm)
		require.Equal(t, 1, matches(url.Values{"StudyTime": {"000000-" + tm}}), tm)
	}

	for _, q := range []string{
		"fuzzymatching=true", "StudyDate=2020", "StudyDate=20200101-20190101", "StudyDate=-", "StudyDate=2020-01-01",
		"StudyTime=25", "StudyTime=1260", "StudyDate=20201332", "StudyTime=1200-1100", "limit=-1", "limit=0", "limit=100000", "offset=-3", "limit=abc",
		"StudyInstanceUID=1.2.x", "Frobnicate=1", "00099999=1", "includefield=Frobnicate", "Modality=CR",
	} {
		v, err := url.ParseQuery(q)
		require.NoError(t, err)
		st, _, raw := b.search(t, "/dicomweb/studies", v, staff)
		require.Equal(t, http.StatusBadRequest, st, "%s: %s", q, raw)
	}
}

func TestQIDOSeriesInstances(t *testing.T) {
	t.Parallel()
	b := newAuthzBed(t)
	b.stowAll(t)
	staff := b.siteA.Tokens[identity.RoleSiteStaff]

	for _, root := range []string{"/dicomweb", "/dicomweb/cases/" + b.caseA} {
		st, series, raw := b.search(t, root+"/studies/"+b.studyUID+"/series", nil, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Len(t, series, 3, raw)
		for i := range series {
			require.Equal(t, "CR", series.first(i, "00080060"))
			require.Equal(t, "1", series.first(i, "00201209"))
		}
		seriesUID := series.first(0, "0020000E")
		require.Equal(t, b.srv.URL+root+"/studies/"+b.studyUID+"/series/"+seriesUID, series.first(0, "00081190"))

		st, one, raw := b.search(t, root+"/series", url.Values{"SeriesInstanceUID": {seriesUID}}, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Len(t, one, 1, raw)
		st, none, raw := b.search(t, root+"/series", url.Values{"Modality": {"MR"}}, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Empty(t, none, raw)

		st, inst, raw := b.search(t, root+"/studies/"+b.studyUID+"/series/"+seriesUID+"/instances", nil, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Len(t, inst, 1, raw)
		require.NotEmpty(t, inst.first(0, "00080016"))
		require.Equal(t, "16", inst.first(0, "00280010"))
		sop := inst.first(0, "00080018")
		require.Equal(t, b.srv.URL+root+"/studies/"+b.studyUID+"/series/"+seriesUID+"/instances/"+sop, inst.first(0, "00081190"))

		st, all, raw := b.search(t, root+"/instances", nil, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Len(t, all, 3, raw)
		// A search of all series or all instances answers their studies'
		// attributes too; one under a study does not repeat them.
		require.Equal(t, "77654033", all.first(0, "00100020"), raw)
		require.Equal(t, "77654033", one.first(0, "00100020"))
		require.NotEmpty(t, one.first(0, "00100010"))
		require.Equal(t, "3", one.first(0, "00201206"), "NumberOfStudyRelatedSeries")
		require.Equal(t, b.srv.URL+root+"/studies/"+b.studyUID+"/series/"+seriesUID, one.first(0, "00081190"),
			"the series keeps its own Retrieve URL")
		require.Empty(t, series.first(0, "00100020"))
		st, page, raw := b.search(t, root+"/studies/"+b.studyUID+"/instances", url.Values{"limit": {"2"}, "offset": {"1"}}, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Len(t, page, 2, raw)
		st, bySOP, raw := b.search(t, root+"/instances", url.Values{"SOPInstanceUID": {sop}}, staff)
		require.Equal(t, http.StatusOK, st, raw)
		require.Len(t, bySOP, 1, raw)
	}

	// An unknown study, and another tenant's: 404 under a study, nothing in
	// a search.
	st, _, raw := b.search(t, "/dicomweb/studies/1.2.3.999/series", nil, staff)
	require.Equal(t, http.StatusNotFound, st, raw)
	other := b.siteB.Tokens[identity.RoleSiteStaff]
	for _, path := range []string{"/studies/" + b.studyUID + "/series", "/studies/" + b.studyUID + "/instances"} {
		st, _, raw := b.search(t, "/dicomweb"+path, nil, other)
		require.Equal(t, http.StatusNotFound, st, raw)
	}
	for _, path := range []string{"/studies", "/series", "/instances"} {
		st, a, raw := b.search(t, "/dicomweb"+path, nil, other)
		require.Equal(t, http.StatusOK, st, raw)
		require.Empty(t, a, raw)
		st, _, raw = b.search(t, "/dicomweb/cases/"+b.caseA+path, nil, other)
		require.Equal(t, http.StatusNotFound, st, raw)
	}

	// Every search that showed the case is audited as a read of it.
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/api/v1/audit?action=dicomweb.search&object_id="+b.caseA, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.siteA.Tokens[identity.RoleOrgAdmin])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var page struct {
		Items []struct {
			Action string `json:"action"`
		} `json:"items"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	require.NotEmpty(t, page.Items)
	for _, it := range page.Items {
		require.Equal(t, "dicomweb.search", it.Action)
	}
}

// TestQIDOReferringPhysician: studies answer and match the Referring
// Physician's Name their instances carry, with wildcards, case-insensitive.
func TestQIDOReferringPhysician(t *testing.T) {
	t.Parallel()
	b := newMetaBed(t)
	for _, q := range []string{"Moriarty^James", "moriarty*", "MORIART?^*"} {
		status, a, raw := b.search(t, "/dicomweb/studies", url.Values{"ReferringPhysicianName": {q}}, b.staff)
		require.Equal(t, http.StatusOK, status, raw)
		require.Len(t, a, 1, "%s: %s", q, raw)
		require.Equal(t, "Moriarty^James", a.first(0, "00080090"))
	}
	status, a, raw := b.search(t, "/dicomweb/studies", url.Values{"00080090": {"Holmes*"}}, b.staff)
	require.True(t, status == http.StatusNoContent || (status == http.StatusOK && len(a) == 0), "%d %s", status, raw)
	status, a, raw = b.search(t, "/dicomweb/studies", nil, b.staff)
	require.Equal(t, http.StatusOK, status, raw)
	require.Len(t, a, 3, raw)
}
