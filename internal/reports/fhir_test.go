package reports

import (
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	require.Equal(t, string(want), string(got), "%s differs; run go test -update if the change is intended", path)
}

func TestFHIRGolden(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		status, specialty, wantStatus string
	}{
		"fhir_dermatology_preliminary.json": {StatusPreliminary, "dermatology", "preliminary"},
		"fhir_dermatology_appended.json":    {"appended", "dermatology", "appended"},
		"fhir_radiology_final.json":         {StatusFinal, "radiology", "final"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := sampleDocument(tc.status, tc.specialty)
			got, err := d.fhir()
			require.NoError(t, err)
			golden(t, name, got)
			res := checkDiagnosticReport(t, got)
			require.Equal(t, tc.wantStatus, res["status"])
			require.Equal(t, d.Report.Impression, res["conclusion"])
			require.Len(t, res["conclusionCode"], len(d.Report.Diagnoses))
		})
	}
}

var (
	fhirID      = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	fhirInstant = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	fhirDate    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// checkDiagnosticReport holds raw to the FHIR R4 rules a receiver relies
// on: the required elements of DiagnosticReport and of each contained
// resource, value sets of the coded elements, formats of ids and times,
// well-formed XHTML narrative, and the contained-resource invariants
// (dom-2: no nested contained; dom-3: every contained resource referenced,
// every local reference resolves).
func checkDiagnosticReport(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var res map[string]any
	require.NoError(t, json.Unmarshal(raw, &res))
	require.Equal(t, "DiagnosticReport", res["resourceType"])
	require.Regexp(t, fhirID, res["id"])
	require.Contains(t, []string{"registered", "partial", "preliminary", "final", "amended", "corrected", "appended",
		"cancelled", "entered-in-error", "unknown"}, res["status"])
	codings := func(cc any) []map[string]any {
		m, ok := cc.(map[string]any)
		require.True(t, ok, "CodeableConcept: %v", cc)
		var out []map[string]any
		for _, c := range m["coding"].([]any) {
			cm := c.(map[string]any)
			require.NotEmpty(t, cm["system"])
			require.NotEmpty(t, cm["code"])
			out = append(out, cm)
		}
		return out
	}
	require.NotEmpty(t, codings(res["code"]), "code is 1..1 and coded")
	require.Equal(t, "http://loinc.org", codings(res["code"])[0]["system"])
	for _, c := range res["category"].([]any) {
		require.NotEmpty(t, codings(c))
	}
	require.Regexp(t, fhirInstant, res["issued"])
	if v, ok := res["effectiveDateTime"]; ok {
		require.Regexp(t, fhirInstant, v)
	}

	text := res["text"].(map[string]any)
	require.Equal(t, "generated", text["status"])
	div := text["div"].(string)
	require.True(t, strings.HasPrefix(div, `<div xmlns="http://www.w3.org/1999/xhtml">`), div)
	require.NoError(t, xml.Unmarshal([]byte(div), new(struct{})), "narrative is well-formed XHTML")

	contained := map[string]map[string]any{}
	for _, c := range res["contained"].([]any) {
		cm := c.(map[string]any)
		require.Regexp(t, fhirID, cm["id"])
		require.NotContains(t, cm, "contained", "dom-2")
		require.NotContains(t, cm, "meta", "dom-4")
		contained[cm["id"].(string)] = cm
	}
	referenced := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["reference"].(string); ok && strings.HasPrefix(ref, "#") {
				require.Contains(t, contained, ref[1:], "local reference %s resolves", ref)
				referenced[ref[1:]] = true
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(res)
	for id := range contained {
		require.True(t, referenced[id], "dom-3: contained %s is referenced", id)
	}

	subject := res["subject"].(map[string]any)["reference"].(string)
	patient := contained[strings.TrimPrefix(subject, "#")]
	require.Equal(t, "Patient", patient["resourceType"])
	require.Contains(t, []string{"male", "female", "other", "unknown"}, patient["gender"])
	require.Regexp(t, fhirDate, patient["birthDate"])
	mrn := patient["identifier"].([]any)[0].(map[string]any)
	require.Equal(t, "MR", codings(mrn["type"])[0]["code"])
	require.NotEmpty(t, mrn["value"])

	for _, p := range res["performer"].([]any) {
		require.Equal(t, "Organization", contained[strings.TrimPrefix(p.(map[string]any)["reference"].(string), "#")]["resourceType"])
	}
	require.NotEmpty(t, res["resultsInterpreter"])
	for _, p := range res["resultsInterpreter"].([]any) {
		require.Equal(t, "Practitioner", contained[strings.TrimPrefix(p.(map[string]any)["reference"].(string), "#")]["resourceType"])
	}
	for _, s := range asList(res["imagingStudy"]) {
		ref := s.(map[string]any)
		study := contained[strings.TrimPrefix(ref["reference"].(string), "#")]
		require.Equal(t, "ImagingStudy", study["resourceType"])
		require.Contains(t, []string{"registered", "available", "cancelled", "entered-in-error", "unknown"}, study["status"])
		require.NotEmpty(t, study["subject"], "ImagingStudy.subject is 1..1")
		uid := study["identifier"].([]any)[0].(map[string]any)
		require.Equal(t, "urn:dicom:uid", uid["system"])
		require.Regexp(t, `^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`, uid["value"])
		require.Equal(t, uid, ref["identifier"])
	}
	for _, b := range res["basedOn"].([]any) {
		require.Regexp(t, `^ServiceRequest/[0-9a-f-]{36}$`, b.(map[string]any)["reference"])
	}
	for _, cc := range asList(res["conclusionCode"]) {
		m := cc.(map[string]any)
		require.NotEmpty(t, m["text"])
		for _, c := range asList(m["coding"]) {
			require.Contains(t, []string{"http://hl7.org/fhir/sid/icd-10", "http://snomed.info/sct"}, c.(map[string]any)["system"])
		}
	}
	form := res["presentedForm"].([]any)[0].(map[string]any)
	require.Equal(t, "application/pdf", form["contentType"])
	require.Regexp(t, `/api/v1/reports/[0-9a-f-]{36}/pdf$`, form["url"])
	return res
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
