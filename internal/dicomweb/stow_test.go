package dicomweb_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

// The four CT instances of one study of Doe^Archibald (ID 77654033), MIT,
// from internal/intake/testdata: the study of the Orthanc capture
// testdata/orthanc-stow-001.bin.
var ctFiles = []string{
	"../intake/testdata/dicomdir/77654033/CT2/17106",
	"../intake/testdata/dicomdir/77654033/CT2/17136",
	"../intake/testdata/dicomdir/77654033/CT2/17166",
	"../intake/testdata/dicomdir/77654033/CT2/17196",
}

const (
	ctStudyUID = "1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.1"
	// The other test patient's instance (Doe^Peter), MIT.
	otherPatientFile = "../intake/testdata/dicomdir/98892001/CT2N/6293"
)

// stowBed is the whole server (REST and DICOMweb) on a real listener,
// with its database for counting rows, two sites and a reading group,
// and site A's draft case for the patient of ctFiles.
type stowBed struct {
	env                   *testenv.Env
	srv                   *httptest.Server
	siteA, siteB, readers *testenv.Tenant
	caseA, caseB          string
}

func newStowBed(t *testing.T) *stowBed {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	cs := cases.NewService(env.Pool, river)
	in := intake.New(env.Pool, env.Blob, cs, river, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 30, Pool: env.Pool,
		Identity: identity.NewService(env.Pool), Cases: cs, Intake: in, Jobs: river})
	b := &stowBed{env: env, srv: httptest.NewServer(engine)}
	t.Cleanup(b.srv.Close)
	fx := testenv.NewFixtures(t, env)
	b.siteA = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.siteB = fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.readers = fx.Tenant(t, identity.OrgReadingGroup, "readers", []string{"radiology"}, identity.RoleSpecialist, identity.RoleOrgAdmin)
	b.caseA = b.draft(t, b.siteA)
	b.caseB = b.draft(t, b.siteB)
	return b
}

// draft creates a radiology draft case at a site for Doe^Archibald
// (77654033) through the API and returns its id.
func (b *stowBed) draft(t *testing.T, site *testenv.Tenant) string {
	t.Helper()
	js, _ := json.Marshal(map[string]any{
		"referring_physician_id": site.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
		"priority": "routine", "clinical_question": "Fracture?",
		"patient": map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
	})
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/api/v1/cases", bytes.NewReader(js))
	req.Header.Set("Authorization", "Bearer "+site.Tokens[identity.RoleSiteStaff])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out["id"].(string)
}

// basic is an Authorization header the way Orthanc's DICOMweb client
// sends it: HTTP Basic with the API token as the password.
func basic(token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("orthanc:"+token))
}

// post sends a STOW-RS request; auth is a whole Authorization header
// value ("" for none).
func (b *stowBed) post(t *testing.T, path, auth, ct string, body []byte, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

func (b *stowBed) fileRows(t *testing.T, caseID string) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM files WHERE case_id = $1", caseID).Scan(&n))
	return n
}

// mpart is one part of a multipart/related body.
type mpart struct {
	ct   string // Content-Type of the part ("" for none)
	body []byte
}

func dicomPart(t *testing.T, file string) mpart {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	return mpart{ct: "application/dicom", body: raw}
}

const testBoundary = "teleread-test-boundary-7f3a"

// related builds a multipart/related body the way Orthanc frames it: a
// Content-Length per part, no CRLF after the closing delimiter.
func related(parts ...mpart) []byte {
	var buf bytes.Buffer
	for _, p := range parts {
		fmt.Fprintf(&buf, "--%s\r\n", testBoundary)
		if p.ct != "" {
			fmt.Fprintf(&buf, "Content-Type: %s\r\n", p.ct)
		}
		fmt.Fprintf(&buf, "Content-Length: %d\r\n\r\n", len(p.body))
		buf.Write(p.body)
		buf.WriteString("\r\n")
	}
	fmt.Fprintf(&buf, "--%s--", testBoundary)
	return buf.Bytes()
}

const relatedCT = `multipart/related; type="application/dicom"; boundary=` + testBoundary

// storeAnswer is the part of a Store Instances Response (DICOM JSON) the
// tests look at.
type storeAnswer struct {
	refs   []map[string]string // ReferencedSOPInstanceUID, RetrieveURL
	failed []map[string]any    // ReferencedSOPInstanceUID, FailureReason (number)
}

func parseStore(t *testing.T, raw []byte) storeAnswer {
	t.Helper()
	var ds map[string]struct {
		VR    string            `json:"vr"`
		Value []json.RawMessage `json:"Value"`
	}
	require.NoError(t, json.Unmarshal(raw, &ds), string(raw))
	var out storeAnswer
	items := func(tag string) []map[string]struct {
		VR    string `json:"vr"`
		Value []any  `json:"Value"`
	} {
		var list []map[string]struct {
			VR    string `json:"vr"`
			Value []any  `json:"Value"`
		}
		for _, v := range ds[tag].Value {
			var item map[string]struct {
				VR    string `json:"vr"`
				Value []any  `json:"Value"`
			}
			require.NoError(t, json.Unmarshal(v, &item))
			list = append(list, item)
		}
		return list
	}
	first := func(v []any) any {
		if len(v) == 0 {
			return nil
		}
		return v[0]
	}
	for _, it := range items("00081199") {
		m := map[string]string{}
		if s, ok := first(it["00081155"].Value).(string); ok {
			m["uid"] = s
		}
		if s, ok := first(it["00081190"].Value).(string); ok {
			m["url"] = s
		}
		require.Equal(t, "SQ", ds["00081199"].VR)
		out.refs = append(out.refs, m)
	}
	for _, it := range items("00081198") {
		m := map[string]any{"reason": first(it["00081197"].Value)}
		if s, ok := first(it["00081155"].Value).(string); ok {
			m["uid"] = s
		}
		out.failed = append(out.failed, m)
	}
	return out
}

func (a storeAnswer) refUIDs() []string {
	var out []string
	for _, r := range a.refs {
		out = append(out, r["uid"])
	}
	return out
}

// sopUIDs are the SOP Instance UIDs of ctFiles, in order.
var ctSOPs = []string{
	"1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.93",
	"1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.94",
	"1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.95",
	"1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.96",
}

// TestOrthancCaptureReplay sends, over a raw TCP connection, the exact
// bytes Orthanc 1.10.1's DICOMweb client sent for a 4-instance study
// (testdata/orthanc-stow-001.bin: chunked transfer encoding in one chunk,
// a Content-Length per part, no CRLF after the closing delimiter), with
// only the request line and Host rewritten and the Basic Authorization
// header Orthanc adds when a server has a Username/Password inserted.
func TestOrthancCaptureReplay(t *testing.T) {
	t.Parallel()
	b := newStowBed(t)
	capture, err := os.ReadFile("testdata/orthanc-stow-001.bin")
	require.NoError(t, err)
	require.Len(t, capture, 16141, "the capture's wire size (testdata/orthanc-stow-client-request.txt, request #1)")
	head, body, ok := bytes.Cut(capture, []byte("\r\n\r\n"))
	require.True(t, ok)
	require.True(t, bytes.HasPrefix(body, []byte("3dfb\r\n--")), "one chunk of 15867 bytes")
	require.True(t, bytes.HasSuffix(body, []byte("-8294041d42f8--\r\n0\r\n\r\n")), "no CRLF after the closing delimiter")
	lines := strings.Split(string(head), "\r\n")
	require.Equal(t, "POST /dicom-web/studies HTTP/1.1", lines[0])
	require.Equal(t, "Host: 127.0.0.1:8099", lines[1])
	host := strings.TrimPrefix(b.srv.URL, "http://")
	out := []string{"POST /dicomweb/cases/" + b.caseA + "/studies HTTP/1.1", "Host: " + host,
		"Authorization: " + basic(b.siteA.Tokens[identity.RoleSiteStaff])}
	out = append(out, lines[2:]...)
	wire := append([]byte(strings.Join(out, "\r\n")+"\r\n\r\n"), body...)

	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = conn.Write(wire)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s %v", raw, resp.Header.Values("Warning"))
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/dicom+json"), resp.Header.Get("Content-Type"))
	ans := parseStore(t, raw)
	require.Empty(t, ans.failed)
	require.ElementsMatch(t, ctSOPs, ans.refUIDs())
	for _, r := range ans.refs {
		require.Contains(t, r["url"], "/dicomweb/cases/"+b.caseA+"/studies/"+ctStudyUID+"/series/")
		require.True(t, strings.HasSuffix(r["url"], "/instances/"+r["uid"]), r["url"])
	}
	require.Equal(t, 4, b.fileRows(t, b.caseA))

	// What was stored is byte for byte what was sent.
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/dicomweb/cases/"+b.caseA+"/studies/"+ctStudyUID, nil)
	req.Header.Set("Authorization", basic(b.siteA.Tokens[identity.RoleSiteStaff]))
	got := wadoInstances(t, req)
	require.Len(t, got, 4)
	for _, f := range ctFiles {
		want, err := os.ReadFile(f)
		require.NoError(t, err)
		require.Contains(t, got, sha(want), f)
	}
}

// TestStowRequestErrors: what is refused as a whole, before any part.
func TestStowRequestErrors(t *testing.T) {
	t.Parallel()
	b := newStowBed(t)
	staff := basic(b.siteA.Tokens[identity.RoleSiteStaff])
	path := "/dicomweb/cases/" + b.caseA + "/studies"
	good := related(dicomPart(t, ctFiles[0]))
	for _, tc := range []struct {
		name   string
		ct     string
		body   []byte
		status int
	}{
		{"no boundary", `multipart/related; type="application/dicom"`, good, http.StatusBadRequest},
		{"wrong boundary", `multipart/related; type="application/dicom"; boundary=not-the-one`, good, http.StatusBadRequest},
		{"not multipart/related", "application/dicom", dicomPart(t, ctFiles[0]).body, http.StatusUnsupportedMediaType},
		{"multipart/form-data", "multipart/form-data; boundary=" + testBoundary, good, http.StatusUnsupportedMediaType},
		{"no content type", "", good, http.StatusUnsupportedMediaType},
		{"dicom+json parts", `multipart/related; type="application/dicom+json"; boundary=` + testBoundary, good, http.StatusUnsupportedMediaType},
	} {
		resp, raw := b.post(t, path, staff, tc.ct, tc.body)
		require.Equal(t, tc.status, resp.StatusCode, "%s: %s", tc.name, raw)
	}
	require.Equal(t, 0, b.fileRows(t, b.caseA))

	// The type left bare, as many senders write it: accepted.
	resp, raw := b.post(t, path, staff, "multipart/related; type=application/dicom; boundary="+testBoundary, good)
	require.Equal(t, http.StatusOK, resp.StatusCode, "bare type: %s", raw)
	require.Equal(t, 1, b.fileRows(t, b.caseA))
}

// TestStowParts: per-part outcomes in one request.
func TestStowParts(t *testing.T) {
	t.Parallel()
	b := newStowBed(t)
	staff := basic(b.siteA.Tokens[identity.RoleSiteStaff])
	path := "/dicomweb/cases/" + b.caseA + "/studies"

	t.Run("a part of another type among good ones", func(t *testing.T) {
		body := related(dicomPart(t, ctFiles[0]), mpart{ct: "image/jpeg", body: []byte("\xff\xd8\xff\xe0 not a dicom")}, dicomPart(t, ctFiles[1]))
		resp, raw := b.post(t, path, staff, relatedCT, body)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(raw))
		ans := parseStore(t, raw)
		require.ElementsMatch(t, ctSOPs[:2], ans.refUIDs())
		require.Len(t, ans.failed, 1)
		require.EqualValues(t, 0xC000, ans.failed[0]["reason"])
		warn := strings.Join(resp.Header.Values("Warning"), "\n")
		require.Contains(t, warn, "part 2")
		require.Contains(t, warn, "image/jpeg")
		require.Equal(t, 2, b.fileRows(t, b.caseA))
	})

	t.Run("re-sending an instance already in the case", func(t *testing.T) {
		resp, raw := b.post(t, path, staff, relatedCT, related(dicomPart(t, ctFiles[0])))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		require.Equal(t, ctSOPs[:1], parseStore(t, raw).refUIDs())
		require.Equal(t, 2, b.fileRows(t, b.caseA), "still one row for it")
	})

	t.Run("a non-DICOM part", func(t *testing.T) {
		body := related(mpart{ct: "application/dicom", body: bytes.Repeat([]byte("this is not DICOM "), 40)})
		resp, raw := b.post(t, path, staff, relatedCT, body)
		require.Equal(t, http.StatusConflict, resp.StatusCode, string(raw))
		ans := parseStore(t, raw)
		require.Empty(t, ans.refs)
		require.Len(t, ans.failed, 1)
		require.EqualValues(t, 0xC000, ans.failed[0]["reason"])
		require.NotEmpty(t, resp.Header.Values("Warning"))
		require.Equal(t, 2, b.fileRows(t, b.caseA))
	})

	t.Run("study in the URL not the instance's", func(t *testing.T) {
		resp, raw := b.post(t, path+"/1.2.3.4.5", staff, relatedCT, related(dicomPart(t, ctFiles[2])))
		require.Equal(t, http.StatusConflict, resp.StatusCode, string(raw))
		ans := parseStore(t, raw)
		require.Len(t, ans.failed, 1)
		require.EqualValues(t, 0xA900, ans.failed[0]["reason"])
		require.Equal(t, ctSOPs[2], ans.failed[0]["uid"])
		require.Contains(t, strings.Join(resp.Header.Values("Warning"), "\n"), "1.2.3.4.5")
		require.Equal(t, 2, b.fileRows(t, b.caseA))
		// The right study in the URL stores it.
		resp, raw = b.post(t, path+"/"+ctStudyUID, staff, relatedCT, related(dicomPart(t, ctFiles[2])))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		require.Equal(t, 3, b.fileRows(t, b.caseA))
	})

	t.Run("another patient", func(t *testing.T) {
		resp, raw := b.post(t, path, staff, relatedCT, related(dicomPart(t, otherPatientFile)))
		require.Equal(t, http.StatusConflict, resp.StatusCode, string(raw))
		ans := parseStore(t, raw)
		require.Len(t, ans.failed, 1)
		require.EqualValues(t, 0xA900, ans.failed[0]["reason"])
		require.Equal(t, 3, b.fileRows(t, b.caseA))
	})

	t.Run("a truncated last part", func(t *testing.T) {
		last := dicomPart(t, ctFiles[3])
		full := related(dicomPart(t, ctFiles[0]), last)
		// Cut inside the last part's payload: no closing delimiter.
		cut := full[:len(full)-len("\r\n--"+testBoundary+"--")-len(last.body)/2]
		resp, raw := b.post(t, path, staff, relatedCT, cut)
		require.Contains(t, []int{http.StatusAccepted, http.StatusConflict}, resp.StatusCode, string(raw))
		ans := parseStore(t, raw)
		require.NotEmpty(t, ans.failed, string(raw))
		require.NotContains(t, ans.refUIDs(), ctSOPs[3], "the cut instance is not stored")
		require.NotEmpty(t, resp.Header.Values("Warning"))
		require.Equal(t, 3, b.fileRows(t, b.caseA), "nothing half-written")
		var n int
		require.NoError(t, b.env.Pool.QueryRow(context.Background(),
			"SELECT count(*) FROM files WHERE case_id = $1 AND size <> stored_size", b.caseA).Scan(&n))
		require.Zero(t, n)
	})

	t.Run("XML response", func(t *testing.T) {
		resp, raw := b.post(t, path, staff, relatedCT, related(dicomPart(t, ctFiles[3])), "Accept", "application/dicom+xml")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/dicom+xml"), resp.Header.Get("Content-Type"))
		var doc struct {
			XMLName    xml.Name `xml:"NativeDicomModel"`
			Attributes []struct {
				Tag  string `xml:"tag,attr"`
				VR   string `xml:"vr,attr"`
				Item []struct {
					Attributes []struct {
						Tag   string   `xml:"tag,attr"`
						Value []string `xml:"Value"`
					} `xml:"DicomAttribute"`
				} `xml:"Item"`
			} `xml:"DicomAttribute"`
		}
		require.NoError(t, xml.Unmarshal(raw, &doc), string(raw))
		var found bool
		for _, a := range doc.Attributes {
			if a.Tag != "00081199" {
				continue
			}
			require.Equal(t, "SQ", a.VR)
			require.Len(t, a.Item, 1)
			for _, e := range a.Item[0].Attributes {
				if e.Tag == "00081155" {
					require.Equal(t, []string{ctSOPs[3]}, e.Value)
					found = true
				}
			}
		}
		require.True(t, found, string(raw))
		require.Equal(t, 4, b.fileRows(t, b.caseA))
	})
}

// TestStowWho: who may store into a case.
func TestStowWho(t *testing.T) {
	t.Parallel()
	b := newStowBed(t)
	body := related(dicomPart(t, ctFiles[0]))
	path := "/dicomweb/cases/" + b.caseA + "/studies"

	resp, raw := b.post(t, "/dicomweb/cases/"+b.caseB+"/studies", basic(b.siteA.Tokens[identity.RoleSiteStaff]), relatedCT, body)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "another tenant's case: %s", raw)

	resp, raw = b.post(t, path, basic(b.readers.Tokens[identity.RoleSpecialist]), relatedCT, body)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "a specialist: %s", raw)

	resp, raw = b.post(t, path, "", relatedCT, body)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(raw))
	var challenge bool
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		challenge = challenge || strings.HasPrefix(v, "Basic ")
	}
	require.True(t, challenge, "a Basic challenge among %q", resp.Header.Values("WWW-Authenticate"))

	resp, raw = b.post(t, path, basic("not-a-token"), relatedCT, body)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(raw))

	require.Equal(t, 0, b.fileRows(t, b.caseA))
	require.Equal(t, 0, b.fileRows(t, b.caseB))

	// The referring physician of the site may.
	resp, raw = b.post(t, path, basic(b.siteA.Tokens[identity.RoleReferringPhysician]), relatedCT, body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, 1, b.fileRows(t, b.caseA))
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// wadoInstances does a WADO-RS request and returns the parts of its
// multipart/related answer by SHA-256.
func wadoInstances(t *testing.T, req *http.Request) map[string][]byte {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/related", mt)
	require.Equal(t, "application/dicom", params["type"])
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	out := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(p)
		require.NoError(t, err)
		out[sha(body)] = body
	}
	return out
}
