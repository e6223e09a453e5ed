package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

// readCase makes a dermatology case of patient MRN-42 at site A with a
// photo of the back, submitted and routed to b.readers.
func (b *testBundle) readCase(t *testing.T, question string) cases.Case {
	t.Helper()
	cs := b.submittedCase(t, question)
	d, err := b.wl.Route(context.Background(), cs.ID)
	require.NoError(t, err)
	require.True(t, d.Routed, d.Reason)
	return cs
}

// submittedCase is readCase before routing; extra files are added with
// the photo.
func (b *testBundle) submittedCase(t *testing.T, question string, extra ...intake.Input) cases.Case {
	t.Helper()
	ctx := context.Background()
	rules, err := b.wl.ListRules(ctx, b.root)
	require.NoError(t, err)
	if len(rules) == 0 {
		_, err = b.wl.CreateRule(ctx, b.root, worklist.NewRule{Name: "derm " + uuid.NewString()[:6], Specialty: "dermatology",
			ReadingGroupID: b.readers.Org.ID, IsDefault: true})
		require.NoError(t, err)
	}
	staff := b.siteA.Principals[identity.RoleSiteStaff]
	cs, err := b.cases.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: b.siteA.Users[identity.RoleReferringPhysician].ID,
		Specialty: "dermatology", Priority: "urgent", PatientName: "Ana Pérez", PatientBirthDate: "1971-02-03", PatientSex: "F",
		PatientMRN: "MRN-42", ClinicalQuestion: question, History: "Mole on the back for ten years.", LesionBodySite: "back"})
	require.NoError(t, err)
	res := b.intake.Add(ctx, staff, cs, intake.Input{Filename: "mole.jpg", Body: bytes.NewReader(photo(t)), BodySite: "back"})
	require.True(t, res.Accepted, res.Reason)
	for _, in := range extra {
		res := b.intake.Add(ctx, staff, cs, in)
		require.True(t, res.Accepted, res.Reason)
	}
	_, err = b.cases.Submit(ctx, staff, cs.ID)
	require.NoError(t, err)
	return cs
}

// call sends a JSON request to the REST API as the page's script does:
// the session cookie, the page's CSRF token, If-Match when given.
func (br *browser) call(method, path string, body any, ifMatch string) (int, http.Header, map[string]any) {
	br.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(br.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, br.base+path, rd)
	require.NoError(br.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", br.csrf())
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := br.client.Do(req)
	require.NoError(br.t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

func TestSpecialistReads(t *testing.T) {
	t.Parallel()
	b := setup(t)
	prior := b.readCase(t, "Itchy patch. Eczema?")
	cs := b.readCase(t, "Changing mole. Melanoma?")
	short := func(id uuid.UUID) string { return id.String()[:8] }
	path := "/worklist/" + cs.ID.String()

	email, pw := b.person(t, b.readers.Org, "reader", identity.RoleSpecialist, "dermatology")
	br := b.browser(t).login(email, pw)
	require.Equal(t, "/worklist", br.url, br.text)
	br.sees("Worklist", "2 open", "Case "+short(cs.ID), "Changing mole. Melanoma?", "urgent", "site-a", "photos", "Waiting", "Claim")

	t.Run("Filters", func(t *testing.T) {
		br.get("/worklist?priority=stat").sees("No case matches these filters")
		br.get("/worklist?priority=urgent&mine=1").sees("No case matches these filters")
		br.get("/worklist?priority=nonsense")
		require.Equal(t, http.StatusBadRequest, br.status)
		br.sees("must be one of")
	})

	br.get("/worklist").post(path+"/claim", url.Values{})
	require.Equal(t, http.StatusOK, br.status, br.text)
	require.Equal(t, path, br.url)
	br.sees("You have claimed the case", "Clinical question", "Changing mole. Melanoma?", "Mole on the back for ten years.",
		"Being read", "Write the report", "Release", "Photos", "mole.jpg",
		"Earlier cases of this patient", "Case "+short(prior.ID), "Itchy patch. Eczema?", "No DICOM studies in this case.")
	require.NotContains(t, br.page, "<title>Ana", "no patient name in the title")
	br.get("/worklist?mine=1").sees("Claimed by you", "Case "+short(cs.ID)).notSees("Case " + short(prior.ID))

	t.Run("PhotoViewerComparesTheBodySite", func(t *testing.T) {
		files, err := b.intake.CaseFiles(context.Background(), b.readers.Principals[identity.RoleSpecialist], cs.ID)
		require.NoError(t, err)
		require.Len(t, files, 1)
		br.get(path + "/photos/" + files[0].ID.String())
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("Photo viewer", "Zoom", "Full screen", "This case", "mole.jpg", "Earlier: case "+short(prior.ID))
		require.Contains(t, br.page, "/api/v1/files/"+files[0].ID.String()+"/preview")
		br.get(path + "/photos/" + uuid.NewString())
		require.Equal(t, http.StatusNotFound, br.status)
	})

	t.Run("AnotherGroupGetsTheNotFoundPage", func(t *testing.T) {
		email, pw := b.person(t, b.others.Org, "stranger", identity.RoleSpecialist, "dermatology")
		other := b.browser(t).login(email, pw)
		require.Equal(t, "/worklist", other.url)
		other.sees("The worklist is empty").notSees(short(cs.ID))
		for _, p := range []string{path, path + "/report"} {
			other.get(p)
			require.Equal(t, http.StatusNotFound, other.status, p)
			other.sees("Not Found").notSees("Changing mole", "Ana Pérez")
		}
		other.get("/worklist")
		other.post(path+"/claim", url.Values{})
		require.Equal(t, http.StatusNotFound, other.status)
	})

	t.Run("ReportDraftConflictSignAddendum", func(t *testing.T) {
		br.get(path+"/report").sees("Report on case "+short(cs.ID), "Findings", "Impression", "This is a critical result",
			"Nothing saved yet", "Sign the report")
		api := "/api/v1/cases/" + cs.ID.String() + "/report"
		draft := map[string]any{"findings": "Asymmetric pigmented lesion, 9 mm.", "impression": "Suspicious for melanoma.",
			"recommendations": "Excision within two weeks.", "critical": true, "diagnoses": []any{}}
		st, h, _ := br.call(http.MethodPut, api, draft, "")
		require.Equal(t, http.StatusCreated, st)
		v1 := h.Get("ETag")
		require.NotEmpty(t, v1)
		draft["findings"] = "Asymmetric pigmented lesion, 9 mm, irregular border."
		st, h, _ = br.call(http.MethodPut, api, draft, v1)
		require.Equal(t, http.StatusOK, st)
		v2 := h.Get("ETag")
		require.NotEqual(t, v1, v2)
		// Another tab still at v1: the conflict the editor shows.
		st, h, body := br.call(http.MethodPut, api, draft, v1)
		require.Equal(t, http.StatusPreconditionFailed, st)
		require.Equal(t, v2, h.Get("ETag"))
		require.Contains(t, body["detail"], "reload")

		br.get(path+"/report").sees("irregular border", "Critical result", "Draft version")
		st, _, body = br.call(http.MethodPost, api+"/sign", nil, "")
		require.Equal(t, http.StatusOK, st, body)
		br.get(path+"/report").sees("Signed report", "Critical result. Excision within two weeks.", "irregular border",
			"No addenda.", "Add an addendum").notSees("Sign the report…")
		st, _, body = br.call(http.MethodPost, api+"/addenda", map[string]any{"text": "Dermoscopy reviewed again: unchanged."}, "")
		require.Equal(t, http.StatusCreated, st, body)
		br.get(path + "/report").sees("Dermoscopy reviewed again: unchanged.")
		br.get(path).sees("Report signed")
	})
}

func TestSpecialistDICOMWithoutOHIF(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.readCase(t, "Itchy patch. Eczema?")
	cs := b.submittedCase(t, "Deep lesion. Depth?", intake.Input{Filename: "us.dcm",
		Body: bytes.NewReader(append(testenv.DICOMHeader("1.2.826.0.1.3680043.10.1.77", 1, 2, 1, 2), 0, 0))})
	d, err := b.wl.Route(context.Background(), cs.ID)
	require.NoError(t, err)
	require.True(t, d.Routed, d.Reason)
	email, pw := b.person(t, b.readers.Org, "reader", identity.RoleSpecialist, "dermatology")
	br := b.browser(t).login(email, pw)
	br.get("/worklist/" + cs.ID.String())
	require.Equal(t, http.StatusOK, br.status, br.text)
	br.sees("DICOM studies", "1 series", "The OHIF viewer is not installed on this server").notSees("Open in viewer")

	t.Run("InstalledOpensTheStudyWithPriors", func(t *testing.T) {
		// A stand-in for OHIF's build: what viewer.New needs to serve one.
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"),
			[]byte(`<!doctype html><html><head><script defer src="/app.bundle.0123abcd.js"></script></head><body></body></html>`), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "app.bundle.0123abcd.js"), []byte(`__webpack_require__.p = "/";`), 0o600))
		srv := httptest.NewServer(httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
			MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 20, Pool: b.env.Pool, Identity: b.svc, Cases: b.cases,
			Intake: b.intake, Worklist: b.wl, Reports: b.reports, Delivery: b.delivery, OHIFDir: dir}))
		t.Cleanup(srv.Close)
		// An earlier case of the patient with a study: the prior.
		prior := b.submittedCase(t, "Earlier scan.", intake.Input{Filename: "old.dcm",
			Body: bytes.NewReader(append(testenv.DICOMHeader("1.2.826.0.1.3680043.10.1.78", 1, 2, 1, 2), 0, 0))})
		_, err := b.wl.Route(context.Background(), prior.ID)
		require.NoError(t, err)
		ob := &browser{t: t, base: srv.URL, client: &http.Client{Jar: br.client.Jar}}
		ob.login(email, pw).get("/worklist/" + cs.ID.String())
		require.Equal(t, http.StatusOK, ob.status, ob.text)
		ob.sees("Open in viewer", "with the patient's earlier studies as priors").notSees("not installed")
		require.Regexp(t, `href="/viewer/viewer\?StudyInstanceUIDs=[0-9.]+,[0-9.]+`, ob.page)
	})
}
