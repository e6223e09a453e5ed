package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// results is everything a run measured; -json prints it as is.
type results struct {
	Date           string       `json:"date"`
	Machine        machine      `json:"machine"`
	Studies        int          `json:"studies_option"`
	PhotoStudies   int          `json:"photo_studies_option"`
	Seeded         seedStats    `json:"seeded"`
	Concurrency    int          `json:"concurrency"`
	PerKind        int          `json:"searches_per_kind"`
	TargetMS       float64      `json:"target_p99_ms"`
	Seconds        float64      `json:"timed_seconds"`
	SearchesPerSec float64      `json:"searches_per_sec"`
	CPU            cpuUse       `json:"cpu"`
	Kinds          []kindResult `json:"kinds"`
}

// machine is where the figures were measured.
type machine struct {
	NumCPU        int    `json:"nproc"`
	GOMAXPROCS    int    `json:"gomaxprocs"`
	CPUModel      string `json:"cpu_model"`
	GoVersion     string `json:"go_version"`
	PostgreSQL    string `json:"postgresql"`
	SharedBuffers string `json:"shared_buffers"`
	WorkMem       string `json:"work_mem"`
}

// kindResult is one kind's figures.
type kindResult struct {
	Name        string  `json:"name"`
	Who         string  `json:"who"`
	Desc        string  `json:"desc"`
	Values      int     `json:"distinct_values"`
	MeanMatches float64 `json:"mean_matches"`
	Latency     latency `json:"latency"`
	Slow        bool    `json:"p99_at_or_over_target"`
}

// latency is a distribution in milliseconds.
type latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// summarize returns the distribution of ds (nearest-rank percentiles).
func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return latency{N: len(s), P50: ms(percentile(s, 50)), P95: ms(percentile(s, 95)), P99: ms(percentile(s, 99)), Max: ms(s[len(s)-1])}
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func writeJSON(w io.Writer, r *results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeTable(w io.Writer, r *results) {
	m := r.Machine
	fmt.Fprintf(w, "QIDO-RS over %d DICOM studies (%d series, %d instances) and %d photo studies in %d cases; %s\n",
		r.Seeded.Studies, r.Seeded.Series, r.Seeded.Instances, r.Seeded.PhotoStudies, r.Seeded.Cases, r.Date)
	fmt.Fprintf(w, "visible: site staff %d cases, referring physician %d, specialist %d; seeded in %.1fs, VACUUM ANALYZE %.1fs\n",
		r.Seeded.BigSiteStudies, r.Seeded.GPStudies, r.Seeded.SpecialistStuds, r.Seeded.SeedSeconds, r.Seeded.AnalyzeSeconds)
	fmt.Fprintf(w, "machine: nproc %d, GOMAXPROCS %d, %s; %s; %s (shared_buffers %s, work_mem %s)\n",
		m.NumCPU, m.GOMAXPROCS, m.CPUModel, m.GoVersion, m.PostgreSQL, m.SharedBuffers, m.WorkMem)
	fmt.Fprintf(w, "concurrency %d, %d timed searches per kind, shuffled together: %.1f searches/s over %.1fs\n",
		r.Concurrency, r.PerKind, r.SearchesPerSec, r.Seconds)
	c := r.CPU
	fmt.Fprintf(w, "CPU while timing: machine %.0f%% busy; client %.1fs, teleread %.1fs, postgres %.1fs, other %.1fs (load %.1f -> %.1f)\n\n",
		c.MachineBusyPct, c.ClientSec, c.ServerSec, c.PostgresSec, c.OtherSec, c.LoadBefore, c.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tas\tcount\tmatches\tp50 ms\tp95 ms\tp99 ms\tmax ms\t\t")
	slow := 0
	for _, k := range r.Kinds {
		mark := ""
		if k.Slow {
			mark = fmt.Sprintf("p99 >= %g ms", r.TargetMS)
			slow++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n", k.Name, k.Who, k.Latency.N, k.MeanMatches,
			k.Latency.P50, k.Latency.P95, k.Latency.P99, k.Latency.Max, mark)
	}
	tw.Flush()
	if slow == 0 {
		fmt.Fprintf(w, "\nevery kind's p99 is under %g ms\n", r.TargetMS)
	} else {
		fmt.Fprintf(w, "\n%d of %d kinds have a p99 at or over %g ms\n", slow, len(r.Kinds), r.TargetMS)
	}
}

// cpuModel reads the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
