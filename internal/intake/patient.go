package intake

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomfile"
)

// patientMismatch compares the patient of a DICOM header with the case's
// and returns the fields that differ: "patient_id" (Patient ID vs the case
// MRN), "name" (Patient Name, compared loosely) and "birth_date". A field
// the file leaves empty is not compared.
func patientMismatch(h *dicomfile.Header, c cases.Case) []string {
	var fields []string
	if id := strings.TrimSpace(h.PatientID); id != "" && !strings.EqualFold(id, strings.TrimSpace(c.PatientMrn)) {
		fields = append(fields, "patient_id")
	}
	if h.PatientName != "" && !namesMatch(h.PatientName, c.PatientName) {
		fields = append(fields, "name")
	}
	if h.PatientBirthDate != "" {
		da := strings.ReplaceAll(strings.TrimSpace(h.PatientBirthDate), ".", "")
		if da != c.PatientBirthDate.Format("20060102") {
			fields = append(fields, "birth_date")
		}
	}
	return fields
}

// namesMatch compares a DICOM PN ("Family^Given^Middle^Prefix^Suffix",
// alphabetic group first) with a name written "Given Family": case,
// accents, punctuation, order and initials do not matter; the name parts
// of the shorter must all be in the longer.
func namesMatch(pn, name string) bool {
	alphabetic, _, _ := strings.Cut(pn, "=")
	comps := strings.Split(alphabetic, "^")
	if len(comps) > 3 {
		comps = comps[:3] // prefix and suffix (Dr, Jr) are not compared
	}
	a := nameTokens(strings.Join(comps, " "))
	b := nameTokens(name)
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	for t := range a {
		if !b[t] {
			return false
		}
	}
	return true
}

// nameTokens splits a name into lower-case words without accents, dropping
// initials.
func nameTokens(s string) map[string]bool {
	var sb strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			sb.WriteRune(unicode.ToLower(r))
		default:
			sb.WriteRune(' ')
		}
	}
	out := map[string]bool{}
	for _, w := range strings.Fields(sb.String()) {
		if len([]rune(w)) > 1 {
			out[w] = true
		}
	}
	return out
}
