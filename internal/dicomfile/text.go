package dicomfile

import (
	"strings"
	"unicode"
)

// cleanText makes the header's text values, already decoded from the
// file's Specific Character Set by the parser, safe to store and show as
// they are: valid UTF-8 (bytes the character set does not allow become
// U+FFFD) without control characters (a NUL, an escape sequence left
// over, a line break in a one-line value), trimmed of DICOM's padding.
// Without it such a value reached PostgreSQL, which refuses NUL and
// invalid UTF-8, and the upload failed.
func (h *Header) cleanText() {
	for _, f := range []*string{&h.PatientName, &h.PatientID, &h.PatientBirthDate, &h.PatientSex,
		&h.StudyDate, &h.StudyTime, &h.StudyDescription, &h.StudyID, &h.AccessionNumber, &h.ReferringPhysicianName,
		&h.Modality, &h.BodyPartExamined, &h.SeriesDescription, &h.PhotometricInterpretation,
		&h.SOPClassUID, &h.SOPInstanceUID, &h.StudyInstanceUID, &h.SeriesInstanceUID, &h.TransferSyntaxUID,
		&h.SpecificCharacterSet} {
		*f = cleanValue(*f)
	}
}

// cleanValue is s as valid UTF-8 without control characters, trimmed.
func cleanValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
