package reports

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidSNOMED(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"22298006":            true,  // myocardial infarction
		"73211009":            true,  // diabetes mellitus
		"38341003":            true,  // hypertensive disorder
		"9014002":             true,  // psoriasis
		"24079001":            true,  // atopic dermatitis
		"372244006":           true,  // malignant melanoma
		"22298007":            false, // check digit off by one
		"22298016":            false, // not a concept (partition 01 is a description)
		"12345":               false, // too short
		"022298006":           false, // leading zero
		"2229800A":            false,
		"":                    false,
		"1234567890123456789": false, // 19 digits
	} {
		require.Equal(t, want, validSNOMED(code), code)
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in     Content
		fields []string
	}{
		"Valid": {Content{Findings: " f ", Impression: "i", FollowUp: "p3m", Diagnoses: []Diagnosis{
			{Text: "Psoriasis", System: SystemICD10, Code: "l40.0"},
			{Text: "Psoriasis", System: SystemSNOMED, Code: "9014002"},
			{Text: "Looks benign"},
			{Text: "Fracture", System: SystemICD10, Code: "S52.521A"},
		}}, nil},
		"BadICD10":         {Content{Diagnoses: []Diagnosis{{Text: "x", System: SystemICD10, Code: "L4"}}}, []string{"diagnoses[0].code"}},
		"ICD10NoDot":       {Content{Diagnoses: []Diagnosis{{Text: "x", System: SystemICD10, Code: "L439"}}}, []string{"diagnoses[0].code"}},
		"BadSNOMED":        {Content{Diagnoses: []Diagnosis{{Text: "x", System: SystemSNOMED, Code: "L43.9"}}}, []string{"diagnoses[0].code"}},
		"CodeNoSystem":     {Content{Diagnoses: []Diagnosis{{Text: "x", Code: "L43.9"}}}, []string{"diagnoses[0].system"}},
		"UnknownSystem":    {Content{Diagnoses: []Diagnosis{{Text: "x", System: "ICD-9", Code: "696.1"}}}, []string{"diagnoses[0].system"}},
		"NoText":           {Content{Diagnoses: []Diagnosis{{System: SystemICD10, Code: "L43.9"}}}, []string{"diagnoses[0].text"}},
		"FreeTextFollowUp": {Content{FollowUp: "in three months"}, []string{"follow_up_interval"}},
		"ZeroFollowUp":     {Content{FollowUp: "P0D"}, []string{"follow_up_interval"}},
		"LongFollowUp":     {Content{FollowUp: "P11Y"}, []string{"follow_up_interval"}},
		"TimeFollowUp":     {Content{FollowUp: "PT3H"}, []string{"follow_up_interval"}},
		"LongFindings":     {Content{Findings: strings.Repeat("x", maxFindings+1)}, []string{"findings"}},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.in
			fields := normalize(&c)
			var got []string
			for k := range fields {
				got = append(got, k)
			}
			require.ElementsMatch(t, tc.fields, got, "%v", fields)
		})
	}
	c := Content{Findings: " f ", FollowUp: "p3m", Diagnoses: []Diagnosis{{Text: " Psoriasis ", System: SystemICD10, Code: " l40.0 "}}}
	require.Empty(t, normalize(&c))
	require.Equal(t, "f", c.Findings)
	require.Equal(t, "P3M", c.FollowUp)
	require.Equal(t, Diagnosis{Text: "Psoriasis", System: SystemICD10, Code: "L40.0"}, c.Diagnoses[0])
}

func TestFollowUpText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"P3M": "3 months", "P1Y": "1 year", "P1Y6M": "1 year 6 months",
		"P2W": "2 weeks", "P1D": "1 day", "": ""} {
		require.Equal(t, want, FollowUpText(in), in)
	}
}
