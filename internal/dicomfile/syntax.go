package dicomfile

import "strings"

// dicomRoot is the root of the UIDs the DICOM standard defines.
const dicomRoot = "1.2.840.10008."

// definedSyntaxes are the transfer syntaxes of PS3.6 Table A-1 (retired
// ones included: old devices still write them). A transfer syntax under
// the DICOM root that is not here was defined by no one.
var definedSyntaxes = map[string]bool{
	"1.2.840.10008.1.2": true, "1.2.840.10008.1.2.1": true, "1.2.840.10008.1.2.1.98": true,
	"1.2.840.10008.1.2.1.99": true, "1.2.840.10008.1.2.2": true,
	"1.2.840.10008.1.2.5": true, "1.2.840.10008.1.2.6.1": true, "1.2.840.10008.1.2.6.2": true,
	"1.2.840.10008.1.2.7.1": true, "1.2.840.10008.1.2.7.2": true, "1.2.840.10008.1.2.7.3": true,
	"1.2.840.10008.1.2.8.1": true,
}

func init() {
	// JPEG (50–66, 70), JPEG-LS (80, 81), JPEG 2000 (90–93), JPIP (94,
	// 95), MPEG-2/MPEG-4/HEVC (100–108, with their .1 variants), JPEG XL
	// (110–112), HTJ2K (201–204).
	for _, n := range []string{"50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63",
		"64", "65", "66", "70", "80", "81", "90", "91", "92", "93", "94", "95", "100", "100.1", "101", "101.1",
		"102", "102.1", "103", "103.1", "104", "104.1", "105", "105.1", "106", "106.1", "107", "108", "110", "111",
		"112", "201", "202", "203", "204"} {
		definedSyntaxes["1.2.840.10008.1.2.4."+n] = true
	}
}

// checkSyntax refuses a transfer syntax that no one defined: not a UID,
// or under the DICOM root but not in the standard. A private one (another
// root) is let through: the file is stored, and what cannot be decoded
// says so when it is rendered.
func checkSyntax(ts string) error {
	switch {
	case ts == "":
		return invalidf("missing Transfer Syntax UID")
	case !validUID(ts):
		return invalidf("invalid Transfer Syntax UID %q", ts)
	case strings.HasPrefix(ts, dicomRoot) && !definedSyntaxes[ts]:
		return invalidf("transfer syntax %s is not one the DICOM standard defines (PS3.6 Table A-1)", ts)
	}
	return nil
}
