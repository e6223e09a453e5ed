package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// results is the whole report; -json prints it as is.
type results struct {
	Machine  machine       `json:"machine"`
	Flow     *flowReport   `json:"flow,omitempty"`
	Worklist *scaleReport  `json:"worklist_at_scale,omitempty"`
	Options  optionsReport `json:"options"`
}

type optionsReport struct {
	N           int     `json:"n"`
	Concurrency int     `json:"concurrency"`
	Workers     int     `json:"server_river_workers"`
	Warmup      int     `json:"warmup"`
	PollMS      float64 `json:"poll_ms"`
	M           int     `json:"m"`
	Cases       int     `json:"cases"`
	SkipScale   bool    `json:"skip_scale"`
}

// machine is where the figures were measured.
type machine struct {
	CPUs          int    `json:"nproc"`
	CPUModel      string `json:"cpu_model"`
	MemoryGiB     string `json:"memory_gib"`
	GoVersion     string `json:"go_version"`
	PostgreSQL    string `json:"postgresql"`
	SharedBuffers string `json:"shared_buffers"`
}

// latency is a distribution in milliseconds.
type latency struct {
	N   int     `json:"n"`
	Min float64 `json:"min_ms"`
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
	pct := func(p float64) float64 {
		i := int(float64(len(s))*p+0.999999) - 1 // nearest rank: ceil(p*n)
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	return latency{N: len(s), Min: ms(s[0]), P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: ms(s[len(s)-1])}
}

// overPct returns the share of ds longer than limit, in percent.
func overPct(ds []time.Duration, limit time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	n := 0
	for _, d := range ds {
		if d > limit {
			n++
		}
	}
	return 100 * float64(n) / float64(len(ds))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// flowReport is phase 1.
type flowReport struct {
	Cases              int     `json:"cases"`
	Seconds            float64 `json:"seconds"`
	CasesPerSec        float64 `json:"cases_per_sec"`
	SubmitToWorklist   latency `json:"submit_to_worklist"`
	SignToWebhook      latency `json:"sign_to_webhook"`
	ServerSubmitRouted latency `json:"server_submitted_to_routed"`
	ServerSignDeliver  latency `json:"server_signed_to_webhook_delivered"`
	// RouteJobWait and WebhookJobWait are the jobs' waits in River's queue.
	RouteJobWait     latency `json:"route_job_queue_wait"`
	WebhookJobWait   latency `json:"webhook_job_queue_wait"`
	WorklistGetsMean float64 `json:"worklist_gets_per_case"`
	// SlowRoutedPct and SlowWebhookPct are the shares of cases whose
	// latency was over 250 ms.
	SlowRoutedPct      float64   `json:"submit_to_worklist_over_250ms_pct"`
	SlowWebhookPct     float64   `json:"sign_to_webhook_over_250ms_pct"`
	BadSignatures      int       `json:"receiver_refused"`
	RepeatedDeliveries int       `json:"receiver_repeats"`
	Load               phaseLoad `json:"load"`
	// RiverJobs counts the server's jobs by kind after the phase (warm-up
	// and periodic jobs included).
	RiverJobs map[string]int `json:"river_jobs"`
}

// phaseLoad is how loaded the machine was during a phase, in percent of
// all its CPUs: busy; busy with the shared services (MinIO and
// PostgreSQL's background processes, which this benchmark drives but
// another user of the services may too); busy with other processes than
// this benchmark, its server and their PostgreSQL backends.
type phaseLoad struct {
	MachineBusyPct float64 `json:"machine_busy_pct"`
	SharedBusyPct  float64 `json:"shared_services_pct"`
	OtherBusyPct   float64 `json:"other_processes_pct"`
}

// scaleReport is phase 2.
type scaleReport struct {
	Bulk     bulkStats       `json:"bulk"`
	Load     phaseLoad       `json:"load"`
	Variants []variantReport `json:"variants"`
	Counts   queryReport     `json:"counts_query"`
}

type variantReport struct {
	Name  string      `json:"name"`
	Items int         `json:"items"`
	Total int         `json:"total"`
	API   latency     `json:"api"`
	Page  queryReport `json:"page_query"`
}

// queryReport is one SQL statement: timings and plans.
type queryReport struct {
	SQL         latency `json:"sql"`
	Plan        string  `json:"plan"`
	GenericPlan string  `json:"generic_plan"`
	UsesIndex   bool    `json:"uses_cases_worklist_idx"`
	GenericUses bool    `json:"generic_uses_cases_worklist_idx"`
	SeqScan     bool    `json:"seq_scan_on_cases"`
	ExecMS      float64 `json:"explain_execution_ms"`
}

// inspect fills in what the plans show.
func (q *queryReport) inspect() {
	q.UsesIndex = strings.Contains(q.Plan, "cases_worklist_idx")
	q.GenericUses = strings.Contains(q.GenericPlan, "cases_worklist_idx")
	q.SeqScan = strings.Contains(q.Plan, "Seq Scan on cases") || strings.Contains(q.GenericPlan, "Seq Scan on cases")
	for line := range strings.Lines(q.Plan) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Execution Time: "); ok {
			q.ExecMS, _ = strconv.ParseFloat(strings.TrimSuffix(v, " ms"), 64)
		}
	}
}

// describeMachine reads the CPU, memory and versions.
func describeMachine(ctx context.Context, e *benchEnv) machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = fmt.Sprintf("%.1f", kb/(1<<20))
			}
		}
	}
	_ = e.pool.QueryRow(ctx, "SELECT version()").Scan(&m.PostgreSQL)
	if i := strings.Index(m.PostgreSQL, " on "); i > 0 {
		m.PostgreSQL = m.PostgreSQL[:i]
	}
	_ = e.pool.QueryRow(ctx, "SHOW shared_buffers").Scan(&m.SharedBuffers)
	return m
}

func writeJSON(w io.Writer, r *results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeTable(w io.Writer, r *results) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s GiB; %s; %s (shared_buffers %s)\n\n",
		m.CPUs, m.CPUModel, m.MemoryGiB, m.GoVersion, m.PostgreSQL, m.SharedBuffers)
	row := func(tw io.Writer, name string, l latency) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, l.N, l.Min, l.P50, l.P95, l.P99, l.Max)
	}
	if f := r.Flow; f != nil {
		fmt.Fprintf(w, "Phase 1: %d cases, %d at a time, %.1f s (%.1f cases/s); poll every %.0f ms; %d untimed warm-up cases; server with %d River workers\n",
			f.Cases, r.Options.Concurrency, f.Seconds, f.CasesPerSec, r.Options.PollMS, r.Options.Warmup, r.Options.Workers)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "latency\tn\tmin ms\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
		row(tw, "submit answer -> on the specialist's worklist", f.SubmitToWorklist)
		row(tw, "sign answer -> webhook received (HMAC verified)", f.SignToWebhook)
		row(tw, "server: submitted_at -> routed_at", f.ServerSubmitRouted)
		row(tw, "server: signed -> webhook delivered_at", f.ServerSignDeliver)
		row(tw, "server: route job waiting in River's queue", f.RouteJobWait)
		row(tw, "server: webhook job waiting in River's queue", f.WebhookJobWait)
		tw.Flush()
		fmt.Fprintf(w, "over 250 ms: %.1f%% of cases to the worklist, %.1f%% of webhooks; worklist pages fetched per case: %.2f; receiver refused %d deliveries, saw %d repeats\n",
			f.SlowRoutedPct, f.SlowWebhookPct, f.WorklistGetsMean, f.BadSignatures, f.RepeatedDeliveries)
		var kinds []string
		for k, n := range f.RiverJobs {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		slices.Sort(kinds)
		fmt.Fprintf(w, "River jobs: %s\n", strings.Join(kinds, ", "))
		writeLoad(w, f.Load)
		fmt.Fprintln(w)
	}
	s := r.Worklist
	if s == nil {
		return
	}
	b := s.Bulk
	fmt.Fprintf(w, "Phase 2: %d bulk cases in %.1f s, %d studies with a series each in %.1f s, VACUUM ANALYZE %.1f s; cases table %.0f MB, cases_worklist_idx %.2f MB\n",
		b.Cases, b.InsertSeconds, b.Studies, b.StudiesSeconds, b.VacuumSeconds, b.TableMB, b.WorklistIdxMB)
	fmt.Fprintf(w, "open cases: %d over %d reading groups; the timed group has %d (%d overdue, %d stat); %d calls per variant\n",
		b.OpenCases, groupCount, b.GroupOpenCases, b.GroupOverdue, b.GroupStat, r.Options.M)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "GET /api/v1/worklist\titems\tAPI p50 ms\tAPI p95 ms\tAPI p99 ms\tAPI max ms\tpage SQL p50 ms\tpage SQL p99 ms\tcases_worklist_idx (custom/generic)\t")
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	for _, v := range s.Variants {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%s/%s\t\n", v.Name, v.Items, v.API.P50, v.API.P95, v.API.P99, v.API.Max,
			v.Page.SQL.P50, v.Page.SQL.P99, yes(v.Page.UsesIndex), yes(v.Page.GenericUses))
	}
	fmt.Fprintf(tw, "counts query (every page)\t-\t-\t-\t-\t-\t%.2f\t%.2f\t%s/%s\t\n", s.Counts.SQL.P50, s.Counts.SQL.P99,
		yes(s.Counts.UsesIndex), yes(s.Counts.GenericUses))
	tw.Flush()
	writeLoad(w, s.Load)
	for _, v := range s.Variants {
		if v.Page.SeqScan {
			fmt.Fprintf(w, "WARNING: %s: a plan scans the whole cases table\n", v.Name)
		}
	}
	for _, v := range s.Variants {
		fmt.Fprintf(w, "\nEXPLAIN (ANALYZE, BUFFERS), %s:\n%s\n", v.Name, v.Page.Plan)
		if v.Page.GenericUses != v.Page.UsesIndex {
			fmt.Fprintf(w, "generic plan:\n%s\n", v.Page.GenericPlan)
		}
	}
	fmt.Fprintf(w, "\nEXPLAIN (ANALYZE, BUFFERS), counts query:\n%s\n", s.Counts.Plan)
}

// writeLoad prints the phase's load, with a warning when other work took
// a noticeable share of the machine.
func writeLoad(w io.Writer, l phaseLoad) {
	fmt.Fprintf(w, "machine during the phase: %.0f%% of all CPUs busy: %.0f%% MinIO and PostgreSQL background, %.0f%% other processes\n",
		l.MachineBusyPct, l.SharedBusyPct, l.OtherBusyPct)
	if l.OtherBusyPct > 10 {
		fmt.Fprintln(w, "WARNING: other processes kept the machine busy; they lengthen these latencies")
	}
}
