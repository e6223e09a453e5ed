package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

func TestSideFor(t *testing.T) {
	t.Parallel()
	for kb, want := range map[int]int{512: 512, 128: 256, 32: 128, 1: 23, 2048: 1024} {
		require.Equal(t, want, sideFor(kb), "%d KiB", kb)
	}
}

func TestMakeInstances(t *testing.T) {
	t.Parallel()
	root, err := benchenv.ModuleRoot(context.Background(), makeTarget)
	require.NoError(t, err)
	opts := options{n: 5, sizeKB: 32, perStudy: 2, warmup: 2, sourceFile: "internal/dicomfile/testdata/CT_small.dcm"}
	set, err := makeInstances(root, opts)
	require.NoError(t, err)
	require.Len(t, set.timed, 5)
	require.Len(t, set.warm, 2)
	require.Equal(t, 3, set.studies)
	require.Equal(t, "1CT1", set.patientID)

	sops := map[string]bool{}
	studyOf := map[int]string{}
	var total int64
	for _, in := range append(set.timed, set.warm...) {
		b, err := io.ReadAll(in.reader())
		require.NoError(t, err)
		require.EqualValues(t, in.size(), len(b))
		h, err := dicomfile.ReadHeader(bytes.NewReader(b), int64(len(b)))
		require.NoError(t, err, in.name)
		require.Equal(t, 128, h.Rows)
		require.False(t, sops[h.SOPInstanceUID], "every SOP Instance UID is new")
		sops[h.SOPInstanceUID] = true
		if uid, ok := studyOf[in.study]; ok {
			require.Equal(t, uid, h.StudyInstanceUID, "one study UID per study")
		}
		studyOf[in.study] = h.StudyInstanceUID
		if in.study < set.studies {
			total += in.size()
		}
	}
	require.Len(t, studyOf, 4, "3 studies and the warm-up's")
	require.Equal(t, total, set.bytes())
}

func TestInstanceReader(t *testing.T) {
	t.Parallel()
	in := instance{head: []byte("head-"), tail: []byte("and tail")}
	want := []byte("head-and tail")

	got, err := io.ReadAll(in.reader())
	require.NoError(t, err)
	require.Equal(t, want, got)

	for off := range len(want) + 1 {
		p := make([]byte, 4)
		n, err := in.reader().ReadAt(p, int64(off))
		end := min(off+4, len(want))
		require.Equal(t, want[off:end], p[:n], "offset %d", off)
		if end-off < 4 {
			require.ErrorIs(t, err, io.EOF)
		}

		r := in.reader()
		_, err = r.Seek(int64(off), io.SeekStart)
		require.NoError(t, err)
		var buf bytes.Buffer
		m, err := r.WriteTo(&buf)
		require.NoError(t, err)
		require.EqualValues(t, len(want)-off, m)
		require.Equal(t, string(want[off:]), buf.String())
		n2, err := r.Read(p)
		require.Zero(t, n2)
		require.ErrorIs(t, err, io.EOF, "WriteTo consumed the reader")
	}
}

// benchInstance returns one default-sized instance, for the benchmarks below
// that put a figure on the server's per-file CPU work (docs/benchmarks.md).
func benchInstance(b *testing.B) []byte {
	root, err := benchenv.ModuleRoot(context.Background(), makeTarget)
	require.NoError(b, err)
	set, err := makeInstances(root, options{n: 1, sizeKB: 512, perStudy: 1, sourceFile: "internal/dicomfile/testdata/CT_small.dcm"})
	require.NoError(b, err)
	data, err := io.ReadAll(set.timed[0].reader())
	require.NoError(b, err)
	return data
}

// BenchmarkReadHeader512 is the header parse of one instance, streamed.
func BenchmarkReadHeader512(b *testing.B) {
	data := benchInstance(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := dicomfile.ReadHeader(bytes.NewReader(data), -1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256_512 is the checksum of one instance.
func BenchmarkSHA256_512(b *testing.B) {
	data := benchInstance(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256.Sum256(data)
	}
}
