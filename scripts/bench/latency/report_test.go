package main

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := summarize(ds)
	require.Equal(t, latency{N: 100, Min: 1, P50: 50, P95: 95, P99: 99, Max: 100}, got)
	require.Equal(t, time.Duration(100)*time.Millisecond, ds[0], "the input is not reordered")

	require.Equal(t, latency{N: 1, Min: 7, P50: 7, P95: 7, P99: 7, Max: 7}, summarize([]time.Duration{7 * time.Millisecond}))
	require.Equal(t, latency{}, summarize(nil))
}

func TestInspect(t *testing.T) {
	t.Parallel()
	q := queryReport{
		Plan:        "Limit\n  ->  Index Scan using cases_worklist_idx on cases c\nPlanning Time: 0.2 ms\nExecution Time: 1.25 ms",
		GenericPlan: "Limit\n  ->  Seq Scan on cases c\nExecution Time: 90 ms",
	}
	q.inspect()
	require.True(t, q.UsesIndex)
	require.False(t, q.GenericUses)
	require.True(t, q.SeqScan)
	require.InDelta(t, 1.25, q.ExecMS, 1e-9)
}

func TestLoadSince(t *testing.T) {
	t.Parallel()
	from := cpuSample{ok: true, busy: 100, total: 1000, shared: 0, other: 10}
	to := cpuSample{ok: true, busy: 400, total: 1400, shared: 20, other: 50}
	require.Equal(t, phaseLoad{MachineBusyPct: 75, SharedBusyPct: 5, OtherBusyPct: 10}, loadSince(from, to))
	require.Equal(t, phaseLoad{MachineBusyPct: -1, SharedBusyPct: -1, OtherBusyPct: -1}, loadSince(cpuSample{}, to))
	if runtime.GOOS == "linux" {
		require.True(t, sampleCPU(0, "").ok)
	}
}

func TestProcessKind(t *testing.T) {
	t.Parallel()
	for cmd, want := range map[string]string{
		"postgres: teleread teleread_bench_latency_ab 127.0.0.1(4242) idle": "mine",
		"postgres: autovacuum worker teleread_bench_latency_ab":             "mine",
		"postgres: teleread teleread_bench_cd 127.0.0.1(4243) idle":         "other",
		"postgres: walwriter ":                                   "shared",
		"/usr/lib/postgresql/15/bin/postgres\x00-D\x00/data":     "shared",
		"/tools/minio\x00server\x00--address\x00127.0.0.1:59000": "shared",
		"/tmp/teleread-bench-1/teleread\x00serve":                "other",
	} {
		require.Equal(t, want, processKind([]byte(cmd), "teleread_bench_latency_ab"), cmd)
	}
}
