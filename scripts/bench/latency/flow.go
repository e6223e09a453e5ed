package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/teleread/teleread/internal/dicomfile"
)

// flow is phase 1: cases through the API, from submit to the specialist's
// worklist, and from signature to the site's webhook receiver.
type flow struct {
	e           *benchEnv
	src         []byte // the DICOM file every case uploads, with new UIDs
	patientName string
	patientID   string
	poll        time.Duration
	timeout     time.Duration
}

// flowSample is what one case measured.
type flowSample struct {
	caseID   string
	reportID string
	// visible is from the submit answer to the answer of the first worklist
	// page that lists the case.
	visible time.Duration
	// delivered is from the sign answer to the receiver having read the
	// whole webhook request.
	delivered time.Duration
	// worklistGets is how many worklist pages were fetched before the case
	// was on one.
	worklistGets int
}

// flowResult is the measured cases and the wall time they took.
type flowResult struct {
	samples []flowSample
	elapsed time.Duration
}

// newFlow reads the source DICOM and its patient, so that cases match the
// instances they receive.
func newFlow(e *benchEnv, src []byte, poll, timeout time.Duration) (*flow, error) {
	h, err := dicomfile.ReadHeader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		return nil, fmt.Errorf("source DICOM: %w", err)
	}
	f := &flow{e: e, src: src, poll: poll, timeout: timeout,
		patientName: strings.TrimSpace(strings.ReplaceAll(h.PatientName, "^", " ")), patientID: h.PatientID}
	if f.patientName == "" {
		f.patientName = "Bench Patient"
	}
	if f.patientID == "" {
		f.patientID = "BENCH-1"
	}
	return f, nil
}

// run takes n cases through the flow with c at a time and fails on the
// first error.
func (f *flow) run(ctx context.Context, first, n, c int) (flowResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res := flowResult{samples: make([]flowSample, n)}
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(c, n) {
		wg.Go(func() {
			for i := range next {
				s, err := f.oneCase(ctx, first+i)
				if err != nil {
					cancel(err)
					return
				}
				res.samples[i] = s
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, context.Cause(ctx)
}

// priorityOf spreads the cases over the priorities: 5% stat, 20% urgent.
func priorityOf(i int) string {
	switch {
	case i%20 == 0:
		return "stat"
	case i%5 == 0:
		return "urgent"
	}
	return "routine"
}

// oneCase creates, uploads and submits case i, waits for it on the
// worklist, claims it, writes and signs the report and waits for the
// webhook.
func (f *flow) oneCase(ctx context.Context, i int) (flowSample, error) {
	e, u := f.e, f.e.users
	var cs struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	body := map[string]any{
		"referring_physician_id": u.gpUserID, "specialty": "radiology", "priority": priorityOf(i),
		"patient":           map[string]string{"name": f.patientName, "birth_date": "1970-01-01", "sex": "F", "mrn": f.patientID},
		"clinical_question": fmt.Sprintf("Latency benchmark case %d: fracture?", i+1),
	}
	if err := e.API(ctx, u.staff, http.MethodPost, "/cases", body, http.StatusCreated, &cs); err != nil {
		return flowSample{}, fmt.Errorf("create case: %w", err)
	}
	s := flowSample{caseID: cs.ID}
	if err := f.upload(ctx, cs.ID, i); err != nil {
		return s, err
	}
	if err := e.API(ctx, u.staff, http.MethodPost, "/cases/"+cs.ID+"/submit", nil, http.StatusOK, &cs); err != nil {
		return s, fmt.Errorf("submit: %w", err)
	}
	submitted := time.Now()
	if cs.Status != "submitted" {
		return s, fmt.Errorf("case %s: submit answered status %q", cs.ID, cs.Status)
	}
	seen, gets, err := f.waitOnWorklist(ctx, cs.ID)
	if err != nil {
		return s, err
	}
	s.visible, s.worklistGets = seen.Sub(submitted), gets

	if err := e.API(ctx, u.specialist, http.MethodPost, "/cases/"+cs.ID+"/claim", nil, http.StatusOK, nil); err != nil {
		return s, fmt.Errorf("claim: %w", err)
	}
	report := map[string]any{
		"findings": "No acute fracture. Benchmark report.", "impression": "Normal study.",
		"diagnoses": []any{map[string]string{"text": "No abnormality detected", "system": "", "code": ""}},
	}
	if err := e.API(ctx, u.specialist, http.MethodPut, "/cases/"+cs.ID+"/report", report, http.StatusCreated, nil); err != nil {
		return s, fmt.Errorf("save report: %w", err)
	}
	var signed struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := e.API(ctx, u.specialist, http.MethodPost, "/cases/"+cs.ID+"/report/sign", nil, http.StatusOK, &signed); err != nil {
		return s, fmt.Errorf("sign: %w", err)
	}
	signedAt := time.Now()
	if signed.Status != "final" {
		return s, fmt.Errorf("case %s: signing gave a %q report, want final", cs.ID, signed.Status)
	}
	s.reportID = signed.ID
	got, err := e.rcv.wait(ctx, signed.ID, f.timeout)
	if err != nil {
		return s, err
	}
	s.delivered = got.Sub(signedAt)
	return s, nil
}

// upload sends the source DICOM with new Study, Series and SOP Instance
// UIDs as one raw application/dicom body.
func (f *flow) upload(ctx context.Context, caseID string, i int) error {
	var buf bytes.Buffer
	if err := dicomfile.RewriteUIDs(&buf, bytes.NewReader(f.src), dicomfile.NewUID(), dicomfile.NewUID(), dicomfile.NewUID()); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		fmt.Sprintf("%s/api/v1/cases/%s/files?filename=case-%04d.dcm", f.e.BaseURL, caseID, i+1), bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/dicom")
	var out struct {
		Files []struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"files"`
	}
	if err := f.e.Send(req, f.e.users.staff, http.StatusCreated, &out); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if len(out.Files) != 1 || out.Files[0].Status != "accepted" {
		return fmt.Errorf("upload to case %s: not accepted: %+v", caseID, out.Files)
	}
	return nil
}

// waitOnWorklist returns when the specialist's worklist first lists the
// case, and how many pages it fetched. It polls the case's status with a
// primary-key read every f.poll, not through GET /api/v1/cases/{id}: that
// route writes an audit event on every call, and hundreds of them a second
// would take the site's audit chain lock from under the work being timed.
// Once the case is routed it fetches the worklist as the specialist would.
func (f *flow) waitOnWorklist(ctx context.Context, caseID string) (time.Time, int, error) {
	deadline := time.Now().Add(f.timeout)
	gets := 0
	for {
		var status string
		var reason *string
		err := f.e.pool.QueryRow(ctx, "SELECT status, unrouted_reason FROM cases WHERE id = $1", caseID).Scan(&status, &reason)
		if err != nil {
			return time.Time{}, gets, fmt.Errorf("case %s status: %w", caseID, err)
		}
		switch {
		case status == "routed":
			var page struct {
				Items []struct {
					CaseID string `json:"case_id"`
				} `json:"items"`
			}
			gets++
			if err := f.e.API(ctx, f.e.users.specialist, http.MethodGet, "/worklist", nil, http.StatusOK, &page); err != nil {
				return time.Time{}, gets, fmt.Errorf("worklist: %w", err)
			}
			at := time.Now()
			for _, it := range page.Items {
				if it.CaseID == caseID {
					return at, gets, nil
				}
			}
		case status == "submitted" && reason != nil:
			return time.Time{}, gets, fmt.Errorf("case %s was not routed: %s", caseID, *reason)
		case status != "submitted":
			return time.Time{}, gets, fmt.Errorf("case %s is %s while waiting for routing", caseID, status)
		}
		if time.Now().After(deadline) {
			return time.Time{}, gets, fmt.Errorf("case %s not on the worklist within %s (status %s)", caseID, f.timeout, status)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, gets, ctx.Err()
		case <-time.After(f.poll):
		}
	}
}

// serverTimes are the server's own timestamps for the measured cases.
type serverTimes struct {
	// routed is submitted_at to routed_at.
	routed []time.Duration
	// delivered is each webhook delivery's created_at (the signing
	// transaction) to its delivered_at (the receiver's 2xx).
	delivered []time.Duration
	// routeWait and webhookWait are how long the route and webhook deliver
	// jobs waited in River's queue: scheduled_at to attempted_at.
	routeWait, webhookWait []time.Duration
}

// serverSide reads the server's timestamps of the measured cases.
func (f *flow) serverSide(ctx context.Context, samples []flowSample) (serverTimes, error) {
	var st serverTimes
	ids := make([]string, len(samples))
	for i, s := range samples {
		ids[i] = s.caseID
	}
	// The receiver has every webhook, but the server may not have recorded
	// the last answers yet.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var pending int
		err := f.e.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries
			WHERE case_id = ANY($1::uuid[]) AND channel = 'webhook' AND delivered_at IS NULL`, ids).Scan(&pending)
		if err != nil {
			return st, fmt.Errorf("pending deliveries: %w", err)
		}
		if pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	collect := func(dst *[]time.Duration, sql string) error {
		rows, err := f.e.pool.Query(ctx, sql, ids)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var us int64
			if err := rows.Scan(&us); err != nil {
				return err
			}
			*dst = append(*dst, time.Duration(us)*time.Microsecond)
		}
		return rows.Err()
	}
	for _, q := range []struct {
		dst *[]time.Duration
		sql string
	}{
		{&st.routed, `SELECT (extract(epoch FROM routed_at - submitted_at) * 1e6)::bigint
			FROM cases WHERE id = ANY($1::uuid[]) AND routed_at IS NOT NULL`},
		{&st.delivered, `SELECT (extract(epoch FROM delivered_at - created_at) * 1e6)::bigint
			FROM deliveries WHERE case_id = ANY($1::uuid[]) AND channel = 'webhook' AND delivered_at IS NOT NULL`},
		{&st.routeWait, `SELECT (extract(epoch FROM attempted_at - scheduled_at) * 1e6)::bigint
			FROM river_job WHERE kind = 'route' AND (args->>'case_id')::uuid = ANY($1::uuid[]) AND attempted_at IS NOT NULL`},
		{&st.webhookWait, `SELECT (extract(epoch FROM j.attempted_at - j.scheduled_at) * 1e6)::bigint
			FROM river_job j JOIN deliveries d ON d.id = (j.args->>'delivery_id')::uuid
			WHERE j.kind = 'deliver' AND d.case_id = ANY($1::uuid[]) AND d.channel = 'webhook' AND j.attempted_at IS NOT NULL`},
	} {
		if err := collect(q.dst, q.sql); err != nil {
			return st, fmt.Errorf("server-side times: %w", err)
		}
	}
	return st, nil
}

// riverJobs counts the server's River jobs by kind.
func (f *flow) riverJobs(ctx context.Context) (map[string]int, error) {
	rows, err := f.e.pool.Query(ctx, "SELECT kind, count(*)::int FROM river_job GROUP BY kind")
	if err != nil {
		return nil, fmt.Errorf("river jobs: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}
