package intake_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnstorableTextIsCleaned uploads a DICOM file whose patient name
// holds a NUL and a byte that is not valid UTF-8, which PostgreSQL refuses:
// the file is accepted, and the index holds the cleaned name.
func TestUnstorableTextIsCleaned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.newCase(t)
	data := testdata(t, "CT_small.dcm")
	i := bytes.Index(data, []byte("CompressedSamples^CT1"))
	require.Positive(t, i)
	copy(data[i:], []byte("Comp\x00ess\xffdSamples^CT1"))
	r := b.add(t, c, "ct.dcm", data)
	require.True(t, r.Accepted, r.Reason)
	var name string
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), "SELECT patient_name FROM dicom_studies").Scan(&name))
	require.True(t, strings.HasPrefix(name, "Compess") && strings.HasSuffix(name, "dSamples^CT1"), "%q", name)
	require.NotContains(t, name, "\x00")
}
