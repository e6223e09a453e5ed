package dicomweb_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

// orthancCapture returns the Content-Type and the (de-chunked) body of
// testdata/orthanc-stow-001.bin, Orthanc's STOW-RS request as on the wire.
func orthancCapture(tb testing.TB) (string, []byte) {
	tb.Helper()
	raw, err := os.ReadFile("testdata/orthanc-stow-001.bin")
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return req.Header.Get("Content-Type"), body
}

// FuzzStowBody sends arbitrary multipart/related bodies, seeded from
// Orthanc's captured request, to STOW-RS into a case on the real services
// (PostgreSQL, MinIO, the whole handler). Whatever the body, the answer is
// never a 5xx; a Store Instances Response never lists more instances than
// the body has parts, a 200 lists no failure, a 409 no stored instance,
// and every failure carries a reason in a Warning header.
func FuzzStowBody(f *testing.F) {
	ct, body := orthancCapture(f)
	boundary := "--1a1946d1-a221-42b2-9c72-8294041d42f8-1a1946d1-a221-42b2-9c72-8294041d42f8"
	f.Add(body)
	f.Add(body[:len(body)/2])
	parts := bytes.Split(body, []byte(boundary))
	f.Add(bytes.Join([][]byte{{}, parts[1], []byte("--")}, []byte(boundary)))       // one instance
	f.Add(bytes.Join([][]byte{{}, parts[1][:600], []byte("--")}, []byte(boundary))) // a truncated instance
	f.Add([]byte(boundary + "\r\nContent-Type: text/plain\r\n\r\nhello\r\n" + boundary + "--"))
	f.Add([]byte(boundary + "\r\n\r\n\r\n" + boundary + "--"))
	f.Add([]byte(boundary + "--"))
	f.Add([]byte{})
	// Small instances of the case's patient, cheap to mutate: each exec
	// goes through intake, PostgreSQL and MinIO.
	tiny := append(testenv.DICOMHeader("1.2.826.0.1.3680043.10.3.1", 1, 1, 1, 2), 0, 0)
	f.Add([]byte(boundary + "\r\nContent-Type: application/dicom\r\n\r\n" + string(tiny) + "\r\n" + boundary + "--"))
	f.Add([]byte(boundary + "\r\n\r\n" + string(tiny) + "\r\n" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n" +
		string(tiny[:len(tiny)-40]) + "\r\n" + boundary + "--"))

	env := testenv.New(f)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(f), jobs.Options{})
	if err != nil {
		f.Fatal(err)
	}
	cs := cases.NewService(env.Pool, river)
	in := intake.New(env.Pool, env.Blob, cs, river, intake.Options{Logger: testenv.Logger(f), TempDir: f.TempDir()})
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(f), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 20, Pool: env.Pool,
		Identity: identity.NewService(env.Pool), Cases: cs, Intake: in, Jobs: river})
	site := testenv.NewFixtures(f, env).Tenant(f, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	js, _ := json.Marshal(map[string]any{
		"referring_physician_id": site.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
		"priority": "routine", "clinical_question": "Fracture?",
		"patient": map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
	})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/cases", bytes.NewReader(js))
	req.Header.Set("Authorization", "Bearer "+site.Tokens[identity.RoleSiteStaff])
	req.Header.Set("Content-Type", "application/json")
	engine.ServeHTTP(rec, req)
	var created struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || created.ID == "" {
		f.Fatalf("create case: %d %s", rec.Code, rec.Body.String())
	}
	auth := "Bearer " + site.Tokens[identity.RoleSiteStaff]

	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/dicomweb/cases/"+created.ID+"/studies", bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", ct)
		engine.ServeHTTP(rec, req)
		raw := rec.Body.String()
		switch rec.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
				t.Fatalf("%d without a problem document: %s", rec.Code, raw)
			}
			return
		case http.StatusOK, http.StatusAccepted, http.StatusConflict:
		default:
			t.Fatalf("status %d: %s", rec.Code, raw)
		}
		var ds map[string]struct {
			Value []json.RawMessage `json:"Value"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &ds); err != nil {
			t.Fatalf("store response is not JSON: %v: %s", err, raw)
		}
		stored, failed := len(ds["00081199"].Value), len(ds["00081198"].Value)
		if n := bytes.Count(body, []byte(boundary)); stored+failed > n {
			t.Fatalf("%d stored and %d failed instances from %d delimiters", stored, failed, n)
		}
		switch {
		case rec.Code == http.StatusOK && (failed > 0 || stored == 0),
			rec.Code == http.StatusConflict && stored > 0,
			rec.Code == http.StatusAccepted && (failed == 0 || stored == 0):
			t.Fatalf("status %d with %d stored and %d failed", rec.Code, stored, failed)
		}
		warnings := rec.Header().Values("Warning")
		if len(warnings) != failed {
			t.Fatalf("%d failures but %d Warning headers", failed, len(warnings))
		}
		for _, w := range warnings {
			if _, reason, ok := strings.Cut(w, ": "); !ok || strings.Trim(reason, `" `) == "" {
				t.Fatalf("failure without a reason: %q", w)
			}
		}
	})
}
