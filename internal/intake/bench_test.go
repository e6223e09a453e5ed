package intake_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/intake"
)

// BenchmarkAddSmallDICOM ingests distinct CT-sized instances (about 40
// KB) into one case, one at a time, on the real PostgreSQL and MinIO: the
// per-file work of the upload path without HTTP. Profile it with
// `go test -run '^$' -bench AddSmallDICOM -cpuprofile cpu.out ./internal/intake/`.
func BenchmarkAddSmallDICOM(b *testing.B) {
	tb := setup(b)
	c := tb.newCase(b)
	var resampled bytes.Buffer
	if err := dicomfile.Resample(&resampled, bytes.NewReader(testdata(b, "CT_small.dcm")), 128, 128); err != nil {
		b.Fatal(err)
	}
	files := make([][]byte, b.N)
	for i := range files {
		var out bytes.Buffer
		if err := dicomfile.RewriteUIDs(&out, bytes.NewReader(resampled.Bytes()), "2.25.9000", "2.25.9001",
			fmt.Sprintf("2.25.%d", 10000+i)); err != nil {
			b.Fatal(err)
		}
		files[i] = out.Bytes()
	}
	ctx := context.Background()
	b.SetBytes(int64(len(files[0])))
	b.ResetTimer()
	for i := range b.N {
		res := tb.svc.Add(ctx, tb.staffA, c, intake.Input{Filename: "ct.dcm", Body: bytes.NewReader(files[i])})
		if !res.Accepted {
			b.Fatal(res.Reason)
		}
	}
}
