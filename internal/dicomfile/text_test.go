package dicomfile

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestHeaderTextIsCleaned puts a NUL, a byte that is not valid in the
// default repertoire and a line break into a patient name and a study
// description: the header gives valid UTF-8 without control characters.
func TestHeaderTextIsCleaned(t *testing.T) {
	t.Parallel()
	data := readTestdata(t, "CT_small.dcm")
	name := []byte("CompressedSamples^CT1")
	i := bytes.Index(data, name)
	require.Positive(t, i)
	bad := append([]byte(nil), data...)
	copy(bad[i:], []byte("Comp\x00ess\xffdSam\nles^CT1"))
	h, err := ReadHeader(bytes.NewReader(bad), int64(len(bad)))
	require.NoError(t, err)
	require.True(t, utf8.ValidString(h.PatientName), "%q", h.PatientName)
	require.NotContains(t, h.PatientName, "\x00")
	require.NotContains(t, h.PatientName, "\n")
	require.True(t, strings.HasPrefix(h.PatientName, "Compess"), "%q", h.PatientName)
	require.True(t, strings.HasSuffix(h.PatientName, "les^CT1"), "%q", h.PatientName)

	for in, want := range map[string]string{
		"Doe^Jane  ":      "Doe^Jane",
		"a\x00b":          "ab",
		"\x1b$)C\xb1\xe8": "$)C\uFFFD", // a run of invalid bytes is one U+FFFD
		"Müller":          "Müller",
	} {
		require.Equal(t, want, cleanValue(in), "%q", in)
	}
}
