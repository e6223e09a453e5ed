package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"image"
	"image/color"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/web"
	"github.com/teleread/teleread/internal/worklist"
)

// photo is a small JPEG of a brown spot on skin; shift moves the spot
// (another photo).
func photo(t *testing.T, shift ...int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			c := color.RGBA{230, 190, 170, 255}
			dx := x - 160
			if len(shift) > 0 {
				dx -= shift[0]
			}
			if dx*dx+(y-120)*(y-120) < 40*40 {
				c = color.RGBA{110, 70, 40, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

// routedCase makes a dermatology case at site A with a photo, submitted
// and routed to b.readers.
func (b *testBundle) routedCase(t *testing.T) cases.Case {
	t.Helper()
	ctx := context.Background()
	_, err := b.wl.CreateRule(ctx, b.root, worklist.NewRule{Name: "derm " + uuid.NewString()[:6], Specialty: "dermatology",
		ReadingGroupID: b.readers.Org.ID, IsDefault: true})
	if err != nil {
		require.True(t, true) // a default rule may already be there
	}
	staff := b.siteA.Principals[identity.RoleSiteStaff]
	cs, err := b.cases.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: b.siteA.Users[identity.RoleReferringPhysician].ID,
		Specialty: "dermatology", Priority: "urgent", PatientName: "Ana Pérez", PatientBirthDate: "1971-02-03", PatientSex: "F",
		PatientMRN: "MRN-7", ClinicalQuestion: "Changing mole. Melanoma?", LesionBodySite: "back"})
	require.NoError(t, err)
	res := b.intake.Add(ctx, staff, cs, intake.Input{Filename: "mole.jpg", Body: bytes.NewReader(photo(t)), BodySite: "back"})
	require.True(t, res.Accepted, res.Reason)
	_, err = b.cases.Submit(ctx, staff, cs.ID)
	require.NoError(t, err)
	d, err := b.wl.Route(ctx, cs.ID)
	require.NoError(t, err)
	require.True(t, d.Routed)
	return cs
}

func TestNewCaseForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	staff := b.siteA.Users[identity.RoleSiteStaff]
	br := b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff))
	br.get("/cases").sees("No cases yet")
	br.get("/cases/new").sees("New case", "Referring physician", "Body site of the lesion", "Forearm, left",
		b.siteA.Users[identity.RoleReferringPhysician].Name)

	t.Run("ValidationNextToTheFields", func(t *testing.T) {
		br.post("/cases", url.Values{"specialty": {"dermatology"}, "priority": {"routine"},
			"patient_name": {"Ana Pérez"}, "patient_birth_date": {"2990-01-01"}, "patient_sex": {"F"}})
		require.Equal(t, http.StatusBadRequest, br.status)
		br.sees("The case was not opened", "must be a real date in the past", "is required for dermatology",
			"is required (at most 64 characters)")
		require.Contains(t, br.page, `value="Ana Pérez"`, "what was typed stays")
	})
	t.Run("Created", func(t *testing.T) {
		br.get("/cases/new").post("/cases", url.Values{"specialty": {"dermatology"}, "priority": {"urgent"},
			"referring_physician_id": {b.siteA.Users[identity.RoleReferringPhysician].ID.String()},
			"patient_name":           {"Ana Pérez"}, "patient_birth_date": {"1971-02-03"}, "patient_sex": {"F"},
			"patient_mrn": {"MRN-7"}, "clinical_question": {"Changing mole. Melanoma?"}, "lesion_body_site": {"left forearm"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		require.Regexp(t, `^/cases/[0-9a-f-]{36}$`, br.url)
		br.sees("Case opened as a draft", "Draft", "Changing mole. Melanoma?", "left forearm", "Timeline", "Case opened",
			"Add photos and images", "Choose a folder", "Submit for reading")
		require.NotContains(t, br.page, "<title>Ana", "no patient name in the title")
		caseURL := br.url

		// Submitting without files is refused with the domain's reason.
		br.post(caseURL+"/submit", url.Values{})
		require.Equal(t, http.StatusConflict, br.status, br.text)
		br.get(caseURL)
		br.post(caseURL+"/cancel", url.Values{"reason": {"duplicate"}})
		require.Equal(t, caseURL, br.url)
		br.sees("The case is cancelled.", "Cancelled")
		br.get("/cases").sees("Ana Pérez", "Cancelled")
	})
	t.Run("SentTwice", func(t *testing.T) {
		// A double click, a reload or the back button sends the form
		// again: it opens one case, and the second answer says so.
		br.get("/cases/new")
		m := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(br.page)
		require.NotNil(t, m, "the form carries its key")
		form := url.Values{"specialty": {"radiology"}, "priority": {"routine"}, "key": {m[1]},
			"referring_physician_id": {b.siteA.Users[identity.RoleReferringPhysician].ID.String()},
			"patient_name":           {"Bo Lind"}, "patient_birth_date": {"1950-02-03"}, "patient_sex": {"M"},
			"patient_mrn": {"MRN-8"}, "clinical_question": {"Fracture?"}}
		before := b.count(t, "SELECT count(*) FROM cases")
		br.post("/cases", form)
		require.Equal(t, http.StatusOK, br.status, br.text)
		first := br.url
		br.sees("Case opened as a draft")
		br.get("/cases/new").post("/cases", form)
		require.Equal(t, http.StatusOK, br.status, br.text)
		require.Equal(t, first, br.url)
		br.sees("This form was sent before")
		require.Equal(t, before+1, b.count(t, "SELECT count(*) FROM cases"))
	})
}

func TestCasePageAndTenancy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cs := b.routedCase(t)
	path := "/cases/" + cs.ID.String()

	staff := b.siteA.Users[identity.RoleSiteStaff]
	br := b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff))
	br.get(path).sees("On the reading group's worklist", "Submitted", "mole.jpg", "Photos").notSees("Add photos and images")

	for name, who := range map[string]struct {
		org  identity.Org
		role identity.Role
	}{
		"OtherReadingGroup": {b.others.Org, identity.RoleSpecialist},
		"OtherSite":         {b.siteB.Org, identity.RoleSiteStaff},
	} {
		t.Run(name, func(t *testing.T) {
			email, pw := b.person(t, who.org, "nosy-"+name, who.role, "dermatology")
			br := b.browser(t).login(email, pw)
			br.get(path)
			require.Equal(t, http.StatusNotFound, br.status)
			br.sees("Not Found", "case not found").notSees("Ana Pérez", "Melanoma")
		})
	}
	t.Run("RoutedReadingGroup", func(t *testing.T) {
		email, pw := b.person(t, b.readers.Org, "reader", identity.RoleSpecialist, "dermatology")
		br := b.browser(t).login(email, pw)
		br.get(path)
		require.Equal(t, http.StatusOK, br.status)
		br.sees("Changing mole. Melanoma?").notSees("Cancel the case")
	})

	t.Run("InfoRequestedAndAnswered", func(t *testing.T) {
		ctx := context.Background()
		spec := b.readers.Principals[identity.RoleSpecialist]
		_, err := b.wl.Claim(ctx, spec, cs.ID)
		require.NoError(t, err)
		_, err = b.wl.RequestInfo(ctx, spec, cs.ID, "Please send a dermoscopic photo.")
		require.NoError(t, err)
		br.get(path).sees("The reading group asks for more information", "Please send a dermoscopic photo.",
			"Add photos and images")
		br.post(path+"/answer", url.Values{"answer": {"It itches since May."}, "resubmit": {"1"}})
		require.Equal(t, http.StatusOK, br.status, br.text)
		br.sees("Answered and submitted again.", "It itches since May.")
	})
}

func TestReferrerInboxAndAcknowledge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cs := b.routedCase(t)
	spec := b.readers.Principals[identity.RoleSpecialist]
	_, err := b.wl.Claim(ctx, spec, cs.ID)
	require.NoError(t, err)
	_, err = b.reports.SaveDraft(ctx, spec, cs.ID, reports.Content{Findings: "Asymmetric pigmented lesion, 9 mm.",
		Impression: "Suspicious for melanoma.", Recommendations: "Excision biopsy within 2 weeks.", Critical: true}, nil)
	require.NoError(t, err)
	r, err := b.reports.Sign(ctx, spec, cs.ID)
	require.NoError(t, err)
	deliverInbox(t, b, r.ID)

	gp := b.siteA.Users[identity.RoleReferringPhysician]
	email, pw := gp.Email, "gp password"
	require.NoError(t, setPassword(b, gp.ID, pw))
	br := b.browser(t).login(email, pw)
	require.Equal(t, "/inbox", br.url)
	br.sees("Inbox", "Ana Pérez", "Critical result", "Unread", "not yet")
	br.get("/my-cases").sees("Ana Pérez", "Report delivered", "Read the report and acknowledge it.")

	br.get("/cases/" + cs.ID.String() + "/report")
	require.Equal(t, http.StatusOK, br.status, br.text)
	br.sees("Suspicious for melanoma.", "Excision biopsy", "critical result", "Download the PDF",
		"FHIR DiagnosticReport", "Key images", "Acknowledge")
	require.Contains(t, br.page, "/api/v1/reports/"+r.ID.String()+"/pdf")
	br.post("/reports/"+r.ID.String()+"/acknowledge", url.Values{})
	require.Equal(t, http.StatusOK, br.status, br.text)
	br.sees("Acknowledged.", "Report acknowledged").notSees("Acknowledge Report")
	br.get("/inbox").notSees("not yet")

	// Site staff cannot acknowledge (the referring physician does).
	staff := b.siteA.Users[identity.RoleSiteStaff]
	sb := b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff))
	sb.get("/cases/" + cs.ID.String() + "/report").sees("Suspicious for melanoma.")
	sb.post("/reports/"+r.ID.String()+"/acknowledge", url.Values{})
	require.Equal(t, http.StatusForbidden, sb.status)
}

// deliverInbox runs the inbox delivery of a signed report, as the
// deliver job would.
func deliverInbox(t *testing.T, b *testBundle, reportID uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	var id uuid.UUID
	require.NoError(t, b.env.Pool.QueryRow(ctx, "SELECT id FROM deliveries WHERE report_id = $1 AND channel = 'inbox'",
		reportID).Scan(&id))
	_, err := b.delivery.Deliver(ctx, id, 1, 25)
	require.NoError(t, err)
}

// setPassword gives a fixture user a password (fixtures give site staff
// one only).
func setPassword(b *testBundle, id uuid.UUID, pw string) error {
	_, err := b.env.Pool.Exec(context.Background(), "UPDATE users SET password_hash = $2 WHERE id = $1", id,
		identity.HashPassword(pw))
	return err
}

// TestBodySitesAreCoded holds the pages' body site list to intake's
// vocabulary: each choice is coded in SNOMED CT.
func TestBodySitesAreCoded(t *testing.T) {
	t.Parallel()
	for _, s := range web.BodySites() {
		_, ok := dicomfile.BodySiteCode(s.Value)
		require.True(t, ok, s.Value)
	}
}

func TestIncomingEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t)
	staff := b.siteA.Users[identity.RoleSiteStaff]
	b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff)).get("/incoming").
		sees("Incoming studies", "No incoming studies.")
}

// TestUploadLikeThePage sends files as upload.js does: with the session
// cookie and the page's CSRF token in X-CSRF-Token, a small file as the raw
// body of POST .../files, a large one through a presigned upload.
func TestUploadLikeThePage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	staff := b.siteA.Principals[identity.RoleSiteStaff]
	cs, err := b.cases.Create(ctx, staff, cases.NewCase{ReferringPhysicianID: b.siteA.Users[identity.RoleReferringPhysician].ID,
		Specialty: "dermatology", Priority: "routine", PatientName: "Ana Pérez", PatientBirthDate: "1971-02-03", PatientSex: "F",
		PatientMRN: "MRN-7", ClinicalQuestion: "Mole?", LesionBodySite: "back"})
	require.NoError(t, err)
	br := b.browser(t).login(b.siteA.Users[identity.RoleSiteStaff].Email, testenv.PasswordFor(identity.RoleSiteStaff))
	page := "/cases/" + cs.ID.String()
	br.get(page).sees("Add photos and images")
	token := br.csrf()
	require.NotEmpty(t, token)

	send := func(method, path, ctype string, body []byte, csrf string) (int, map[string]any) {
		req, err := http.NewRequest(method, b.srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", ctype)
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := br.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// As FormData: body_site and dermoscopic before the file.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	require.NoError(t, mw.WriteField("body_site", "left forearm"))
	require.NoError(t, mw.WriteField("dermoscopic", "false"))
	fw, err := mw.CreateFormFile("file", "mole.jpg")
	require.NoError(t, err)
	_, _ = fw.Write(photo(t))
	require.NoError(t, mw.Close())
	small := "/api/v1/cases/" + cs.ID.String() + "/files"
	status, _ := send(http.MethodPost, small, mw.FormDataContentType(), form.Bytes(), "")
	require.Equal(t, http.StatusForbidden, status, "no CSRF header, no upload")
	status, out := send(http.MethodPost, small, mw.FormDataContentType(), form.Bytes(), token)
	require.Equal(t, http.StatusCreated, status, out)
	require.Equal(t, "accepted", out["files"].([]any)[0].(map[string]any)["status"])

	// The presigned path, as for a large file.
	big := photo(t, 30)
	sum := sha256.Sum256(big)
	js, _ := json.Marshal(map[string]any{"filename": "big.jpg", "size": len(big), "sha256": hex.EncodeToString(sum[:]),
		"content_type": "image/jpeg"})
	status, up := send(http.MethodPost, "/api/v1/cases/"+cs.ID.String()+"/uploads", "application/json", js, token)
	require.Equal(t, http.StatusCreated, status, up)
	req, err := http.NewRequest(http.MethodPut, up["url"].(string), bytes.NewReader(big))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	status, out = send(http.MethodPost, "/api/v1/cases/"+cs.ID.String()+"/uploads/"+up["id"].(string)+"/complete",
		"application/json", nil, token)
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, status, out)

	br.get(page).sees("mole.jpg", "left forearm", "big.jpg", "at least 600 pixels on the shorter side is recommended")
}

// TestIncomingStudyToCase: a study pushed by DICOMweb waits under
// Incoming studies; "Make a case" opens the form with its patient, and
// the case opened holds its images.
func TestIncomingStudyToCase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	raw, err := os.ReadFile(filepath.Join("..", "intake", "testdata", "CT_small.dcm"))
	require.NoError(t, err)
	res := b.intake.Receive(context.Background(), b.siteA.Principals[identity.RoleSiteStaff],
		intake.Input{Filename: "CT_small.dcm", Body: bytes.NewReader(raw)})
	require.True(t, res.Accepted, res.Reason)

	staff := b.siteA.Users[identity.RoleSiteStaff]
	br := b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff))
	br.get("/incoming").sees("Incoming studies", "CT", "Make a case")
	m := regexp.MustCompile(`href="(/cases/new\?incoming=[0-9a-f-]+)"`).FindStringSubmatch(br.page)
	require.NotNil(t, m, br.page)
	br.get(html.UnescapeString(m[1])).sees("Made of the incoming study")
	form := url.Values{}
	for _, f := range []string{"incoming_study_id", "patient_name", "patient_birth_date", "patient_mrn"} {
		v := regexp.MustCompile(`name="` + f + `"[^>]*value="([^"]*)"`).FindStringSubmatch(br.page)
		require.NotNil(t, v, f)
		form.Set(f, html.UnescapeString(v[1]))
	}
	require.NotEmpty(t, form.Get("patient_mrn"), "the patient comes from the study")
	form.Set("specialty", "radiology")
	form.Set("priority", "routine")
	form.Set("patient_sex", "O")
	form.Set("referring_physician_id", b.siteA.Users[identity.RoleReferringPhysician].ID.String())
	form.Set("clinical_question", "Abnormality?")
	if form.Get("patient_birth_date") == "" {
		form.Set("patient_birth_date", "1950-01-01")
	}
	br.post("/cases", form)
	require.Equal(t, http.StatusOK, br.status, br.text)
	require.Regexp(t, `^/cases/[0-9a-f-]{36}$`, br.url)
	br.sees("Case opened with the incoming study", "DICOM studies").notSees("No DICOM studies.")
	br.get("/incoming").sees("No incoming studies.")
}

// TestTimeZone: times are shown in the zone the browser's cookie names,
// UTC without it.
func TestTimeZone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	staff := b.siteA.Users[identity.RoleSiteStaff]
	br := b.browser(t).login(staff.Email, testenv.PasswordFor(identity.RoleSiteStaff))
	br.get("/cases").sees("Times are shown in UTC.")
	u, _ := url.Parse(b.srv.URL)
	br.client.Jar.SetCookies(u, []*http.Cookie{{Name: web.TZCookie, Value: "Europe/Paris", Path: "/"}})
	br.get("/cases").sees("Times are shown in Europe/Paris.")
	br.client.Jar.SetCookies(u, []*http.Cookie{{Name: web.TZCookie, Value: "Not/AZone", Path: "/"}})
	br.get("/cases").sees("Times are shown in UTC.")
}
