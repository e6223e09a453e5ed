package dicomweb

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
)

// qidoSeeds are the queries of qido_test.go, good and bad.
var qidoSeeds = []string{
	"PatientID=77654033", "00100020=77654033", "PatientName=doe*", "PatientName=DOE%5EARCH?BALD*",
	"PatientName=*archi*", "PatientName=doe%25", "PatientName=doe_archibald", "PatientName=a%5C%5Cb",
	"StudyDate=20200101", "StudyDate=20200101-", "StudyDate=-20200101", "StudyDate=19000101-20200101",
	"StudyTime=120000", "StudyTime=000000-120000.5", "ModalitiesInStudy=CT,CR", "ModalitiesInStudy=CT%5CCR",
	"StudyInstanceUID=1.2.3,1.2.840.10008.1", "AccessionNumber=NOPE", "ReferringPhysicianName=Holmes*",
	"00080090=Holmes*", "fuzzymatching=false&PatientName=doe*", "includefield=all",
	"includefield=00100010,StudyDate", "includefield=PatientName&includefield=0020000D", "limit=1&offset=1",
	"limit=1000&offset=1000000", "SeriesInstanceUID=1.2.3.4", "Modality=MR", "SOPInstanceUID=1.2.3%5C1.2.4",
	"SOPClassUID=1.2.840.10008.5.1.4.1.1.2",
	"fuzzymatching=true", "StudyDate=2020", "StudyDate=20200101-20190101", "StudyDate=-", "StudyDate=2020-01-01",
	"StudyTime=25", "StudyTime=1260", "StudyDate=20201332", "StudyTime=1200-1100", "limit=-1", "limit=0",
	"limit=100000", "offset=-3", "limit=abc", "StudyInstanceUID=1.2.x", "Frobnicate=1", "00099999=1",
	"includefield=Frobnicate", "PatientID=a&PatientID=b", "limit=2147483647&offset=2147483647",
}

// FuzzQIDOQuery parses arbitrary query strings at each level, as the
// search handlers do before they query. A refusal must be an apperr
// Invalid with a message; an accepted query may carry only the level's
// matching keys, a page within the limits, and SQL arguments of the shapes
// the queries expect: UTF-8 text without NUL (PostgreSQL refuses anything else), valid UIDs, DA and TM values, and LIKE patterns in
// which every %, _ and \ stands for a DICOM wildcard or is escaped.
func FuzzQIDOQuery(f *testing.F) {
	for _, q := range qidoSeeds {
		for level := range uint8(3) {
			f.Add(level, q)
		}
	}
	gin.SetMode(gin.TestMode)
	p := &identity.Principal{Roles: []identity.Role{identity.RoleSiteStaff}}
	f.Fuzz(func(t *testing.T, level uint8, raw string) {
		keys := [][]string{studyKeys, seriesKeys, instanceKeys}[level%3]
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/studies", RawQuery: raw}, Header: http.Header{}}
		q, err := searchOf(c, keys)
		if err != nil {
			requireInvalid(t, err)
			return
		}
		if q.limit < 1 || q.limit > maxLimit || q.offset < 0 || q.offset > maxOffset {
			t.Fatalf("page limit %d offset %d out of bounds", q.limit, q.offset)
		}
		for kw, v := range q.match {
			if !contains(keys, kw) || v == "" || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Fatalf("match %s=%q is not a key of this level %v", kw, v, keys)
			}
		}
		switch level % 3 {
		case 0:
			params, err := studyParams(scope{p: p}, q)
			if err != nil {
				requireInvalid(t, err)
				return
			}
			if params.PageEnd != params.Lim+params.Off || params.PageEnd < params.Lim {
				t.Fatalf("page end %d overflows", params.PageEnd)
			}
			requireUIDs(t, params.StudyUids)
			for _, d := range []string{params.DateFrom, params.DateTo} {
				if d != "" && !dateRe.MatchString(d) {
					t.Fatalf("date argument %q", d)
				}
			}
			if params.TimeFrom != "" && !timeRe.MatchString(params.TimeFrom) {
				t.Fatalf("time argument %q", params.TimeFrom)
			}
			if to, ok := strings.CutSuffix(params.TimeTo, "~"); params.TimeTo != "" && (!ok || !timeRe.MatchString(to)) {
				t.Fatalf("time argument %q", params.TimeTo)
			}
			for kw, pattern := range map[string]string{"PatientName": params.PatientName, "ReferringPhysicianName": params.Referrer} {
				if pattern != "" && unlike(t, pattern) != q.match[kw] {
					t.Fatalf("LIKE pattern %q does not stand for %s=%q", pattern, kw, q.match[kw])
				}
			}
			for _, m := range params.Modalities {
				if m == "" || strings.ContainsAny(m, `,\`) {
					t.Fatalf("modality argument %q", m)
				}
			}
		case 1:
			uids, err := uidList("SeriesInstanceUID", q.match["SeriesInstanceUID"])
			if err != nil {
				requireInvalid(t, err)
				return
			}
			requireUIDs(t, uids)
		case 2:
			uids, err := uidList("SOPInstanceUID", q.match["SOPInstanceUID"])
			if err != nil {
				requireInvalid(t, err)
				return
			}
			requireUIDs(t, uids)
		}
	})
}

func requireInvalid(t *testing.T, err error) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Invalid || e.Message == "" {
		t.Fatalf("refusal is not an Invalid apperr with a message: %v", err)
	}
}

func requireUIDs(t *testing.T, uids []string) {
	t.Helper()
	for _, u := range uids {
		if !ValidUID(u) {
			t.Fatalf("UID argument %q", u)
		}
	}
}

// unlike turns a LIKE pattern back into the DICOM value it was made from,
// failing t on an unescaped \ at the end.
func unlike(t *testing.T, pattern string) string {
	t.Helper()
	var b strings.Builder
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\\':
			if i+1 == len(rs) || !strings.ContainsRune(`%_\`, rs[i+1]) {
				t.Fatalf("LIKE pattern %q has a stray escape", pattern)
			}
			i++
			b.WriteRune(rs[i])
		case '%':
			b.WriteRune('*')
		case '_':
			b.WriteRune('?')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
