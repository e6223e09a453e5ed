package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/reports"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/worklist"
)

// reportsBundle is the test bundle with a router that has the worklist,
// reports and delivery.
type reportsBundle struct {
	*testBundle
	wl *worklist.Service
	// reader and second are specialists of b.readers; otherGroup's
	// specialist reads dermatology elsewhere.
	reader, second, groupAdmin, otherGroup string
	staffA, gpA, adminA, staffB, adminB    string
	platform                               string
}

func setupReports(t *testing.T) *reportsBundle {
	t.Helper()
	base := setup(t, setupOpts{})
	ctx := context.Background()
	river, err := jobs.NewClient(base.env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	wl := worklist.NewService(base.env.Pool)
	rs := reports.NewService(base.env.Pool, base.env.Blob, river, wl, delivery.NewOpener(base.env.Pool),
		reports.Options{PublicURL: "https://teleread.example"})
	dl := delivery.NewService(base.env.Pool, river, rs, delivery.Options{AllowPrivateWebhooks: true})
	cs := cases.NewService(base.env.Pool, river)
	in := intake.New(base.env.Pool, base.env.Blob, cs, river, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})
	engine := httpapi.New(httpapi.Deps{Logger: testenv.Logger(t), Registry: prometheus.NewRegistry(),
		MaxRequestBytes: 1 << 20, MaxUploadBytes: 1 << 20, Pool: base.env.Pool, Identity: base.svc,
		Cases: cs, Intake: in, Worklist: wl, Reports: rs, Delivery: dl, Jobs: river})
	srv := httptest.NewServer(engine)
	t.Cleanup(srv.Close)
	b := *base
	b.engine, b.srv = engine, srv

	root := b.platform.Principals[identity.RolePlatformAdmin]
	token := func(org identity.Org, name string, specialties ...string) string {
		u, err := b.svc.CreateUser(ctx, root, identity.NewUser{OrgID: org.ID, Email: name + "@" + org.Slug + ".example",
			Name: "Dr " + name, Roles: []identity.Role{identity.RoleSpecialist}, Specialties: specialties})
		require.NoError(t, err)
		_, secret, err := b.svc.CreateToken(ctx, root, identity.NewToken{UserID: u.ID, Name: "test"})
		require.NoError(t, err)
		return secret
	}
	other, err := b.svc.CreateOrg(ctx, root, identity.NewOrg{Kind: identity.OrgReadingGroup, Name: "Other readers",
		Slug: "other-readers", Specialties: []string{"dermatology"}})
	require.NoError(t, err)
	_, err = wl.CreateRule(ctx, root, worklist.NewRule{Name: "derm", Specialty: "dermatology",
		ReadingGroupID: b.readers.Org.ID, IsDefault: true})
	require.NoError(t, err)
	return &reportsBundle{testBundle: &b, wl: wl,
		reader: b.readers.Tokens[identity.RoleSpecialist], second: token(b.readers.Org, "second", "dermatology"),
		groupAdmin: b.readers.Tokens[identity.RoleOrgAdmin], otherGroup: token(other, "elsewhere", "dermatology"),
		staffA: b.siteA.Tokens[identity.RoleSiteStaff], gpA: b.siteA.Tokens[identity.RoleReferringPhysician],
		adminA: b.siteA.Tokens[identity.RoleOrgAdmin], staffB: b.siteB.Tokens[identity.RoleSiteStaff],
		adminB: b.siteB.Tokens[identity.RoleOrgAdmin], platform: b.platform.Tokens[identity.RolePlatformAdmin]}
}

// routedCase creates a dermatology case at site A through the API, adds a
// file, submits it and routes it to the readers; it returns the case id.
func (b *reportsBundle) routedCase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	resp, body := b.call(t, http.MethodPost, "/api/v1/cases", b.staffA, map[string]any{
		"referring_physician_id": b.siteA.Users[identity.RoleReferringPhysician].ID, "specialty": "dermatology",
		"priority": "urgent", "clinical_question": "Changing mole. Melanoma?", "lesion": map[string]any{"body_site": "back"},
		"patient": map[string]any{"name": "Ana Pérez", "birth_date": "1971-02-03", "sex": "F", "mrn": "MRN-7"},
	})
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	id := body["id"].(string)
	_, err := b.env.Pool.Exec(ctx, `INSERT INTO files (case_id, org_id, kind, filename, content_type, size, sha256, blob_key,
		stored_size, stored_sha256, uploaded_by) VALUES ($1, $2, 'photo', 'a.jpg', 'image/jpeg', 1, $3, 'k', 1, $3, $4)`,
		id, b.siteA.Org.ID, fmt.Sprintf("%064x", time.Now().UnixNano()), b.siteA.Users[identity.RoleSiteStaff].ID)
	require.NoError(t, err)
	resp, body = b.call(t, http.MethodPost, "/api/v1/cases/"+id+"/submit", b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	d, err := b.wl.Route(ctx, uuid.MustParse(id))
	require.NoError(t, err)
	require.True(t, d.Routed)
	return id
}

// do sends a request with a token, optional JSON body and headers, checks
// the answer against api/openapi.yaml, and returns it with its raw body.
func (b *reportsBundle) do(t *testing.T, method, path, token string, body any, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode >= 400 {
		require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), string(raw))
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 || ct == "application/json; charset=utf-8" {
		validateResponse(t, req, resp, raw)
	}
	return resp, raw
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return out
}

func draftBody(impression string) map[string]any {
	return map[string]any{"findings": "Asymmetric macule, 8 mm, irregular border, blue-white veil.",
		"impression": impression, "recommendations": "Excision biopsy within 2 weeks.", "follow_up_interval": "P3M",
		"critical": true, "diagnoses": []map[string]any{
			{"text": "Suspected melanoma of trunk", "system": "ICD-10", "code": "C43.5"},
			{"text": "Malignant melanoma", "system": "SNOMED-CT", "code": "372244006"},
			{"text": "Seborrhoeic keratoses nearby", "system": "", "code": ""}}}
}

func (b *reportsBundle) auditCount(t *testing.T, action, objectID string) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM audit_events WHERE action = $1 AND object_id = $2", action, objectID).Scan(&n))
	return n
}

func TestReportFlowHTTP(t *testing.T) {
	t.Parallel()
	b := setupReports(t)
	id := b.routedCase(t)
	report := "/api/v1/cases/" + id + "/report"

	resp, raw := b.do(t, http.MethodPut, report, b.reader, draftBody("Melanoma?"))
	require.Equal(t, http.StatusConflict, resp.StatusCode, "claim first: %s", raw)
	resp, raw = b.do(t, http.MethodPost, "/api/v1/cases/"+id+"/claim", b.reader, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))

	resp, raw = b.do(t, http.MethodPut, report, b.reader, draftBody("Melanoma?"), "If-Match", `"0"`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))
	require.Equal(t, `"1"`, resp.Header.Get("ETag"))
	draft := decode(t, raw)
	reportID := draft["id"].(string)
	require.Equal(t, "draft", draft["status"])
	require.Nil(t, draft["content_sha256"])

	resp, raw = b.do(t, http.MethodPut, report, b.reader, draftBody("Melanoma?"), "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, `"1"`, resp.Header.Get("ETag"), "the same content is not a new version")
	resp, raw = b.do(t, http.MethodPut, report, b.reader, draftBody("Likely melanoma."), "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, `"2"`, resp.Header.Get("ETag"))

	t.Run("StaleTab", func(t *testing.T) {
		resp, raw := b.do(t, http.MethodPut, report, b.reader, draftBody("From another tab."), "If-Match", `"1"`)
		require.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, string(raw))
		require.Equal(t, `"2"`, resp.Header.Get("ETag"))
		p := decode(t, raw)
		require.Equal(t, "precondition_failed", p["code"])
		require.Equal(t, float64(2), p["details"].(map[string]any)["current_version"])
		resp, raw = b.do(t, http.MethodPut, report, b.reader, draftBody("x"), "If-Match", "garbage")
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(raw))
	})
	t.Run("Invalid", func(t *testing.T) {
		bad := draftBody("x")
		bad["diagnoses"] = []map[string]any{{"text": "x", "system": "ICD-10", "code": "melanoma"}}
		resp, raw := b.do(t, http.MethodPut, report, b.reader, bad)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(raw))
		require.Contains(t, decode(t, raw)["fields"], "diagnoses[0].code")
	})
	t.Run("SiteSeesNothingBeforeSigning", func(t *testing.T) {
		for _, tok := range []string{b.staffA, b.gpA, b.adminA} {
			for _, path := range []string{report, "/api/v1/reports/" + reportID, "/api/v1/reports/" + reportID + "/pdf",
				"/api/v1/reports/" + reportID + "/fhir"} {
				resp, raw := b.do(t, http.MethodGet, path, tok, nil)
				require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", path, raw)
			}
		}
		// The reading group previews the draft's PDF; it has no FHIR form yet.
		resp, _ := b.do(t, http.MethodGet, "/api/v1/reports/"+reportID+"/pdf", b.second, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, _ = b.do(t, http.MethodGet, "/api/v1/reports/"+reportID+"/fhir", b.reader, nil)
		require.Equal(t, http.StatusConflict, resp.StatusCode)
	})

	resp, raw = b.do(t, http.MethodPost, report+"/sign", b.second, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "only the claimant signs: %s", raw)
	resp, raw = b.do(t, http.MethodPost, report+"/sign", b.reader, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	signed := decode(t, raw)
	require.Equal(t, "final", signed["status"])
	require.Regexp(t, `^[0-9a-f]{64}$`, signed["content_sha256"])
	require.Len(t, signed["signatures"], 1)
	require.Equal(t, "https://teleread.example/api/v1/reports/"+reportID+"/fhir", signed["links"].(map[string]any)["fhir"])

	resp, c := b.call(t, http.MethodGet, "/api/v1/cases/"+id, b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "reported", c["status"])
	var deliveries int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM deliveries WHERE report_id = $1 AND event = 'report.final'", reportID).Scan(&deliveries))
	require.Positive(t, deliveries, "signing queued the delivery")

	resp, raw = b.do(t, http.MethodPut, report, b.reader, draftBody("Changed my mind."))
	require.Equal(t, http.StatusConflict, resp.StatusCode, "a signed report is immutable: %s", raw)
	require.Contains(t, decode(t, raw)["detail"], "addendum")

	// An addendum sent twice under one Idempotency-Key is added, and
	// delivered, once: the retry gets the first answer.
	key := "addendum-" + uuid.NewString()
	resp, raw = b.do(t, http.MethodPost, report+"/addenda", b.second, map[string]any{"text": "Histology: melanoma in situ."},
		"Idempotency-Key", key)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))
	add := decode(t, raw)
	require.Regexp(t, `^[0-9a-f]{64}$`, add["sha256"])
	resp, again := b.do(t, http.MethodPost, report+"/addenda", b.second, map[string]any{"text": "Histology: melanoma in situ."},
		"Idempotency-Key", key)
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(again))
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	require.Equal(t, add, decode(t, again))
	var addendumDeliveries int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM deliveries WHERE report_id = $1 AND event = 'report.addendum'", reportID).Scan(&addendumDeliveries))
	require.Positive(t, addendumDeliveries)
	resp, raw = b.do(t, http.MethodPost, report+"/addenda", b.second, map[string]any{"text": "Another text."}, "Idempotency-Key", key)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(raw))

	// The site reads the signed report with its addendum: each read audited.
	views := b.auditCount(t, "report.view", reportID)
	resp, raw = b.do(t, http.MethodGet, "/api/v1/reports/"+reportID, b.gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	got := decode(t, raw)
	require.Len(t, got["addenda"], 1)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	resp, raw = b.do(t, http.MethodGet, report, b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, views+2, b.auditCount(t, "report.view", reportID))

	resp, raw = b.do(t, http.MethodGet, "/api/v1/reports/"+reportID+"/pdf", b.gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="report-`+reportID+`.pdf"`, resp.Header.Get("Content-Disposition"))
	require.True(t, bytes.HasPrefix(raw, []byte("%PDF-")))
	if bin, err := exec.LookPath("pdftoppm"); err == nil {
		pdf := filepath.Join(t.TempDir(), "r.pdf")
		require.NoError(t, os.WriteFile(pdf, raw, 0o600))
		out, err := exec.Command(bin, "-r", "30", "-png", "-f", "1", "-l", "1", pdf, pdf).CombinedOutput()
		require.NoError(t, err, "pdftoppm: %s", out)
	}
	require.Equal(t, 2, b.auditCount(t, "report.pdf", reportID), "the draft preview and the read")

	resp, raw = b.do(t, http.MethodGet, "/api/v1/reports/"+reportID+"/fhir", b.staffA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, "application/fhir+json", resp.Header.Get("Content-Type"))
	fhir := decode(t, raw)
	require.Equal(t, "DiagnosticReport", fhir["resourceType"])
	require.Equal(t, reportID, fhir["id"])
	require.Equal(t, "appended", fhir["status"])
	require.Equal(t, "Likely melanoma.", fhir["conclusion"])
	require.Equal(t, 1, b.auditCount(t, "report.fhir", reportID))

	// The referring physician's read marked the delivered report opened.
	var opened int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'report_opened'", id).Scan(&opened))
	require.LessOrEqual(t, opened, 1, "opened is recorded once at most (when delivered)")
}

func TestReportSecondReadHTTP(t *testing.T) {
	t.Parallel()
	b := setupReports(t)
	resp, raw := b.do(t, http.MethodPut, "/api/v1/reading-groups/"+b.readers.Org.ID.String()+"/settings", b.groupAdmin,
		map[string]any{"sla_seconds": map[string]int{"stat": 3600, "urgent": 14400, "routine": 172800},
			"claim_lease_seconds": 1800, "require_second_read": true, "critical_ack_within_seconds": 3600})
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	id := b.routedCase(t)
	report := "/api/v1/cases/" + id + "/report"
	b.do(t, http.MethodPost, "/api/v1/cases/"+id+"/claim", b.reader, nil)
	resp, raw = b.do(t, http.MethodPut, report, b.reader, draftBody("Melanoma."))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))

	resp, raw = b.do(t, http.MethodPost, report+"/sign", b.reader, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	require.Equal(t, "preliminary", decode(t, raw)["status"])
	resp, raw = b.do(t, http.MethodGet, report, b.gpA, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the referrer sees the preliminary report: %s", raw)
	require.Equal(t, "preliminary", decode(t, raw)["status"])
	resp, list := b.call(t, http.MethodGet, "/api/v1/worklist", b.second, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, list["items"], 1, "the case waits on the worklist for its second read")

	resp, raw = b.do(t, http.MethodPost, "/api/v1/cases/"+id+"/claim", b.reader, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	resp, raw = b.do(t, http.MethodPost, report+"/sign", b.reader, nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, string(raw))
	require.Contains(t, decode(t, raw)["detail"], "a second read needs another specialist")
	b.do(t, http.MethodPost, "/api/v1/cases/"+id+"/release", b.reader, nil)

	resp, raw = b.do(t, http.MethodPost, "/api/v1/cases/"+id+"/claim", b.second, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	resp, raw = b.do(t, http.MethodPost, report+"/sign", b.second, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	final := decode(t, raw)
	require.Equal(t, "final", final["status"])
	require.Len(t, final["signatures"], 2)
}

// TestReportCrossTenant calls every report route as another site and as
// another reading group: each answer is 404, and nothing changes.
func TestReportCrossTenant(t *testing.T) {
	t.Parallel()
	b := setupReports(t)
	draftCase := b.routedCase(t)
	b.do(t, http.MethodPost, "/api/v1/cases/"+draftCase+"/claim", b.reader, nil)
	_, raw := b.do(t, http.MethodPut, "/api/v1/cases/"+draftCase+"/report", b.reader, draftBody("Melanoma."))
	draftID := decode(t, raw)["id"].(string)
	signedCase := b.routedCase(t)
	b.do(t, http.MethodPost, "/api/v1/cases/"+signedCase+"/claim", b.reader, nil)
	_, raw = b.do(t, http.MethodPut, "/api/v1/cases/"+signedCase+"/report", b.reader, draftBody("Melanoma."))
	signedID := decode(t, raw)["id"].(string)
	resp, _ := b.do(t, http.MethodPost, "/api/v1/cases/"+signedCase+"/report/sign", b.reader, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	for _, tc := range []struct{ caseID, reportID string }{{draftCase, draftID}, {signedCase, signedID}} {
		reads := []string{"/api/v1/cases/" + tc.caseID + "/report", "/api/v1/reports/" + tc.reportID,
			"/api/v1/reports/" + tc.reportID + "/pdf", "/api/v1/reports/" + tc.reportID + "/fhir"}
		for _, tok := range []string{b.staffB, b.adminB, b.siteB.Tokens[identity.RoleReferringPhysician], b.otherGroup} {
			for _, path := range reads {
				resp, raw := b.do(t, http.MethodGet, path, tok, nil)
				require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", path, raw)
			}
		}
		for path, body := range map[string]any{
			"/api/v1/cases/" + tc.caseID + "/report":         draftBody("Hijacked."),
			"/api/v1/cases/" + tc.caseID + "/report/sign":    nil,
			"/api/v1/cases/" + tc.caseID + "/report/addenda": map[string]any{"text": "Hijacked."},
		} {
			method := http.MethodPost
			if body != nil && path == "/api/v1/cases/"+tc.caseID+"/report" {
				method = http.MethodPut
			}
			resp, raw := b.do(t, method, path, b.otherGroup, body)
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s: %s", method, path, raw)
		}
	}
	resp, raw = b.do(t, http.MethodGet, "/api/v1/reports/"+signedID, b.reader, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got := decode(t, raw)
	require.Equal(t, "Melanoma.", got["impression"])
	require.Empty(t, got["addenda"])
	resp, raw = b.do(t, http.MethodGet, "/api/v1/reports/"+draftID, b.reader, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, float64(1), decode(t, raw)["version"])
}
