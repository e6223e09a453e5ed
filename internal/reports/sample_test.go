package reports

import (
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/cases"
)

// sampleDocument is a fixed report (ids, times, names) for golden files.
// status is draft, preliminary, final, or "appended" (final with an
// addendum); specialty is dermatology or radiology.
func sampleDocument(status, specialty string) document {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	submitted := at("2026-03-02T09:15:00Z")
	group := uuid.MustParse("00000000-0000-4000-8000-00000000a001")
	body := "Left forearm"
	c := cases.Case{ID: uuid.MustParse("00000000-0000-4000-8000-00000000c001"),
		SiteOrgID: uuid.MustParse("00000000-0000-4000-8000-00000000b001"), Status: "reported", Specialty: specialty,
		Priority: "urgent", PatientName: "Zoë Øster-Łukasik", PatientBirthDate: at("1961-07-14T00:00:00Z"),
		PatientSex: "F", PatientMrn: "MRN-0042",
		ClinicalQuestion: "Changing pigmented lesion on the left forearm, 8 mm, irregular border. Melanoma?",
		History:          "Fair skin, several sunburns in childhood. Father had melanoma at 60.",
		LesionBodySite:   &body, ReadingGroupID: &group,
		ReferringPhysicianID: uuid.MustParse("00000000-0000-4000-8000-00000000d001"), SubmittedAt: &submitted}
	r := Report{ID: uuid.MustParse("00000000-0000-4000-8000-00000000e001"), CaseID: c.ID, Status: StatusDraft, Version: 4,
		Content: Content{
			Findings: "Asymmetric macule, 8 × 6 mm, with an irregular, notched border and three colours " +
				"(light brown, dark brown, blue-grey). Dermoscopy shows an atypical pigment network, " +
				"irregular dots and globules at the periphery, and a blue-white veil centrally.\n" +
				"No ulceration. Surrounding skin shows solar lentigines.",
			Impression: "Features suspicious for melanoma (ABCD score 6.1; 7-point checklist 5).",
			Diagnoses: []Diagnosis{{Text: "Suspected malignant melanoma of skin", System: SystemICD10, Code: "C43.6"},
				{Text: "Malignant melanoma", System: SystemSNOMED, Code: "372244006"},
				{Text: "Solar lentigines of the forearm"}},
			Recommendations: "Excisional biopsy with 2 mm margins within 2 weeks. Full skin examination.",
			FollowUp:        "P3M", Critical: true},
		AuthorID: uuid.MustParse("00000000-0000-4000-8000-0000000f0001")}
	if specialty == "radiology" {
		c.ClinicalQuestion, c.History, c.LesionBodySite = "Fall on outstretched hand. Fracture?", "", nil
		r.Findings = "Transverse fracture of the distal radial metaphysis with 10° dorsal angulation. Ulnar styloid intact."
		r.Impression = "Distal radius fracture (Colles type)."
		r.Diagnoses = []Diagnosis{{Text: "Fracture of lower end of radius", System: SystemICD10, Code: "S52.5"}}
		r.Recommendations, r.FollowUp, r.Critical = "Orthopaedic referral; below-elbow cast.", "P6W", false
	}
	d := document{Report: r, Case: c, SiteName: "Harbour Street Practice", GroupName: "North Sea Dermatology Readers",
		ReferringName: "Dr Amal Haddad",
		Links: Links{Self: "https://teleread.example/api/v1/reports/" + r.ID.String(),
			PDF:  "https://teleread.example/api/v1/reports/" + r.ID.String() + "/pdf",
			FHIR: "https://teleread.example/api/v1/reports/" + r.ID.String() + "/fhir"}}
	if specialty == "radiology" {
		d.GroupName = "Coastal Teleradiology"
		d.Studies = []Study{{ID: uuid.MustParse("00000000-0000-4000-8000-000000005701"),
			StudyInstanceUID: "1.2.826.0.1.3680043.8.498.10001", StudyDate: "20260302",
			Description: "XR WRIST 2 VIEWS", AccessionNumber: "ACC-77", Modalities: []string{"CR", "DX"}, Series: 2, Instances: 2}}
	}
	first := Signature{SignerID: uuid.MustParse("00000000-0000-4000-8000-0000000f0001"), SignerName: "Dr Ingrid Solberg",
		SignedAt: at("2026-03-02T11:40:12.345678Z")}
	second := Signature{Kind: StatusFinal, SignerID: uuid.MustParse("00000000-0000-4000-8000-0000000f0002"),
		SignerName: "Dr Tomás Ferreira", SignedAt: at("2026-03-02T13:05:00Z")}
	sign := func(s Signature) Signature {
		s.ContentSHA256 = r.ContentSHA256
		s.SHA256 = signatureHash(r.ID, s)
		return s
	}
	if status != StatusDraft {
		r.ContentSHA256 = contentHash(r, c)
		first.Kind = StatusPreliminary
		r.Status = StatusPreliminary
		r.Signatures = []Signature{sign(first)}
		if status != StatusPreliminary {
			r.Status = StatusFinal
			r.Signatures = append(r.Signatures, sign(second))
		}
		if status == "appended" {
			a := Addendum{ID: uuid.MustParse("00000000-0000-4000-8000-00000000ad01"),
				Text:     "Histology received: superficial spreading melanoma, Breslow 0.6 mm. Wider excision arranged.",
				SignerID: second.SignerID, SignerName: second.SignerName, SignedAt: at("2026-03-20T08:00:00Z")}
			a.SHA256 = addendumHash(r.ID, r.ContentSHA256, a)
			r.Addenda = []Addendum{a}
		}
	}
	d.Report = r
	return d
}
