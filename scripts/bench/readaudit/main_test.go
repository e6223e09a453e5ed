package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()
	o, err := parseOptions(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 500, o.n)
	require.Equal(t, []string{"old", "new", "upsert"}, o.paths)
	require.True(t, o.blob)

	o, err = parseOptions([]string{"-paths", "new, old,new", "-blob=false", "-n", "20"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"new", "old"}, o.paths)
	require.False(t, o.blob)
	require.Equal(t, 20, o.n)

	_, err = parseOptions([]string{"-paths", "fast"}, io.Discard)
	require.ErrorContains(t, err, "unknown path")
	_, err = parseOptions([]string{"-n", "0"}, io.Discard)
	require.Error(t, err)
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	r := result{elapsed: time.Second}
	for i := 1; i <= 100; i++ {
		r.samples = append(r.samples, sample{total: time.Duration(i) * time.Millisecond, audit: time.Duration(i) * time.Microsecond})
	}
	f := summarize([]result{r, r})
	require.Equal(t, 200, f.reads)
	require.InDelta(t, 100, f.perSecond, 0.001)
	require.Equal(t, 50*time.Millisecond, f.p50)
	require.Equal(t, 99*time.Millisecond, f.p99)
	require.Equal(t, 100*time.Microsecond, f.auditMx)
	require.Zero(t, percentile(nil, 50))
}
