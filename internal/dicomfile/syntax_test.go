package dicomfile

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUndefinedTransferSyntax refuses a file whose transfer syntax no one
// defined (under the DICOM root, but not in PS3.6), with the reason, and
// lets a private one through.
func TestUndefinedTransferSyntax(t *testing.T) {
	t.Parallel()
	data := readTestdata(t, "CT_small.dcm")
	const explicitLE = "1.2.840.10008.1.2.1"
	i := bytes.Index(data, []byte(explicitLE))
	require.Positive(t, i)
	with := func(ts string) []byte {
		require.Len(t, ts, len(explicitLE))
		out := append([]byte(nil), data...)
		copy(out[i:], ts)
		return out
	}
	_, err := ReadHeader(bytes.NewReader(with("1.2.840.10008.1.2.9")), int64(len(data)))
	var inv *InvalidError
	require.True(t, errors.As(err, &inv), "%v", err)
	require.Contains(t, inv.Reason, "not one the DICOM standard defines")

	h, err := ReadHeader(bytes.NewReader(with("1.3.999.1234.5678.1")), int64(len(data)))
	require.NoError(t, err, "a private transfer syntax is stored")
	require.Equal(t, "1.3.999.1234.5678.1", h.TransferSyntaxUID)

	h, err = ReadHeader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, explicitLE, h.TransferSyntaxUID)
}
