package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
)

// FHIRContentType is the media type of FHIR JSON.
const FHIRContentType = "application/fhir+json"

// Code systems used in the FHIR form.
const (
	fhirLOINC    = "http://loinc.org"
	fhirV20074   = "http://terminology.hl7.org/CodeSystem/v2-0074"
	fhirV20203   = "http://terminology.hl7.org/CodeSystem/v2-0203"
	fhirICD10    = "http://hl7.org/fhir/sid/icd-10"
	fhirSNOMED   = "http://snomed.info/sct"
	fhirDCM      = "http://dicom.nema.org/resources/ontology/DCM"
	fhirURI      = "urn:ietf:rfc:3986"
	fhirDICOMUID = "urn:dicom:uid"
)

// FHIR R4 types, only the elements Teleread fills, in the order the
// specification lists them.
type (
	fhirCoding struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	fhirCC struct {
		Coding []fhirCoding `json:"coding,omitempty"`
		Text   string       `json:"text,omitempty"`
	}
	fhirIdentifier struct {
		Use      string   `json:"use,omitempty"`
		Type     *fhirCC  `json:"type,omitempty"`
		System   string   `json:"system,omitempty"`
		Value    string   `json:"value"`
		Assigner *fhirRef `json:"assigner,omitempty"`
	}
	fhirRef struct {
		Reference  string          `json:"reference,omitempty"`
		Type       string          `json:"type,omitempty"`
		Identifier *fhirIdentifier `json:"identifier,omitempty"`
		Display    string          `json:"display,omitempty"`
	}
	fhirNarrative struct {
		Status string `json:"status"`
		Div    string `json:"div"`
	}
	fhirAttachment struct {
		ContentType string `json:"contentType"`
		Language    string `json:"language,omitempty"`
		URL         string `json:"url"`
		Title       string `json:"title,omitempty"`
		Creation    string `json:"creation,omitempty"`
	}
	fhirHumanName struct {
		Text string `json:"text"`
	}
	fhirPatient struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		Identifier   []fhirIdentifier `json:"identifier"`
		Name         []fhirHumanName  `json:"name"`
		Gender       string           `json:"gender"`
		BirthDate    string           `json:"birthDate"`
	}
	fhirOrganization struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		Identifier   []fhirIdentifier `json:"identifier"`
		Name         string           `json:"name"`
	}
	fhirPractitioner struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		Identifier   []fhirIdentifier `json:"identifier"`
		Name         []fhirHumanName  `json:"name"`
	}
	fhirImagingStudy struct {
		ResourceType      string           `json:"resourceType"`
		ID                string           `json:"id"`
		Identifier        []fhirIdentifier `json:"identifier"`
		Status            string           `json:"status"`
		Modality          []fhirCoding     `json:"modality,omitempty"`
		Subject           fhirRef          `json:"subject"`
		Started           string           `json:"started,omitempty"`
		NumberOfSeries    int              `json:"numberOfSeries"`
		NumberOfInstances int              `json:"numberOfInstances"`
		Description       string           `json:"description,omitempty"`
	}
	fhirDiagnosticReport struct {
		ResourceType       string           `json:"resourceType"`
		ID                 string           `json:"id"`
		Text               fhirNarrative    `json:"text"`
		Contained          []any            `json:"contained"`
		Identifier         []fhirIdentifier `json:"identifier"`
		BasedOn            []fhirRef        `json:"basedOn"`
		Status             string           `json:"status"`
		Category           []fhirCC         `json:"category"`
		Code               fhirCC           `json:"code"`
		Subject            fhirRef          `json:"subject"`
		EffectiveDateTime  string           `json:"effectiveDateTime,omitempty"`
		Issued             string           `json:"issued"`
		Performer          []fhirRef        `json:"performer"`
		ResultsInterpreter []fhirRef        `json:"resultsInterpreter"`
		ImagingStudy       []fhirRef        `json:"imagingStudy,omitempty"`
		Conclusion         string           `json:"conclusion,omitempty"`
		ConclusionCode     []fhirCC         `json:"conclusionCode,omitempty"`
		PresentedForm      []fhirAttachment `json:"presentedForm"`
	}
)

// FHIR returns report id as a FHIR R4 DiagnosticReport, if p may read it,
// and audits the read (report.fhir). Drafts have no FHIR form (Conflict).
func (s *Service) FHIR(ctx context.Context, p *identity.Principal, id uuid.UUID) ([]byte, error) {
	r, c, err := s.visible(ctx, p, &id, nil)
	if err != nil {
		return nil, err
	}
	if !r.Signed() {
		return nil, apperr.New(apperr.Conflict, "the report is a draft: it has a FHIR form once signed")
	}
	d, err := s.document(ctx, cases.ScopeOf(p), r, c)
	if err != nil {
		return nil, err
	}
	out, err := d.fhir()
	if err != nil {
		return nil, err
	}
	return out, s.viewed(ctx, p, r, c, "report.fhir")
}

// fhirStatus maps a report to DiagnosticReport.status: a final report with
// addenda is "appended" (R4: "subsequent to being final, the report has
// been modified by adding new content; the existing content is unchanged",
// a kind of "amended").
func (d document) fhirStatus() string {
	switch {
	case d.Report.Status == StatusFinal && len(d.Report.Addenda) > 0:
		return "appended"
	case d.Report.Status == StatusFinal:
		return "final"
	case d.Report.Status == StatusPreliminary:
		return "preliminary"
	default:
		return "registered"
	}
}

// fhirKind returns the category and code of the report for its specialty:
// radiology is the LOINC Radiology category (LP29684-5, and v2 section RAD)
// with code 18748-4 "Diagnostic imaging study"; dermatology has no imaging
// section of its own, so it is a physician consult (v2 section PHY) with
// code 34758-3 "Dermatology Consult note".
func (d document) fhirKind() (fhirCC, fhirCC) {
	if d.Case.Specialty == identity.SpecialtyRadiology {
		return fhirCC{Coding: []fhirCoding{{System: fhirLOINC, Code: "LP29684-5", Display: "Radiology"},
				{System: fhirV20074, Code: "RAD", Display: "Radiology"}}},
			fhirCC{Coding: []fhirCoding{{System: fhirLOINC, Code: "18748-4", Display: "Diagnostic imaging study"}},
				Text: "Teleradiology report"}
	}
	return fhirCC{Coding: []fhirCoding{{System: fhirV20074, Code: "PHY", Display: "Physician"}}, Text: "Dermatology"},
		fhirCC{Coding: []fhirCoding{{System: fhirLOINC, Code: "34758-3", Display: "Dermatology Consult note"}},
			Text: "Teledermatology consultation"}
}

var fhirGender = map[string]string{"F": "female", "M": "male", "O": "other", "U": "unknown"}

func fhirTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func uuidIdentifier(id uuid.UUID) fhirIdentifier {
	return fhirIdentifier{System: fhirURI, Value: "urn:uuid:" + id.String()}
}

// fhir renders the document as a DiagnosticReport. The patient, the
// reading group, the signers and the DICOM studies are contained resources,
// so the document stands alone; the case is the ServiceRequest it is based
// on.
func (d document) fhir() ([]byte, error) {
	r, c := d.Report, d.Case
	category, code := d.fhirKind()
	out := fhirDiagnosticReport{ResourceType: "DiagnosticReport", ID: r.ID.String(),
		Identifier: []fhirIdentifier{uuidIdentifier(r.ID)},
		BasedOn: []fhirRef{{Reference: "ServiceRequest/" + c.ID.String(), Type: "ServiceRequest",
			Identifier: ptr(uuidIdentifier(c.ID))}},
		Status: d.fhirStatus(), Category: []fhirCC{category}, Code: code,
		Subject: fhirRef{Reference: "#patient"}, Issued: fhirTime(d.issued()),
		Conclusion: r.Impression,
		PresentedForm: []fhirAttachment{{ContentType: "application/pdf", Language: "en", URL: d.Links.PDF,
			Title: "Report " + r.ID.String() + ".pdf", Creation: fhirTime(d.issued())}}}
	if c.SubmittedAt != nil {
		out.EffectiveDateTime = fhirTime(c.SubmittedAt.Truncate(time.Second))
	}

	out.Contained = append(out.Contained, fhirPatient{ResourceType: "Patient", ID: "patient",
		Identifier: []fhirIdentifier{{Use: "usual",
			Type:  &fhirCC{Coding: []fhirCoding{{System: fhirV20203, Code: "MR", Display: "Medical record number"}}},
			Value: c.PatientMrn, Assigner: &fhirRef{Display: d.SiteName}}},
		Name: []fhirHumanName{{Text: c.PatientName}}, Gender: fhirGender[c.PatientSex],
		BirthDate: c.PatientBirthDate.Format(time.DateOnly)})
	if c.ReadingGroupID != nil {
		out.Contained = append(out.Contained, fhirOrganization{ResourceType: "Organization", ID: "reading-group",
			Identifier: []fhirIdentifier{uuidIdentifier(*c.ReadingGroupID)}, Name: d.GroupName})
		out.Performer = append(out.Performer, fhirRef{Reference: "#reading-group", Display: d.GroupName})
	}
	seen := map[uuid.UUID]bool{}
	addInterpreter := func(id uuid.UUID, name string) {
		if seen[id] {
			return
		}
		seen[id] = true
		ref := fmt.Sprintf("practitioner-%d", len(seen))
		out.Contained = append(out.Contained, fhirPractitioner{ResourceType: "Practitioner", ID: ref,
			Identifier: []fhirIdentifier{uuidIdentifier(id)}, Name: []fhirHumanName{{Text: name}}})
		out.ResultsInterpreter = append(out.ResultsInterpreter, fhirRef{Reference: "#" + ref, Display: name})
	}
	for _, s := range r.Signatures {
		addInterpreter(s.SignerID, s.SignerName)
	}
	for _, a := range r.Addenda {
		addInterpreter(a.SignerID, a.SignerName)
	}
	for _, st := range d.Studies {
		ref := "study-" + st.ID.String()
		uid := fhirIdentifier{System: fhirDICOMUID, Value: "urn:oid:" + st.StudyInstanceUID}
		is := fhirImagingStudy{ResourceType: "ImagingStudy", ID: ref, Identifier: []fhirIdentifier{uid},
			Status: "available", Subject: fhirRef{Reference: "#patient"}, Started: dicomDate(st.StudyDate),
			NumberOfSeries: st.Series, NumberOfInstances: st.Instances, Description: st.Description}
		for _, m := range st.Modalities {
			is.Modality = append(is.Modality, fhirCoding{System: fhirDCM, Code: m})
		}
		out.Contained = append(out.Contained, is)
		out.ImagingStudy = append(out.ImagingStudy, fhirRef{Reference: "#" + ref, Type: "ImagingStudy", Identifier: &uid})
	}
	for _, dx := range r.Diagnoses {
		cc := fhirCC{Text: dx.Text}
		switch dx.System {
		case SystemICD10:
			cc.Coding = []fhirCoding{{System: fhirICD10, Code: dx.Code, Display: dx.Text}}
		case SystemSNOMED:
			cc.Coding = []fhirCoding{{System: fhirSNOMED, Code: dx.Code, Display: dx.Text}}
		}
		out.ConclusionCode = append(out.ConclusionCode, cc)
	}
	out.Text = fhirNarrative{Status: "generated", Div: d.narrative()}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("fhir: %w", err)
	}
	return buf.Bytes(), nil
}

func ptr[T any](v T) *T { return &v }

// dicomDate turns a DICOM date (YYYYMMDD) into a FHIR date, or "" when it
// is not one.
func dicomDate(s string) string {
	t, err := time.Parse("20060102", s)
	if err != nil {
		return ""
	}
	return t.Format(time.DateOnly)
}

// narrative is the human-readable XHTML of the report: what a FHIR viewer
// shows, including what has no element of its own (findings, the critical
// flag, recommendations, follow-up, signatures, addenda).
func (d document) narrative() string {
	r := d.Report
	var b strings.Builder
	p := func(label, text string) {
		if strings.TrimSpace(text) == "" {
			return
		}
		fmt.Fprintf(&b, "<p><b>%s</b>: %s</p>", html.EscapeString(label),
			strings.ReplaceAll(html.EscapeString(text), "\n", "<br/>"))
	}
	b.WriteString(`<div xmlns="http://www.w3.org/1999/xhtml">`)
	fmt.Fprintf(&b, "<h3>%s report (%s)</h3>", html.EscapeString(specialtyTitle(d.Case.Specialty)), html.EscapeString(r.Status))
	if r.Critical {
		b.WriteString("<p><b>CRITICAL RESULT</b></p>")
	}
	p("Findings", r.Findings)
	p("Impression", r.Impression)
	if len(r.Diagnoses) > 0 {
		b.WriteString("<p><b>Diagnoses</b>:</p><ul>")
		for _, dx := range r.Diagnoses {
			b.WriteString("<li>" + html.EscapeString(diagnosisLine(dx)) + "</li>")
		}
		b.WriteString("</ul>")
	}
	p("Recommendations", r.Recommendations)
	p("Follow-up", FollowUpText(r.FollowUp))
	for _, s := range r.Signatures {
		p("Signed "+s.Kind, s.SignerName+", "+s.SignedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	for _, a := range r.Addenda {
		p("Addendum by "+a.SignerName+", "+a.SignedAt.UTC().Format("2006-01-02 15:04 UTC"), a.Text)
	}
	b.WriteString("</div>")
	return b.String()
}

func specialtyTitle(s string) string {
	if s == identity.SpecialtyRadiology {
		return "Teleradiology"
	}
	return "Teledermatology"
}

// diagnosisLine is a diagnosis as one line: "Psoriasis (ICD-10 L40.0)".
func diagnosisLine(dx Diagnosis) string {
	if dx.System == "" {
		return dx.Text
	}
	return fmt.Sprintf("%s (%s %s)", dx.Text, dx.System, dx.Code)
}
