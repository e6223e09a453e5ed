package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// makeTarget is the make target that runs this benchmark, for hints.
const makeTarget = "bench"

// benchEnv is what the benchmark sets up: a fresh database and bucket, a
// running server on them (benchenv.Env), a raw bucket, demo users and one
// case per study. Cleanup undoes it in reverse order.
type benchEnv struct {
	*benchenv.Env

	rawBucket string // the raw floor's bucket

	staffToken string
	gpUserID   string
	caseIDs    []string // one per study
	warmCaseID string
}

// setUp makes everything the phases need.
func (e *benchEnv) setUp(ctx context.Context, opts options, set *instanceSet) error {
	if err := e.Connect(ctx); err != nil {
		return err
	}

	suffix := benchenv.RandomHex(6)
	e.rawBucket = "bench-raw-" + suffix
	e.NoteKept("raw bucket %s", e.rawBucket)
	e.OnCleanup(false, func() error { return e.RemoveBucket(e.rawBucket) })
	if err := e.MC.MakeBucket(ctx, e.rawBucket, minio.MakeBucketOptions{Region: e.Services.S3Region}); err != nil {
		return fmt.Errorf("create bucket %s: %w", e.rawBucket, err)
	}
	if !strings.ContainsAny(opts.order, "apu") {
		return nil // the floors alone need no server
	}

	if err := e.Build(ctx, "teleread-bench-"); err != nil {
		return err
	}
	if err := e.CreateDatabase(ctx, "teleread_bench_"+suffix, "bench-"+suffix); err != nil {
		return err
	}
	if err := e.seed(ctx); err != nil {
		return err
	}
	if err := e.StartServer(ctx, fmt.Sprintf("workers %t", opts.workers), fmt.Sprintf("--workers=%t", opts.workers)); err != nil {
		return err
	}
	return e.createCases(ctx, set)
}

// seed creates the demo users and keeps the site staff token and the
// referring physician.
func (e *benchEnv) seed(ctx context.Context) error {
	users, err := e.Seed(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		switch u.Role {
		case "site_staff":
			e.staffToken = u.Token
		case "referring_physician":
			e.gpUserID = u.UserID
		}
	}
	if e.staffToken == "" || e.gpUserID == "" {
		return errors.New("teleread seed --demo: no site_staff token or referring_physician user in its output")
	}
	return nil
}

// createCases creates one radiology case per study, and one for warm-up.
func (e *benchEnv) createCases(ctx context.Context, set *instanceSet) error {
	for i := range set.studies + 1 {
		body := map[string]any{
			"referring_physician_id": e.gpUserID,
			"specialty":              "radiology",
			"priority":               "routine",
			"patient": map[string]string{
				"name": set.patientName, "birth_date": "1970-01-01", "sex": "F", "mrn": set.patientID,
			},
			"clinical_question": fmt.Sprintf("Ingest benchmark study %d", i+1),
		}
		var out struct {
			ID string `json:"id"`
		}
		if err := e.API(ctx, e.staffToken, http.MethodPost, "/cases", body, http.StatusCreated, &out); err != nil {
			return fmt.Errorf("create case: %w", err)
		}
		if i == set.studies {
			e.warmCaseID = out.ID
		} else {
			e.caseIDs = append(e.caseIDs, out.ID)
		}
	}
	return nil
}
