package dicomfile

import (
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// compareGolden compares got with testdata/golden/name, or rewrites the file
// when the -update flag is set.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test -update")
	require.Equal(t, string(want), string(got), "golden file %s differs; run go test -update if the change is intended", path)
}

// readTestdata returns the bytes of a file under testdata.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// builder writes small DICOM files for tests.
type builder struct {
	enc encoding
	buf bytes.Buffer
}

// newPart10 starts a Part 10 file in transfer syntax ts (whose dataset
// encoding is enc) with a valid file meta group.
func newPart10(ts string, enc encoding) *builder {
	b := &builder{enc: enc}
	b.buf.Write(make([]byte, 128))
	b.buf.WriteString("DICM")
	b.buf.Write(encodeMeta([]metaElement{
		{tag: 0x00020001, vr: "OB", value: []byte{0, 1}},
		{tag: 0x00020002, vr: "UI", value: padUID("1.2.840.10008.5.1.4.1.1.7")},
		{tag: tagMediaSOPInst, vr: "UI", value: padUID("1.2.3.4")},
		{tag: tagTransferSyn, vr: "UI", value: padUID(ts)},
	}, "1.2.3.4"))
	return b
}

// newDataset starts a bare dataset without preamble or meta.
func newDataset(enc encoding) *builder { return &builder{enc: enc} }

// withUIDs adds the SOP, study and series UIDs the header needs.
func (b *builder) withUIDs() *builder {
	return b.str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7").
		str(tagSOPInstanceUID, "UI", "1.2.3.4").
		str(tagStudyUID, "UI", "1.2.3").
		str(tagSeriesUID, "UI", "1.2.3.1")
}

func (b *builder) elem(t dtag, vr string, v []byte) *builder {
	b.buf.Write(encodeElement(b.enc, t, vr, v))
	return b
}

// str adds a string value padded to an even length.
func (b *builder) str(t dtag, vr, s string) *builder {
	v := []byte(s)
	if len(v)%2 == 1 {
		pad := byte(' ')
		if vr == "UI" {
			pad = 0
		}
		v = append(v, pad)
	}
	return b.elem(t, vr, v)
}

func (b *builder) us(t dtag, v uint16) *builder {
	var w [2]byte
	b.enc.bo.PutUint16(w[:], v)
	return b.elem(t, "US", w[:])
}

// header adds an element header with an arbitrary declared length.
func (b *builder) header(t dtag, vr string, length uint32) *builder {
	h := encodeElement(b.enc, t, vr, nil)
	switch {
	case !b.enc.explicit || t.group() == 0xFFFE:
		b.enc.bo.PutUint32(h[4:], length)
	case longVR(vr):
		b.enc.bo.PutUint32(h[8:], length)
	default:
		b.enc.bo.PutUint16(h[6:], uint16(length))
	}
	b.buf.Write(h)
	return b
}

func (b *builder) raw(p []byte) *builder {
	b.buf.Write(p)
	return b
}

// image adds an image pixel module and native pixel data.
func (b *builder) image(photometric string, rows, cols, spp, bits int, pixels []byte) *builder {
	b.us(tagSamplesPerPixel, uint16(spp)).
		str(tagPhotometric, "CS", photometric).
		us(tagRows, uint16(rows)).
		us(tagColumns, uint16(cols)).
		us(tagBitsAllocated, uint16(bits)).
		us(tagBitsStored, uint16(bits)).
		us(tagHighBit, uint16(bits-1)).
		us(tagPixelRep, 0)
	vr := "OW"
	if bits == 8 {
		vr = "OB"
	}
	return b.elem(tagPixelData, vr, pixels)
}

func (b *builder) bytes() []byte { return bytes.Clone(b.buf.Bytes()) }

// le16 encodes words as little-endian bytes.
func le16(words ...uint16) []byte {
	out := make([]byte, 0, 2*len(words))
	for _, w := range words {
		out = binary.LittleEndian.AppendUint16(out, w)
	}
	return out
}

// readFileForBench returns the bytes of a file under testdata.
func readFileForBench(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}
