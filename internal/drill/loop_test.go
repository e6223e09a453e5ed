//go:build drill

package drill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/testenv"
)

// caseRun is one case the drill drives, and what the driver learnt.
type caseRun struct {
	n         int
	id        uuid.UUID
	specialty string
	critical  bool
	// awaitEscalation: a critical report the referring physician leaves
	// unacknowledged until it was escalated (both levels).
	awaitEscalation bool
	reportID        uuid.UUID
	uploaded        bool
	escalated       bool
	// spent is the time the driver saw the case in each state.
	spent map[string]time.Duration
	took  time.Duration
}

// driver drives cases through the loop through the fleet's proxy, as the
// people of the demo organisations would, with clients that retry
// network errors and 5xx answers like a real client.
type driver struct {
	r                  *rig
	base               string
	staff, gp, rad     *client.Client
	derm, admin        *client.Client
	hc                 *http.Client
	photo              []byte
	retries            atomic.Int64
	conflicts          atomic.Int64
	clock              *clock
	caseTimeout        time.Duration
	escalationTriggers atomic.Int64
	staleKeys          atomic.Int64
}

func newDriver(t *testing.T, r *rig, base string, clk *clock) *driver {
	t.Helper()
	photo, err := os.ReadFile(filepath.Join(root, "internal", "photo", "testdata", "video-001.q50.422.jpeg"))
	require.NoError(t, err)
	d := &driver{r: r, base: base, photo: photo, clock: clk, caseTimeout: 10 * time.Minute,
		hc: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	retry := client.Retry{Attempts: 20, Base: 100 * time.Millisecond, Max: 2 * time.Second,
		OnRetry: func(int, time.Duration, error) { d.retries.Add(1) }}
	mk := func(email string) *client.Client {
		c, err := client.New(base, r.tokens[email], client.WithRetry(retry), client.WithHTTPClient(d.hc))
		require.NoError(t, err)
		return c
	}
	d.staff, d.gp, d.rad, d.derm, d.admin = mk(staffEmail), mk(gpEmail), mk(radEmail), mk(dermEmail), mk(adminEmail)
	return d
}

// isStatus reports an API answer of one of the statuses.
func isStatus(err error, statuses ...int) bool {
	var e *client.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, s := range statuses {
		if e.Status == s {
			return true
		}
	}
	return false
}

// dicom is a small DICOM file (one 8-bit 64 x 64 frame) with a fresh SOP
// Instance UID, of the case's patient.
func dicom() []byte {
	b := dicomHeaderFor(uuid.New(), 64, 64, 1)
	px := make([]byte, 64*64)
	for i := range px {
		px[i] = byte(i * 7)
	}
	return append(b, px...)
}

// dicomHeaderFor is the header of an 8-bit DICOM of rows x cols x frames
// whose SOP Instance UID is made from u.
func dicomHeaderFor(u uuid.UUID, rows, cols, frames int) []byte {
	sop := "2.25." + new(big.Int).SetBytes(u[:]).String()
	return testenv.DICOMHeader(sop, rows, cols, frames, uint32(rows*cols*frames))
}

func bytesBody(b []byte) client.Body {
	return client.Body{Size: int64(len(b)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// create opens the case as the site's staff.
func (d *driver) create(ctx context.Context, cr *caseRun) error {
	gp, err := uuid.Parse(d.r.users[gpEmail])
	if err != nil {
		return err
	}
	req := api.CreateCaseRequest{ReferringPhysicianID: gp, Specialty: cr.specialty, Priority: api.PriorityRoutine,
		Patient:          api.Patient{Name: "Doe^Archibald", BirthDate: "1970-02-03", Sex: "M", MRN: "77654033"},
		ClinicalQuestion: fmt.Sprintf("Drill case %d", cr.n)}
	if cr.specialty == api.SpecialtyDermatology {
		req.Lesion = &api.Lesion{BodySite: "left forearm", Duration: "3 months"}
	}
	c, err := d.staff.CreateCase(ctx, req)
	if err != nil {
		return fmt.Errorf("create case %d: %w", cr.n, err)
	}
	cr.id = c.ID
	return nil
}

// drive takes the case from draft to acknowledged, reading its state
// before every step, so that a step whose answer was lost with a killed
// server is not repeated blindly.
func (d *driver) drive(ctx context.Context, cr *caseRun) error {
	ctx, cancel := context.WithTimeout(ctx, d.caseTimeout)
	defer cancel()
	wait := 100 * time.Millisecond
	pause := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Second)
		return nil
	}
	spec := d.rad
	if cr.specialty == api.SpecialtyDermatology {
		spec = d.derm
	}
	cr.spent = map[string]time.Duration{}
	began := time.Now()
	defer func() { cr.took = time.Since(began) }()
	last, lastAt := "", time.Now()
	for {
		c, err := d.staff.Case(ctx, cr.id)
		if err != nil {
			return fmt.Errorf("case %s: %w", cr.id, err)
		}
		if last != "" {
			cr.spent[last] += time.Since(lastAt)
		}
		last, lastAt = c.Status, time.Now()
		var step error
		switch c.Status {
		case api.CaseDraft:
			if !cr.uploaded {
				if step = d.upload(ctx, cr); step != nil {
					if isStatus(step, http.StatusConflict) {
						// Its Idempotency-Key is still "in flight": the
						// server that ran the first attempt was killed,
						// and the client's retries gave up before the
						// claim went stale (a minute without renewal).
						// The files are read again and, if none arrived,
						// sent under a fresh key.
						d.staleKeys.Add(1)
					}
					break
				}
				cr.uploaded = true
			}
			_, step = d.staff.SubmitCase(ctx, cr.id)
		case api.CaseSubmitted, api.CaseReported:
			// A job's turn: routing, or the deliveries.
			if err := pause(); err != nil {
				return fmt.Errorf("case %s waiting in %s: %w", cr.id, c.Status, err)
			}
			continue
		case api.CaseRouted:
			_, step = spec.Claim(ctx, cr.id)
		case api.CaseInReview:
			if _, step = spec.SaveReport(ctx, cr.id, api.ReportDraftRequest{Findings: "Findings of the drill.",
				Impression: "Impression of the drill.", Critical: cr.critical,
				Diagnoses: []api.Diagnosis{{Text: "Fracture of lower end of radius", System: "ICD-10", Code: "S52.5"}}}); step != nil {
				break
			}
			var rep api.Report
			if rep, step = spec.SignReport(ctx, cr.id); step == nil {
				cr.reportID = rep.ID
			}
		case api.CaseDelivered:
			if cr.reportID == uuid.Nil {
				if cr.reportID, step = d.reportOf(ctx, cr.id); step != nil {
					break
				}
			}
			if cr.awaitEscalation && !cr.escalated {
				if step = d.awaitEscalation(ctx, cr); step != nil {
					break
				}
				cr.escalated = true
			}
			_, step = d.gp.Acknowledge(ctx, cr.reportID)
			if isStatus(step, http.StatusNotFound) {
				// Delivered by webhook first: the inbox delivery is
				// still on its way, and until then there is nothing to
				// acknowledge.
				if err := pause(); err != nil {
					return fmt.Errorf("case %s waiting for its inbox item: %w", cr.id, err)
				}
				continue
			}
		case api.CaseAcknowledged:
			return nil
		default:
			return fmt.Errorf("case %s in unexpected state %s", cr.id, c.Status)
		}
		if isStatus(step, http.StatusConflict) {
			// The step was done by an attempt whose answer was lost, or
			// the case moved on: read its state again.
			d.conflicts.Add(1)
			continue
		}
		if step != nil {
			return fmt.Errorf("case %s (%s): %w", cr.id, c.Status, step)
		}
		wait = 100 * time.Millisecond
	}
}

// upload sends the case's file, unless it is there already (sent by an
// attempt whose answer was lost).
func (d *driver) upload(ctx context.Context, cr *caseRun) error {
	files, err := d.staff.Files(ctx, cr.id)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		return nil
	}
	if cr.specialty == api.SpecialtyDermatology {
		_, err = d.staff.UploadFile(ctx, cr.id, "lesion.jpg", bytesBody(d.photo),
			client.FileOptions{ContentType: "image/jpeg", BodySite: "left forearm"})
		return err
	}
	_, err = d.staff.UploadFile(ctx, cr.id, "study.dcm", bytesBody(dicom()), client.FileOptions{ContentType: "application/dicom"})
	return err
}

// reportOf asks for the case's report (GET /api/v1/cases/{id}/report, which
// the typed client has no method for), retrying like the client.
func (d *driver) reportOf(ctx context.Context, caseID uuid.UUID) (uuid.UUID, error) {
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/api/v1/cases/"+caseID.String()+"/report", nil)
		if err != nil {
			return uuid.Nil, err
		}
		req.Header.Set("Authorization", "Bearer "+d.r.tokens[gpEmail])
		resp, err := d.hc.Do(req)
		if err == nil {
			var rep api.Report
			derr := json.NewDecoder(resp.Body).Decode(&rep)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && derr == nil {
				return rep.ID, nil
			}
			if resp.StatusCode < 500 {
				return uuid.Nil, fmt.Errorf("report of case %s: %d", caseID, resp.StatusCode)
			}
		}
		if attempt >= 60 {
			return uuid.Nil, fmt.Errorf("report of case %s: gave up: %v", caseID, err)
		}
		d.retries.Add(1)
		select {
		case <-ctx.Done():
			return uuid.Nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// awaitEscalation leaves a critical report unacknowledged until both
// levels of its escalation happened: simulated time moves its inbox item's
// delivered_at (the start of the acknowledgement window) back past twice
// the window, and the escalate job runs.
func (d *driver) awaitEscalation(ctx context.Context, cr *caseRun) error {
	for {
		var inbox int
		if err := d.r.pool.QueryRow(ctx, `SELECT count(*) FROM inbox_items WHERE report_id = $1`, cr.reportID).Scan(&inbox); err != nil {
			return fmt.Errorf("inbox item of %s: %w", cr.reportID, err)
		}
		if inbox == 1 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := d.clock.ageInbox(ctx, cr.reportID); err != nil {
		return err
	}
	for {
		d.escalationTriggers.Add(1)
		if err := d.clock.escalate(ctx); err != nil {
			return err
		}
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			var n int
			if err := d.r.pool.QueryRow(ctx, `SELECT count(*) FROM escalations WHERE report_id = $1
				AND kind = 'critical_unacknowledged'`, cr.reportID).Scan(&n); err != nil {
				return fmt.Errorf("escalations of %s: %w", cr.reportID, err)
			}
			if n >= 2 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}

// runCases creates and drives n cases with conc drivers at once. It
// returns the runs and the error of each case that did not finish.
func (d *driver) runCases(ctx context.Context, n, conc int) ([]*caseRun, map[int]error) {
	runs := make([]*caseRun, n)
	for i := range runs {
		cr := &caseRun{n: i, specialty: api.SpecialtyRadiology}
		if i%4 == 3 {
			cr.specialty = api.SpecialtyDermatology
		}
		cr.critical = i%5 == 0
		cr.awaitEscalation = cr.critical && i%3 == 0
		runs[i] = cr
	}
	var mu sync.Mutex
	failed := map[int]error{}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				cr := runs[i]
				err := d.create(ctx, cr)
				if err == nil {
					err = d.drive(ctx, cr)
				}
				if err != nil {
					mu.Lock()
					failed[i] = err
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return runs, failed
}
