package dicomweb_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomweb"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

// The three CR instances of one study of Doe^Archibald (ID 77654033), MIT,
// from internal/intake/testdata (see its README).
var studyFiles = []string{
	"../intake/testdata/dicomdir/77654033/CR1/6154",
	"../intake/testdata/dicomdir/77654033/CR2/6247",
	"../intake/testdata/dicomdir/77654033/CR3/6278",
}

// authzBed is the whole server (REST and DICOMweb) with two sites, a
// reading group and a platform admin, and site A's draft case for the
// patient of studyFiles.
type authzBed struct {
	srv                          *httptest.Server
	siteA, siteB, readers, platf *testenv.Tenant
	caseA                        string
	// studyUID is studyFiles' Study Instance UID, once stored.
	studyUID string
}

func newAuthzBed(t *testing.T) *authzBed {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	cs := cases.NewService(env.Pool, river)
	in := intake.New(env.Pool, env.Blob, cs, river, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 30, Pool: env.Pool,
		Identity: identity.NewService(env.Pool), Cases: cs, Intake: in, Jobs: river})
	b := &authzBed{srv: httptest.NewServer(engine)}
	t.Cleanup(b.srv.Close)
	fx := testenv.NewFixtures(t, env)
	b.platf = fx.Tenant(t, identity.OrgPlatform, "platform", nil, identity.RolePlatformAdmin)
	b.siteA = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.siteB = fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin)
	b.readers = fx.Tenant(t, identity.OrgReadingGroup, "readers", []string{"radiology"}, identity.RoleSpecialist, identity.RoleOrgAdmin)
	b.caseA = b.newCase(t, b.siteA)
	return b
}

func (b *authzBed) newCase(t *testing.T, site *testenv.Tenant) string {
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
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	return out["id"].(string)
}

// stowBody is a multipart/related body of files, as STOW-RS takes it.
func stowBody(t *testing.T, files ...string) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, mw.Close())
	return &buf, fmt.Sprintf(`multipart/related; type="application/dicom"; boundary=%s`, mw.Boundary())
}

// do sends a request with HTTP Basic and the token as password, as a PACS
// would; token "" sends none.
func (b *authzBed) do(t *testing.T, method, path, token string, body io.Reader, ct string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, body)
	require.NoError(t, err)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("pacs:"+token)))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

// stowAll stores studyFiles into site A's case.
func (b *authzBed) stowAll(t *testing.T) {
	t.Helper()
	body, ct := stowBody(t, studyFiles...)
	resp, raw := b.do(t, http.MethodPost, "/dicomweb/cases/"+b.caseA+"/studies", b.siteA.Tokens[identity.RoleSiteStaff], body, ct)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Contains(t, resp.Header.Get("Content-Type"), "application/dicom+json")
	var ans map[string]struct {
		Value []json.RawMessage
	}
	require.NoError(t, json.Unmarshal(raw, &ans))
	require.Len(t, ans["00081199"].Value, len(studyFiles), string(raw))
	require.NotContains(t, ans, "00081198")
	var url string
	require.NoError(t, json.Unmarshal(ans["00081190"].Value[0], &url))
	require.True(t, strings.HasPrefix(url, b.srv.URL+"/dicomweb/cases/"+b.caseA+"/studies/"), url)
	b.studyUID = url[strings.LastIndex(url, "/")+1:]
	require.True(t, dicomweb.ValidUID(b.studyUID), url)
}

// writes are the routes that change data: site staff and referring
// physicians of the case's site; every other route reads, for every role.
func writes(method string) bool { return method == http.MethodPost }

// TestRouteRoleMatrix calls every DICOMweb route, at both roots, as each
// role and without credentials: a role the route does not allow is 403,
// one it allows is neither 401 nor 403, no credentials is 401 with a Basic
// challenge.
func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	b := newAuthzBed(t)
	b.stowAll(t)
	tokens := map[identity.Role]string{
		identity.RoleSiteStaff:          b.siteA.Tokens[identity.RoleSiteStaff],
		identity.RoleReferringPhysician: b.siteA.Tokens[identity.RoleReferringPhysician],
		identity.RoleSpecialist:         b.readers.Tokens[identity.RoleSpecialist],
		identity.RoleOrgAdmin:           b.siteA.Tokens[identity.RoleOrgAdmin],
		identity.RolePlatformAdmin:      b.platf.Tokens[identity.RolePlatformAdmin],
	}
	routes := 0
	for key := range dicomweb.Policy() {
		method, route, _ := strings.Cut(key, " ")
		if method == http.MethodOptions {
			continue
		}
		routes++
		for role, token := range tokens {
			path := b.fill(route)
			var body io.Reader
			ct := ""
			if writes(method) {
				body, ct = stowBody(t, studyFiles[0])
			}
			resp, raw := b.do(t, method, path, token, body, ct)
			allowed := !writes(method) || role == identity.RoleSiteStaff || role == identity.RoleReferringPhysician
			if allowed {
				require.NotContains(t, []int{401, 403}, resp.StatusCode, "%s as %s: %s", key, role, raw)
			} else {
				require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s as %s: %s", key, role, raw)
			}
		}
		resp, raw := b.do(t, method, b.fill(route), "", nil, "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without credentials: %s", key, raw)
		require.Contains(t, strings.Join(resp.Header.Values("WWW-Authenticate"), ","), "Basic", key)
	}
	require.GreaterOrEqual(t, routes, 5)
}

// TestCrossTenant calls every DICOMweb route about site A's case or study
// as site B's staff and as a specialist whose group the case was never
// routed to: reads of a named study or case are 404, searches show none of
// it, and nothing is stored.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	b := newAuthzBed(t)
	b.stowAll(t)
	for key := range dicomweb.Policy() {
		method, route, _ := strings.Cut(key, " ")
		if method == http.MethodOptions {
			continue
		}
		for who, token := range map[string]string{
			"site B staff":        b.siteB.Tokens[identity.RoleSiteStaff],
			"site B admin":        b.siteB.Tokens[identity.RoleOrgAdmin],
			"unrouted specialist": b.readers.Tokens[identity.RoleSpecialist],
		} {
			var body io.Reader
			ct := ""
			if writes(method) {
				if who != "site B staff" {
					continue // refused by role, covered by the matrix
				}
				body, ct = stowBody(t, studyFiles[0])
			}
			resp, raw := b.do(t, method, b.fill(route), token, body, ct)
			// A site-wide push stores into the caller's own incoming
			// studies, whatever study it names: only a named case, or a
			// read of a named study, must be not found.
			names := strings.Contains(route, ":case") || (strings.Contains(route, ":study") && !writes(method))
			if names {
				require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s as %s: %s", key, who, raw)
			} else {
				require.NotContains(t, []int{401, 403, 500}, resp.StatusCode, "%s as %s: %s", key, who, raw)
			}
			require.NotContains(t, string(raw), "Archibald", "%s as %s leaks the patient", key, who)
			require.NotContains(t, string(raw), "77654033", "%s as %s leaks the patient", key, who)
		}
	}
}

// TestRetrieveStudy stores a study by STOW-RS and reads it back by WADO-RS
// at both roots: every instance, byte for byte, in one multipart answer.
func TestRetrieveStudy(t *testing.T) {
	t.Parallel()
	b := newAuthzBed(t)
	b.stowAll(t)
	want := map[string]bool{}
	for _, f := range studyFiles {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		want[string(data)] = true
	}
	for _, root := range []string{"/dicomweb", "/dicomweb/cases/" + b.caseA} {
		for who, token := range map[string]string{
			"staff":    b.siteA.Tokens[identity.RoleSiteStaff],
			"referrer": b.siteA.Tokens[identity.RoleReferringPhysician],
			"platform": b.platf.Tokens[identity.RolePlatformAdmin],
		} {
			resp, raw := b.do(t, http.MethodGet, root+"/studies/"+b.studyUID, token, nil, "")
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", root, who, raw)
			mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			require.NoError(t, err)
			require.Equal(t, "multipart/related", mt)
			require.Equal(t, "application/dicom", params["type"])
			mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
			got := 0
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				data, err := io.ReadAll(p)
				require.NoError(t, err)
				require.True(t, want[string(data)], "part %d is one of the stored files, unchanged", got)
				require.Contains(t, p.Header.Get("Content-Type"), "transfer-syntax=")
				got++
			}
			require.Equal(t, len(studyFiles), got, who)
		}
	}
	// A transfer syntax that is not the stored one is not transcoded.
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/dicomweb/studies/"+b.studyUID, nil)
	req.Header.Set("Authorization", "Bearer "+b.siteA.Tokens[identity.RoleSiteStaff])
	req.Header.Set("Accept", `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotAcceptable, resp.StatusCode)

	// Only what the caller may see: the unrouted specialist gets 404.
	resp2, _ := b.do(t, http.MethodGet, "/dicomweb/studies/"+b.studyUID, b.readers.Tokens[identity.RoleSpecialist], nil, "")
	require.Equal(t, http.StatusNotFound, resp2.StatusCode)
}

// fill puts real values in a route template: site A's case and study, the
// first series and instance of studyFiles (any UID will do for a route
// that must answer 404 or 403), frame 1, the Pixel Data tag.
func (b *authzBed) fill(route string) string {
	r := strings.NewReplacer(":case", b.caseA, ":study", b.studyUID, ":series", "1.2.3.4", ":instance", "1.2.3.5",
		":frames", "1", ":tag", "7FE00010")
	return r.Replace(route)
}
