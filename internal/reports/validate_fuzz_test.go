package reports

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// draftJSON is the report draft body (api.ReportDraftRequest) as the
// binder decodes it.
type draftJSON struct {
	Findings        string      `json:"findings"`
	Impression      string      `json:"impression"`
	Diagnoses       []Diagnosis `json:"diagnoses"`
	Recommendations string      `json:"recommendations"`
	FollowUp        string      `json:"follow_up_interval"`
	Critical        bool        `json:"critical"`
}

// fieldKey is what an invalid-field key may be.
var fieldKey = regexp.MustCompile(`^(findings|impression|recommendations|follow_up_interval|diagnoses|diagnoses\[\d+\]\.(text|system|code))$`)

// FuzzNormalizeDraft validates arbitrary draft bodies as SaveDraft does.
// Invalid fields are named with keys the API documents; valid content is
// within every limit, has well-formed codes and follow-up, and is a fixed
// point (normalising it again changes nothing and finds nothing).
func FuzzNormalizeDraft(f *testing.F) {
	for _, s := range []string{
		`{"findings":"Asymmetric macule","impression":"Melanoma?","recommendations":"Excision biopsy.","follow_up_interval":"P3M",` +
			`"critical":true,"diagnoses":[{"text":"Suspected melanoma of trunk","system":"ICD-10","code":"C43.5"},` +
			`{"text":"Malignant melanoma","system":"SNOMED-CT","code":"372244006"},{"text":"Seborrhoeic keratoses","system":"","code":""}]}`,
		`{"findings":" f ","follow_up_interval":"p1y6m2w3d","diagnoses":[{"text":" Psoriasis ","system":"ICD-10","code":" l40.0 "}]}`,
		`{"diagnoses":[{"text":"x","system":"ICD-10","code":"L439"},{"text":"x","system":"SNOMED-CT","code":"123456"},{"text":"","code":"L43.9"}]}`,
		`{"follow_up_interval":"P0D"}`, `{"follow_up_interval":"P11Y"}`, `{"findings":"\u00e9\u0301"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var d draftJSON
		if json.Unmarshal(body, &d) != nil {
			return
		}
		c := Content{Findings: d.Findings, Impression: d.Impression, Recommendations: d.Recommendations,
			FollowUp: d.FollowUp, Critical: d.Critical, Diagnoses: d.Diagnoses}
		fields := normalize(&c)
		for k, why := range fields {
			if !fieldKey.MatchString(k) || why == "" {
				t.Fatalf("invalid field %q: %q", k, why)
			}
		}
		if len(fields) > 0 {
			return
		}
		for _, v := range []struct {
			s   string
			max int
		}{{c.Findings, maxFindings}, {c.Impression, maxImpression}, {c.Recommendations, maxRecommendations}} {
			if utf8.RuneCountInString(v.s) > v.max || v.s != strings.TrimSpace(v.s) {
				t.Fatalf("accepted text of %d characters (max %d) or untrimmed", utf8.RuneCountInString(v.s), v.max)
			}
		}
		if c.FollowUp != "" && !validFollowUp(c.FollowUp) {
			t.Fatalf("accepted follow-up %q", c.FollowUp)
		}
		if c.Diagnoses == nil || len(c.Diagnoses) > maxDiagnoses {
			t.Fatalf("accepted %d diagnoses (nil: %v)", len(c.Diagnoses), c.Diagnoses == nil)
		}
		for _, dg := range c.Diagnoses {
			switch {
			case dg.Text == "" || utf8.RuneCountInString(dg.Text) > maxDiagnosisText:
				t.Fatalf("accepted diagnosis text %q", dg.Text)
			case dg.System == SystemICD10 && !icd10.MatchString(dg.Code),
				dg.System == SystemSNOMED && !validSNOMED(dg.Code),
				dg.System == "" && dg.Code != "":
				t.Fatalf("accepted diagnosis %+v", dg)
			}
		}
		again := c
		again.Diagnoses = append([]Diagnosis(nil), c.Diagnoses...)
		if fields := normalize(&again); len(fields) > 0 || !reflect.DeepEqual(again, c) {
			t.Fatalf("normalising twice differs: %v\n%+v\n%+v", fields, c, again)
		}
	})
}
