package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	o, err := parseOptions(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 100_000, o.studies)
	require.Equal(t, 5000, o.photos)
	require.Equal(t, 2000, o.n)
	require.Equal(t, 8, o.c)
	require.Len(t, o.kinds, len(kinds))

	o, err = parseOptions([]string{"-studies", "300", "-photo-studies", "0", "-kinds", "patient_id, all_page,patient_id"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 0, o.photos)
	require.Equal(t, []string{"patient_id", "all_page"}, o.kinds)

	for _, args := range [][]string{{"-kinds", "fast"}, {"-n", "0"}, {"-c", "0"}, {"-studies", "10"}, {"extra"}} {
		_, err := parseOptions(args, io.Discard)
		require.Error(t, err, args)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarize(ds)
	require.Equal(t, latency{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}, l)
	require.Zero(t, summarize(nil))
}

func TestAnswerUIDs(t *testing.T) {
	t.Parallel()
	body := []byte(`[{"0020000D":{"vr":"UI","Value":["1.2.3"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"DOE^JOHN"}]},
		"00201206":{"vr":"IS","Value":[2]}},{"0020000D":{"vr":"UI","Value":["1.2.4"]}}]`)
	got, err := answerUIDs(body, tagStudyUID)
	require.NoError(t, err)
	require.Equal(t, []string{"1.2.3", "1.2.4"}, got)
	_, err = answerUIDs(body, tagSeriesUID)
	require.ErrorContains(t, err, "0 values")
	_, err = answerUIDs([]byte(`{}`), tagStudyUID)
	require.Error(t, err)
	require.Equal(t, "DO_E%", likeOf("DO?E*"))
}

// TestSmallRun runs the whole benchmark at a tiny size against the real
// services (as `make test` provides them): every search's answer must be
// the one SQL gives; the timings are printed, not checked.
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds teleread and needs PostgreSQL and MinIO")
	}
	if os.Getenv("TELEREAD_DATABASE_URL") == "" {
		msg := "TELEREAD_DATABASE_URL not set: run `make test`, or eval \"$(scripts/services.sh env)\" first"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg) // under CI a missing service fails
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-studies", "300", "-n", "10", "-warmup", "1", "-values", "5", "-c", "4"}, os.Getenv, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	out := stdout.String()
	t.Log(out)
	// The 300 seeded here, and the example cases of `seed --demo`.
	m := regexp.MustCompile(`QIDO-RS over (\d+) DICOM studies`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	studies, _ := strconv.Atoi(m[1])
	require.GreaterOrEqual(t, studies, 300)
	require.Less(t, studies, 320)
	require.Contains(t, out, "nproc")
	for _, k := range kinds {
		require.Contains(t, out, " "+k.name+" ", "kind %s missing", k.name)
	}
	require.Equal(t, len(kinds), strings.Count(out, "  10  "), "every kind ran 10 timed searches:\n%s", out)
}
