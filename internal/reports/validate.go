package reports

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The coding systems a diagnosis may name, and their FHIR system URIs.
const (
	SystemICD10  = "ICD-10"
	SystemSNOMED = "SNOMED-CT"
)

// Limits on a report's content.
const (
	maxFindings        = 20000
	maxImpression      = 8000
	maxRecommendations = 8000
	maxDiagnoses       = 20
	maxDiagnosisText   = 500
	maxAddendum        = 20000
)

// icd10 is an ICD-10 (WHO) or ICD-10-CM code: a letter, two characters
// (digits, or a digit and a letter as in C4A), then optionally a dot and
// one to four more (L43.9, S52.521A).
var icd10 = regexp.MustCompile(`^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$`)

// followUp is an ISO 8601 duration of whole years, months, weeks and days,
// each at most once and in that order (P3M, P1Y6M, P2W).
var followUp = regexp.MustCompile(`^P(?:([0-9]{1,3})Y)?(?:([0-9]{1,3})M)?(?:([0-9]{1,3})W)?(?:([0-9]{1,4})D)?$`)

// normalize trims the content, upper-cases codes, and returns the fields
// that are invalid, with why. An empty map means the content is valid.
func normalize(c *Content) map[string]string {
	fields := map[string]string{}
	c.Findings = strings.TrimSpace(c.Findings)
	c.Impression = strings.TrimSpace(c.Impression)
	c.Recommendations = strings.TrimSpace(c.Recommendations)
	c.FollowUp = strings.ToUpper(strings.TrimSpace(c.FollowUp))
	for name, v := range map[string]struct {
		s   string
		max int
	}{"findings": {c.Findings, maxFindings}, "impression": {c.Impression, maxImpression},
		"recommendations": {c.Recommendations, maxRecommendations}} {
		if utf8.RuneCountInString(v.s) > v.max {
			fields[name] = fmt.Sprintf("must be at most %d characters", v.max)
		}
	}
	if c.FollowUp != "" && !validFollowUp(c.FollowUp) {
		fields["follow_up_interval"] = "must be an ISO 8601 duration of years, months, weeks or days, such as P3M or P1Y (up to 10 years); put anything else in recommendations"
	}
	if len(c.Diagnoses) > maxDiagnoses {
		fields["diagnoses"] = fmt.Sprintf("at most %d diagnoses", maxDiagnoses)
	}
	if c.Diagnoses == nil {
		c.Diagnoses = []Diagnosis{}
	}
	for i := range c.Diagnoses {
		d := &c.Diagnoses[i]
		d.Text = strings.TrimSpace(d.Text)
		d.System = strings.TrimSpace(d.System)
		d.Code = strings.ToUpper(strings.TrimSpace(d.Code))
		key := fmt.Sprintf("diagnoses[%d]", i)
		if d.Text == "" || utf8.RuneCountInString(d.Text) > maxDiagnosisText {
			fields[key+".text"] = fmt.Sprintf("is required (at most %d characters)", maxDiagnosisText)
		}
		switch d.System {
		case "":
			if d.Code != "" {
				fields[key+".system"] = "name the system of the code: ICD-10 or SNOMED-CT"
			}
		case SystemICD10:
			if !icd10.MatchString(d.Code) {
				fields[key+".code"] = "must be an ICD-10 code such as L43.9"
			}
		case SystemSNOMED:
			if !validSNOMED(d.Code) {
				fields[key+".code"] = "must be a SNOMED CT concept id: 6 to 18 digits with a valid check digit"
			}
		default:
			fields[key+".system"] = `must be "ICD-10", "SNOMED-CT" or empty (free text)`
		}
	}
	return fields
}

// validFollowUp reports whether s is an accepted follow-up duration: at
// least one part, not zero, and at most ten years.
func validFollowUp(s string) bool {
	m := followUp.FindStringSubmatch(s)
	if m == nil || s == "P" {
		return false
	}
	days := 0
	for i, per := range []int{365, 30, 7, 1} {
		if m[i+1] == "" {
			continue
		}
		n, _ := strconv.Atoi(m[i+1])
		days += n * per
	}
	return days > 0 && days <= 3660
}

// FollowUpText renders a follow-up duration for people: "P3M" is
// "3 months", "P1Y2W" is "1 year 2 weeks".
func FollowUpText(s string) string {
	m := followUp.FindStringSubmatch(s)
	if m == nil || s == "" || s == "P" {
		return s
	}
	var parts []string
	for i, unit := range []string{"year", "month", "week", "day"} {
		if m[i+1] == "" {
			continue
		}
		n, _ := strconv.Atoi(m[i+1])
		if n != 1 {
			unit += "s"
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, unit))
	}
	return strings.Join(parts, " ")
}

// validSNOMED reports whether code is a SNOMED CT concept identifier: 6 to
// 18 digits, no leading zero, a partition identifier of a concept (00 or 10,
// the second and third digits from the right) and a valid Verhoeff check
// digit (the last).
func validSNOMED(code string) bool {
	if len(code) < 6 || len(code) > 18 || code[0] == '0' {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	if p := code[len(code)-3 : len(code)-1]; p != "00" && p != "10" {
		return false
	}
	return verhoeff(code)
}

// The Verhoeff tables: multiplication in the dihedral group D5, the
// permutation applied by position, and nothing else is needed to check.
var (
	verhoeffD = [10][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
)

// verhoeff reports whether the digits of s, check digit last, pass the
// Verhoeff check.
func verhoeff(s string) bool {
	c := 0
	for i := 0; i < len(s); i++ {
		digit := int(s[len(s)-1-i] - '0')
		c = verhoeffD[c][verhoeffP[i%8][digit]]
	}
	return c == 0
}
