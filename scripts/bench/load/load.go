package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// kindNames are the kinds of request, in the order they are printed.
var kindNames = []string{"worklist", "inbox", "upload", "qido"}

func isKind(k string) bool { return slices.Contains(kindNames, k) }

// loadEnv is the benchmark's environment: the server and the callers.
type loadEnv struct {
	*benchenv.Env
	staff, gp, rad benchenv.DemoUser
	gpID           string
	drafts         []string // one draft case per client, for its uploads
	client         *http.Client
}

// setUp builds and starts the server on a fresh database and bucket, and
// seeds what the reads return.
func (e *loadEnv) setUp(ctx context.Context, opts options) error {
	e.ExtraEnv = append(e.ExtraEnv,
		"TELEREAD_SEARCH_RATE_PER_MINUTE=0",
		fmt.Sprintf("TELEREAD_UPLOADS_PER_ORG=%d", max(opts.c, 32)),
		fmt.Sprintf("TELEREAD_WORKER_CONCURRENCY=%d", opts.workerThreads))
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConns: 4 * opts.c, MaxIdleConnsPerHost: 4 * opts.c,
		IdleConnTimeout: time.Minute}, Timeout: 60 * time.Second}
	e.Client = e.client
	if err := e.Connect(ctx); err != nil {
		return err
	}
	if err := e.Build(ctx, "teleread-load-bench-"); err != nil {
		return err
	}
	suffix := benchenv.RandomHex(6)
	if err := e.CreateDatabase(ctx, "teleread_bench_load_"+suffix, "bench-load-"+suffix); err != nil {
		return err
	}
	users, err := e.Seed(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		switch {
		case u.Role == "site_staff":
			e.staff = u
		case u.Role == "referring_physician":
			e.gp, e.gpID = u, u.UserID
		case u.Role == "specialist" && u.Org == "demo-rad":
			e.rad = u
		}
	}
	if e.staff.Token == "" || e.gp.Token == "" || e.rad.Token == "" {
		return fmt.Errorf("seed --demo printed no site staff, referring physician or radiologist")
	}
	if err := e.StartServer(ctx, "with workers"); err != nil {
		return err
	}
	e.Logf("seeding %d routed radiology cases", opts.cases)
	for range opts.cases {
		id, err := e.newCase(ctx)
		if err != nil {
			return err
		}
		if err := e.upload(ctx, id, instance(4096)); err != nil {
			return err
		}
		if err := e.API(ctx, e.staff.Token, http.MethodPost, "/cases/"+id+"/submit", nil, http.StatusOK, nil); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := e.API(ctx, e.rad.Token, http.MethodGet, "/worklist?limit=100", nil, http.StatusOK, &page); err != nil {
			return err
		}
		if len(page.Items) >= opts.cases {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d cases routed to the worklist within 2 minutes", len(page.Items), opts.cases)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for range opts.c {
		id, err := e.newCase(ctx)
		if err != nil {
			return err
		}
		e.drafts = append(e.drafts, id)
	}
	return nil
}

// newCase creates a radiology case of the demo site and returns its id.
func (e *loadEnv) newCase(ctx context.Context) (string, error) {
	var c struct {
		ID string `json:"id"`
	}
	err := e.API(ctx, e.staff.Token, http.MethodPost, "/cases", map[string]any{
		"referring_physician_id": e.gpID, "specialty": "radiology", "priority": "routine",
		"patient":           map[string]string{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
		"clinical_question": "Load benchmark case.",
	}, http.StatusCreated, &c)
	return c.ID, err
}

// instance is a DICOM instance of its own study with pixels random bytes.
func instance(pixels int) []byte {
	rows := max(pixels/256, 1)
	out := testenv.DICOMHeader(dicomfile.NewUID(), rows, 256, 1, uint32(rows*256))
	px := make([]byte, rows*256)
	_, _ = rand.Read(px)
	return append(out, px...)
}

// upload sends one DICOM instance to a case.
func (e *loadEnv) upload(ctx context.Context, caseID string, data []byte) error {
	u := e.BaseURL + "/api/v1/cases/" + caseID + "/files?" + url.Values{"filename": {"instance.dcm"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/dicom")
	var ans struct {
		Accepted int `json:"accepted"`
	}
	if err := e.Send(req, e.staff.Token, http.StatusCreated, &ans); err != nil {
		return err
	}
	if ans.Accepted != 1 {
		return fmt.Errorf("upload to case %s: %d files accepted, want 1", caseID, ans.Accepted)
	}
	return nil
}

// do sends one request of kind as client i and checks its answer.
func (e *loadEnv) do(ctx context.Context, kind string, i int, opts options) error {
	switch kind {
	case "worklist":
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := e.API(ctx, e.rad.Token, http.MethodGet, "/worklist?limit=50", nil, http.StatusOK, &page); err != nil {
			return err
		}
		if len(page.Items) == 0 {
			return fmt.Errorf("worklist: empty")
		}
	case "inbox":
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := e.API(ctx, e.gp.Token, http.MethodGet, "/inbox", nil, http.StatusOK, &page); err != nil {
			return err
		}
	case "upload":
		return e.upload(ctx, e.drafts[i], instance(opts.uploadBytes))
	case "qido":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+"/dicomweb/studies?PatientID=77654033&limit=20", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/dicom+json")
		var studies []json.RawMessage
		if err := e.Send(req, e.staff.Token, http.StatusOK, &studies); err != nil {
			return err
		}
		if len(studies) == 0 {
			return fmt.Errorf("qido: no studies")
		}
	}
	return nil
}

// results are the latencies and errors of one run, per kind.
type results struct {
	elapsed   time.Duration
	latencies map[string][]time.Duration
	errs      map[string]int
	first     string
	cpuBusy   float64 // fraction of the machine's CPU busy during the run
	cpuOK     bool
}

// drive runs opts.c closed-loop clients for d.
func (e *loadEnv) drive(ctx context.Context, opts options, d time.Duration) (*results, error) {
	var weights []string
	for _, k := range kindNames {
		for range opts.mix[k] {
			weights = append(weights, k)
		}
	}
	res := &results{latencies: map[string][]time.Duration{}, errs: map[string]int{}}
	var mu sync.Mutex
	busy0, total0, ok0 := benchenv.MachineCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range opts.c {
		seed, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		rng := mrand.New(mrand.NewPCG(seed.Uint64(), uint64(i)))
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				kind := weights[rng.IntN(len(weights))]
				t0 := time.Now()
				err := e.do(ctx, kind, i, opts)
				lat := time.Since(t0)
				mu.Lock()
				if err != nil {
					res.errs[kind]++
					if res.first == "" {
						res.first = kind + ": " + err.Error()
					}
				} else {
					res.latencies[kind] = append(res.latencies[kind], lat)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if busy1, total1, ok1 := benchenv.MachineCPU(); ok0 && ok1 && total1 > total0 {
		res.cpuBusy, res.cpuOK = (busy1-busy0)/(total1-total0), true
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return res, nil
}

func (r *results) errors() int {
	n := 0
	for _, v := range r.errs {
		n += v
	}
	return n
}

func (r *results) firstError() string { return r.first }

// print writes the table of the run.
func (r *results) print(w io.Writer, opts options) {
	fmt.Fprintf(w, "load: %d clients for %s, mix %s, uploads of %d pixel bytes\n", opts.c,
		r.elapsed.Round(time.Millisecond), mixString(opts.mix), opts.uploadBytes)
	fmt.Fprintf(w, "%-9s %8s %7s %8s %8s %8s %8s %8s\n", "kind", "count", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
	total := 0
	for _, k := range kindNames {
		l := r.latencies[k]
		if len(l) == 0 && r.errs[k] == 0 {
			continue
		}
		slices.Sort(l)
		total += len(l)
		fmt.Fprintf(w, "%-9s %8d %7d %8.1f %8.1f %8.1f %8.1f %8.1f\n", k, len(l), r.errs[k],
			float64(len(l))/r.elapsed.Seconds(), ms(pct(l, 50)), ms(pct(l, 95)), ms(pct(l, 99)), ms(pct(l, 100)))
	}
	fmt.Fprintf(w, "%-9s %8d %7d %8.1f\n", "all", total, r.errors(), float64(total)/r.elapsed.Seconds())
	cpu := "unknown"
	if r.cpuOK {
		cpu = fmt.Sprintf("%.0f%%", 100*r.cpuBusy)
	}
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), busy %s during the run (server, PostgreSQL, MinIO, this load and anything else)\n",
		numCPU(), gomaxprocs(), cpu)
}

func mixString(m map[string]int) string {
	var parts []string
	for _, k := range kindNames {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return fmt.Sprint(parts)
}

// pct is the p-th percentile (nearest rank) of sorted l.
func pct(l []time.Duration, p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := (len(l)*p + 99) / 100
	return l[min(max(i-1, 0), len(l)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func numCPU() int     { return runtime.NumCPU() }
func gomaxprocs() int { return runtime.GOMAXPROCS(0) }
