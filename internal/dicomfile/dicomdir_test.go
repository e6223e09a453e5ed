package dicomfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadDICOMDIR(t *testing.T) {
	t.Parallel()
	t.Run("Pydicom", func(t *testing.T) {
		t.Parallel()
		f, err := os.Open(filepath.Join("testdata", "DICOMDIR"))
		require.NoError(t, err)
		defer f.Close()
		st, err := f.Stat()
		require.NoError(t, err)
		var ids []string
		require.NoError(t, ReadDICOMDIR(f, st.Size(), func(id []string) error {
			ids = append(ids, strings.Join(id, "/"))
			return nil
		}))
		require.Contains(t, ids, "77654033/CR1/6154")
		require.Len(t, ids, 31)
	})
	t.Run("Written", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		w := NewDICOMDIRWriter(&buf)
		for _, id := range [][]string{{"A", "IM1"}, {"B", "C", "IM_2"}} {
			require.NoError(t, w.Add(DirRecord{FileID: id, SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
				SOPInstanceUID: NewUID(), TransferSyntax: tsExplicitLE}))
		}
		require.NoError(t, w.Close())
		var ids []string
		require.NoError(t, ReadDICOMDIR(bytes.NewReader(buf.Bytes()), int64(buf.Len()), func(id []string) error {
			ids = append(ids, strings.Join(id, "/"))
			return nil
		}))
		require.Equal(t, []string{"A/IM1", "B/C/IM_2"}, ids)
	})
	t.Run("NotADICOMDIR", func(t *testing.T) {
		t.Parallel()
		b, err := os.ReadFile(filepath.Join("testdata", "CT_small.dcm"))
		require.NoError(t, err)
		err = ReadDICOMDIR(bytes.NewReader(b), int64(len(b)), func([]string) error { return nil })
		require.ErrorContains(t, err, "not a DICOMDIR")
	})
}
