package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// job is one search to send: the kind (index into the run's kinds) and
// which of its searches.
type job struct{ kind, search int }

// kindRun is one kind's searches and measured latencies.
type kindRun struct {
	kind     *kind
	searches []search
	lat      []time.Duration
	matches  int // summed over the timed searches
}

// measure draws every kind's searches (and their expected answers), warms
// up, then runs the timed searches of all kinds, shuffled together, at
// concurrency opts.c.
func measure(ctx context.Context, e *benchEnv, opts options) (*results, error) {
	rng := rand.New(rand.NewPCG(uint64(opts.seed), 1))
	var runs []*kindRun
	for _, name := range opts.kinds {
		k := kindByName(name)
		ss, err := k.values(ctx, e, rng, opts.pool)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		runs = append(runs, &kindRun{kind: k, searches: ss})
	}
	e.Logf("drew %d kinds of searches (up to %d values each) and their answers by SQL", len(runs), opts.pool)

	jobs := func(per int) []job {
		var out []job
		for ki, r := range runs {
			for i := range per {
				out = append(out, job{ki, i % len(r.searches)})
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	if opts.warmup > 0 {
		e.Logf("warm-up: %d searches per kind at concurrency %d", opts.warmup, opts.c)
		if _, err := e.runJobs(ctx, runs, jobs(opts.warmup), opts.c, false); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	timed := jobs(opts.n)
	e.Logf("timing %d searches (%d per kind) at concurrency %d", len(timed), opts.n, opts.c)
	cpu0 := sampleCPU(e.ServerPID(), e.DBName)
	elapsed, err := e.runJobs(ctx, runs, timed, opts.c, true)
	if err != nil {
		return nil, err
	}
	cpu := sampleCPU(e.ServerPID(), e.DBName).since(cpu0)
	res := &results{
		Studies: opts.studies, PhotoStudies: opts.photos, Concurrency: opts.c, PerKind: opts.n,
		TargetMS: opts.targetMS, Seconds: elapsed.Seconds(), SearchesPerSec: float64(len(timed)) / elapsed.Seconds(),
		Seeded: e.seeded, Machine: e.machine(ctx), Date: time.Now().UTC().Format(time.RFC3339), CPU: cpu,
	}
	for _, r := range runs {
		kr := kindResult{Name: r.kind.name, Who: r.kind.who, Desc: r.kind.desc, Values: len(r.searches),
			Latency: summarize(r.lat)}
		if len(r.lat) > 0 {
			kr.MeanMatches = float64(r.matches) / float64(len(r.lat))
		}
		kr.Slow = kr.Latency.P99 >= opts.targetMS
		res.Kinds = append(res.Kinds, kr)
	}
	return res, nil
}

// runJobs sends jobs with c workers and checks every answer; with record
// it keeps each search's latency. It stops at the first error.
func (e *benchEnv) runJobs(ctx context.Context, runs []*kindRun, jobs []job, c int, record bool) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type sample struct {
		job     job
		d       time.Duration
		matches int
	}
	samples := make([]sample, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(c, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				j := jobs[i]
				r := runs[j.kind]
				d, n, err := e.send(ctx, e.principal(r.kind.who), r.searches[j.search])
				if err != nil {
					cancel(fmt.Errorf("%s: %w", r.kind.name, err))
					return
				}
				samples[i] = sample{j, d, n}
			}
		})
	}
feed:
	for i := range jobs {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return elapsed, err
	}
	if record {
		for _, s := range samples {
			r := runs[s.job.kind]
			r.lat = append(r.lat, s.d)
			r.matches += s.matches
		}
	}
	return elapsed, nil
}

// send makes one search as p and checks its answer; it returns the time
// from sending the request to having read the whole answer.
func (e *benchEnv) send(ctx context.Context, p principal, s search) (time.Duration, int, error) {
	u := e.BaseURL + "/dicomweb" + s.path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept", "application/dicom+json")
	req.Header.Set("Authorization", "Bearer "+p.token)
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w", s.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: read answer: %w", s.path, err)
	}
	var got []string
	switch resp.StatusCode {
	case http.StatusOK:
		if got, err = answerUIDs(body, s.tag); err != nil {
			return 0, 0, fmt.Errorf("GET %s: %w", s.path, err)
		}
	case http.StatusNoContent: // no match (PS3.18 allows 204 as well as [])
	default:
		return 0, 0, fmt.Errorf("GET %s: %s: %.300s", s.path, resp.Status, bytes.TrimSpace(body))
	}
	if !slices.Equal(got, s.want) {
		return 0, 0, fmt.Errorf("GET %s: answered %d UIDs %s, SQL says %d: %s", s.path, len(got), abbrev(got), len(s.want), abbrev(s.want))
	}
	return d, len(got), nil
}

func abbrev(uids []string) string {
	if len(uids) > 4 {
		return "[" + strings.Join(uids[:4], " ") + " …]"
	}
	return "[" + strings.Join(uids, " ") + "]"
}

// machine describes where the figures were measured.
func (e *benchEnv) machine(ctx context.Context) machine {
	m := machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	_ = e.pool.QueryRow(ctx, "SELECT version(), current_setting('shared_buffers'), current_setting('work_mem')").Scan(
		&m.PostgreSQL, &m.SharedBuffers, &m.WorkMem)
	m.CPUModel = cpuModel()
	return m
}
