package intake

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomfile"
)

func TestNamesMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pn, name string
		want     bool
	}{
		{"Doe^John", "John Doe", true},
		{"DOE^JOHN^Q", "John Doe", true},
		{"Doe^John", "John Q. Doe", true},
		{"Müller^Jürgen", "Jurgen Muller", true},
		{"O'Brien^Siobhan", "Siobhan O'Brien", true},
		{"Smith-Jones^Ann", "Ann Smith Jones", true},
		{"Doe^John^^Dr^Jr", "John Doe", true},
		{"Doe^John=ドウ^ジョン", "John Doe", true},
		{"Doe^Jane", "John Doe", false},
		{"Smith^John", "John Doe", false},
		{"Doe", "John Doe", true},
	} {
		require.Equal(t, tc.want, namesMatch(tc.pn, tc.name), "%q vs %q", tc.pn, tc.name)
	}
}

func TestPatientMismatchFields(t *testing.T) {
	t.Parallel()
	c := cases.Case{PatientName: "John Doe", PatientMrn: "MRN-1", PatientBirthDate: time.Date(1970, 2, 3, 0, 0, 0, 0, time.UTC)}
	require.Empty(t, patientMismatch(&dicomfile.Header{PatientName: "DOE^JOHN", PatientID: "mrn-1", PatientBirthDate: "19700203"}, c))
	require.Empty(t, patientMismatch(&dicomfile.Header{}, c), "empty attributes are not compared")
	require.Equal(t, []string{"patient_id", "name", "birth_date"},
		patientMismatch(&dicomfile.Header{PatientName: "Roe^Richard", PatientID: "X", PatientBirthDate: "19700204"}, c))
}

func TestSniffKind(t *testing.T) {
	t.Parallel()
	preamble := append(make([]byte, 128), "DICM"...)
	for _, tc := range []struct {
		name string
		head []byte
		kind string
	}{
		{"Part10", preamble, KindDICOM},
		{"MetaWithoutPreamble", []byte{0x02, 0x00, 0x00, 0x00, 'U', 'L', 4, 0}, KindDICOM},
		{"ExplicitDataset", []byte{0x08, 0x00, 0x05, 0x00, 'C', 'S', 10, 0}, KindDICOM},
		{"ImplicitDataset", []byte{0x08, 0x00, 0x05, 0x00, 10, 0, 0, 0}, KindDICOM},
		{"JPEG", []byte{0xFF, 0xD8, 0xFF, 0xE0}, KindPhoto},
		{"PNG", []byte("\x89PNG\r\n\x1a\n...."), KindPhoto},
		{"PDF", []byte("%PDF-1.4"), ""},
		{"Text", []byte("hello world, not an image"), ""},
		{"Empty", nil, ""},
		{"ShortGarbage", []byte{0x08, 0x00}, ""},
	} {
		kind, _, reason := sniffKind(tc.head)
		require.Equal(t, tc.kind, kind, tc.name)
		if kind == "" {
			require.NotEmpty(t, reason, tc.name)
		}
	}
}
