package dicomfile

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBodySiteCode(t *testing.T) {
	t.Parallel()
	left := func(code, meaning string) BodySite {
		return BodySite{Code: code, Meaning: meaning, Laterality: "L", LateralityCode: "7771000", LateralityMeaning: "Left"}
	}
	right := func(code, meaning string) BodySite {
		return BodySite{Code: code, Meaning: meaning, Laterality: "R", LateralityCode: "24028007", LateralityMeaning: "Right"}
	}
	for _, tc := range []struct {
		text string
		want BodySite
	}{
		{"left forearm", left("14975008", "Forearm")},
		{"  Left   FOREARM ", left("14975008", "Forearm")},
		{"forearm, left", left("14975008", "Forearm")},
		{"Forearm (L)", left("14975008", "Forearm")},
		{"forearm left side", left("14975008", "Forearm")},
		{"the left forearm", left("14975008", "Forearm")},
		{"lt forearm", left("14975008", "Forearm")},
		{"right upper arm", right("40983000", "Upper arm")},
		{"Rt. shin", right("25763004", "Skin of anterior surface of lower leg")},
		{"thigh R", right("68367000", "Thigh")},
		{"right-hand", right("85562004", "Hand")},
		{"bilateral knee", BodySite{Code: "72696002", Meaning: "Knee", LateralityCode: "51440002", LateralityMeaning: "Bilateral"}},
		{"both feet", BodySite{Code: "56459004", Meaning: "Foot", LateralityCode: "51440002", LateralityMeaning: "Bilateral"}},
		{"scalp", BodySite{Code: "41695006", Meaning: "Scalp"}},
		{"Forehead", BodySite{Code: "68698007", Meaning: "Skin of forehead"}},
		{"chest", BodySite{Code: "816094009", Meaning: "Chest"}},
		{"thorax", BodySite{Code: "816094009", Meaning: "Chest"}},
		{"upper back", BodySite{Code: "699893008", Meaning: "Skin of back of upper thoracic region"}},
		{"lower back", BodySite{Code: "52612000", Meaning: "Lumbar region"}},
		{"back", BodySite{Code: "77568009", Meaning: "Back"}},
		{"left leg", left("61685007", "Lower limb")},
		{"big toe nail", BodySite{}},
		{"toenail", BodySite{Code: "770805009", Meaning: "Nail unit of toe"}},
		{"palm", BodySite{Code: "70887009", Meaning: "Skin of palm of hand"}},
		{"groin", BodySite{Code: "39687006", Meaning: "Skin of inguinal region"}},
		{"genitals", BodySite{Code: "60944009", Meaning: "Skin of external genitalia"}},
		{"left", BodySite{}},
		{"left right", BodySite{}},
		{"", BodySite{}},
		{"sole", BodySite{}}, // no SNOMED CT code in the context groups: left out
		{"left leftforearm", BodySite{}},
		{"moon", BodySite{}},
	} {
		got, ok := BodySiteCode(tc.text)
		require.Equal(t, tc.want.Code != "", ok, "%q", tc.text)
		require.Equal(t, tc.want, got, "%q", tc.text)
	}
}

// TestBodySiteVocabulary checks the vocabulary's shape: keys normalised as
// BodySiteCode looks them up, SNOMED CT identifiers well formed (with a
// valid Verhoeff check digit and a concept partition), each code with one
// meaning, and every site found by its own name.
func TestBodySiteVocabulary(t *testing.T) {
	t.Parallel()
	require.GreaterOrEqual(t, len(bodySites), 60)
	key := regexp.MustCompile(`^[a-z]+( [a-z]+)*$`)
	meanings := map[string]string{}
	for name, c := range bodySites {
		require.Regexp(t, key, name)
		require.NotContains(t, lateralityWords, name)
		require.True(t, validSCTID(c.code), "%s: %s is not a valid SNOMED CT concept id", name, c.code)
		if m, ok := meanings[c.code]; ok {
			require.Equal(t, m, c.meaning, "code %s", c.code)
		}
		meanings[c.code] = c.meaning
		got, ok := BodySiteCode(name)
		require.True(t, ok, name)
		require.Equal(t, c.code, got.Code)
		require.Empty(t, got.LateralityCode)
	}
	for c := range unpairedSites {
		require.Contains(t, meanings, c.code)
	}
	for _, c := range []string{lateralityLeft, lateralityRight, lateralityBoth} {
		require.True(t, validSCTID(c), c)
	}
}

// validSCTID reports whether id is a SNOMED CT concept identifier: 6 to 18
// digits, partition 00 or 10 (a concept), and a valid Verhoeff check digit.
func validSCTID(id string) bool {
	if len(id) < 6 || len(id) > 18 || id[0] == '0' {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	if p := id[len(id)-3 : len(id)-1]; p != "00" && p != "10" {
		return false
	}
	d := [10][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	p := [8][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
	c := 0
	for i := 0; i < len(id); i++ {
		c = d[c][p[i%8][id[len(id)-1-i]-'0']]
	}
	return c == 0
}
