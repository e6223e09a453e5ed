package reports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/reports"
)

func TestVisibility(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.reader()
	c := b.claimed(t, p)
	res, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma."), nil)
	require.NoError(t, err)
	id := res.Report.ID
	referrer := b.site.Principals[identity.RoleReferringPhysician]

	readers := map[string]*identity.Principal{
		"Claimant": p, "Colleague": b.second, "GroupAdmin": b.derm.Principals[identity.RoleOrgAdmin], "Platform": b.root,
	}
	site := map[string]*identity.Principal{
		"SiteStaff": b.site.Principals[identity.RoleSiteStaff], "Referrer": referrer,
		"SiteAdmin": b.site.Principals[identity.RoleOrgAdmin],
	}
	never := map[string]*identity.Principal{
		"OtherSiteStaff": b.site2.Principals[identity.RoleSiteStaff], "OtherSiteAdmin": b.site2.Principals[identity.RoleOrgAdmin],
		"OtherSiteReferrer": b.site2.Principals[identity.RoleReferringPhysician], "OtherGroup": b.rad.Principals[identity.RoleSpecialist],
	}
	check := func(who map[string]*identity.Principal, visible bool) {
		t.Helper()
		for name, q := range who {
			_, err := b.reports.Get(ctx, q, id)
			_, err2 := b.reports.GetForCase(ctx, q, c.ID)
			_, err3 := b.reports.PDF(ctx, q, id)
			if visible {
				require.NoError(t, err, name)
				require.NoError(t, err2, name)
				require.NoError(t, err3, name)
			} else {
				requireCode(t, err, apperr.NotFound, "")
				requireCode(t, err2, apperr.NotFound, "")
				requireCode(t, err3, apperr.NotFound, "")
			}
		}
	}
	check(readers, true)
	check(site, false) // a draft is the reading group's alone
	check(never, false)
	require.Zero(t, b.opened.count())

	_, err = b.reports.Sign(ctx, p, c.ID)
	require.NoError(t, err)
	check(readers, true)
	check(site, true)
	check(never, false)

	views := b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.view' AND object_id = $1", id.String())
	_, err = b.reports.Get(ctx, referrer, id)
	require.NoError(t, err)
	_, err = b.reports.FHIR(ctx, referrer, id)
	require.NoError(t, err)
	require.Equal(t, views+1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.view' AND object_id = $1", id.String()))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.fhir' AND object_id = $1 AND actor_id = $2", id.String(), referrer.UserID))
	require.Positive(t, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'report.pdf' AND object_id = $1", id.String()))
	// Only the referring physician's reads of the signed report mark it opened (GetForCase, PDF, Get, FHIR).
	require.Equal(t, 5, b.opened.count())
}

func TestWebhookPayload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.reader()
	c := b.claimed(t, p)
	res, err := b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma."), nil)
	require.NoError(t, err)
	_, err = b.reports.WebhookPayload(ctx, res.Report.ID, reports.EventFinal)
	requireCode(t, err, apperr.Conflict, "not signed")
	_, err = b.reports.Sign(ctx, p, c.ID)
	require.NoError(t, err)
	_, err = b.reports.AddAddendum(ctx, p, c.ID, "Histology confirms.")
	require.NoError(t, err)
	_, err = b.reports.WebhookPayload(ctx, res.Report.ID, "report.unknown")
	require.Error(t, err)

	raw, err := b.reports.WebhookPayload(ctx, res.Report.ID, reports.EventAddendum)
	require.NoError(t, err)
	var got struct {
		Event, Status, Findings, Impression, Recommendations, Specialty string
		ReportID                                                        uuid.UUID `json:"report_id"`
		CaseID                                                          uuid.UUID `json:"case_id"`
		FollowUp                                                        string    `json:"follow_up_interval"`
		Critical                                                        bool
		Patient                                                         struct{ Name, MRN, Sex, BirthDate string }
		Diagnoses                                                       []reports.Diagnosis
		Signatures                                                      []struct {
			Kind       string
			SignerName string    `json:"signer_name"`
			SignedAt   time.Time `json:"signed_at"`
		}
		Addenda []struct{ Text string }
		Links   reports.Links
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, reports.EventAddendum, got.Event)
	require.Equal(t, reports.StatusFinal, got.Status)
	require.Equal(t, c.ID, got.CaseID)
	require.Equal(t, "M1", got.Patient.MRN)
	require.Equal(t, "Pat Test", got.Patient.Name)
	require.True(t, got.Critical)
	require.Equal(t, "P3M", got.FollowUp)
	require.Len(t, got.Diagnoses, 3)
	require.Len(t, got.Signatures, 1)
	require.Equal(t, "specialist", got.Signatures[0].SignerName)
	require.Len(t, got.Addenda, 1)
	require.Equal(t, "https://teleread.example/api/v1/reports/"+res.Report.ID.String()+"/pdf", got.Links.PDF)
	require.Contains(t, string(raw), `"birth_date":"1960-05-06"`)
}

// TestPDFAndFHIR renders a signed report with real previews from object
// storage and a DICOM study.
func TestPDFAndFHIR(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.reader()
	c := b.claimed(t, p)

	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: 120, A: 255})
		}
	}
	var jb bytes.Buffer
	require.NoError(t, jpeg.Encode(&jb, img, nil))
	key := fmt.Sprintf("orgs/%s/derived/%s/preview.jpg", c.SiteOrgID, uuid.New())
	_, err := b.env.Blob.Put(ctx, key, bytes.NewReader(jb.Bytes()), int64(jb.Len()), "image/jpeg")
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, `UPDATE files SET preview_status = 'ready', preview_key = $2, body_site = 'back' WHERE case_id = $1`, c.ID, key)
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, `INSERT INTO dicom_studies (org_id, case_id, study_instance_uid, study_date, study_description)
		VALUES ($1, $2, '1.2.826.0.1.3680043.8.498.1', '20260302', 'DERMOSCOPY')`, c.SiteOrgID, c.ID)
	require.NoError(t, err)
	_, err = b.reports.SaveDraft(ctx, p, c.ID, content("Melanoma."), nil)
	require.NoError(t, err)
	r, err := b.reports.Sign(ctx, p, c.ID)
	require.NoError(t, err)

	fhir, err := b.reports.FHIR(ctx, b.site.Principals[identity.RoleSiteStaff], r.ID)
	require.NoError(t, err)
	res := reports.CheckDiagnosticReport(t, fhir)
	require.Equal(t, "final", res["status"])
	require.Equal(t, r.ID.String(), res["id"])
	require.Len(t, res["imagingStudy"], 1)
	require.Contains(t, string(fhir), "urn:oid:1.2.826.0.1.3680043.8.498.1")

	doc, err := b.reports.PDF(ctx, b.site.Principals[identity.RoleSiteStaff], r.ID)
	require.NoError(t, err)
	var out bytes.Buffer
	_, err = doc.WriteTo(&out)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(out.Bytes(), []byte("%PDF-")))
	require.Contains(t, out.String(), "/Subtype /Image", "the key image is embedded")
	reports.Rasterise(t, out.Bytes(), "signed")
}
