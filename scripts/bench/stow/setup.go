package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// benchEnv is what the benchmark sets up: a fresh database and bucket with
// a running server on them (benchenv.Env), a raw bucket, an Orthanc, the
// site staff token and the cases. Cleanup undoes it in reverse order.
type benchEnv struct {
	*benchenv.Env

	rawBucket  string
	staffToken string
	gpUserID   string
	// caseIDs[set][study]: one case per study, the warm-up study last.
	caseIDs [][]string
	orthanc *orthanc
	// sameDisk reports whether Orthanc's directory is on the device of
	// MinIO's data (.data/minio); nil when unknown.
	sameDisk *bool
}

// setUp makes everything the phases need.
func (e *benchEnv) setUp(ctx context.Context, opts options, sets []*instanceSet) error {
	if err := e.Connect(ctx); err != nil {
		return err
	}
	suffix := benchenv.RandomHex(6)
	if err := e.build(ctx, opts.buildRef); err != nil {
		return err
	}
	if opts.has(pathRaw) {
		e.rawBucket = "bench-stow-raw-" + suffix
		e.NoteKept("raw bucket %s", e.rawBucket)
		e.OnCleanup(false, func() error { return e.RemoveBucket(e.rawBucket) })
		if err := e.MC.MakeBucket(ctx, e.rawBucket, minio.MakeBucketOptions{Region: e.Services.S3Region}); err != nil {
			return fmt.Errorf("create bucket %s: %w", e.rawBucket, err)
		}
	}
	if opts.has(pathOrthanc) {
		if err := e.startOrthanc(ctx, opts); err != nil {
			return err
		}
	}
	if !opts.has(pathTeleread) {
		return nil
	}
	if err := e.CreateDatabase(ctx, "teleread_bench_stow_"+suffix, "bench-stow-"+suffix); err != nil {
		return err
	}
	if err := e.seed(ctx); err != nil {
		return err
	}
	if err := e.StartServer(ctx, "workers false", "--workers=false"); err != nil {
		return err
	}
	for _, set := range sets {
		ids, err := e.createCases(ctx, set)
		if err != nil {
			return err
		}
		e.caseIDs = append(e.caseIDs, ids)
	}
	return nil
}

// build builds ./cmd/teleread: from the working tree, or from commit ref
// exported with git archive (so that others' uncommitted edits in a shared
// checkout do not break or change what is measured).
func (e *benchEnv) build(ctx context.Context, ref string) error {
	if ref == "" {
		return e.Build(ctx, "teleread-stow-bench-")
	}
	src, err := os.MkdirTemp("", "teleread-stow-src-")
	if err != nil {
		return err
	}
	e.OnCleanup(true, func() error { return os.RemoveAll(src) })
	e.Logf("exporting %s into %s", ref, src)
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", e.Root, ref, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("git archive %s: %w\n%s", ref, err, out)
	}
	root := e.Root
	e.Root = src
	defer func() { e.Root = root }()
	return e.Build(ctx, "teleread-stow-bench-")
}

// startOrthanc starts a fresh Orthanc in a directory of the run's temp
// directory, stopped at cleanup whatever -keep says.
func (e *benchEnv) startOrthanc(ctx context.Context, opts options) error {
	plugin := opts.orthancPlugin
	if plugin == "" {
		var err error
		if plugin, err = findDICOMWebPlugin(ctx); err != nil {
			return err
		}
	}
	dir := filepath.Join(e.TmpDir, "orthanc")
	e.sameDisk = sameDevice(e.TmpDir, filepath.Join(e.Root, ".data", "minio"))
	o, err := startOrthanc(ctx, opts.orthancBin, plugin, dir)
	if o != nil {
		e.OnCleanup(true, o.stop)
	}
	if err != nil {
		return err
	}
	e.orthanc = o
	e.Logf("orthanc %s (DICOMweb plugin %s) pid %d on %s, data in %s", o.version, o.plugin, o.pid(), o.baseURL, dir)
	if e.sameDisk != nil && !*e.sameDisk {
		e.Logf("warning: %s is not on the disk of .data/minio; set TMPDIR to a directory on it", e.TmpDir)
	}
	return nil
}

// sameDevice reports whether a and b are on one file system; nil when
// either cannot be read.
func sameDevice(a, b string) *bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return nil
	}
	same := sa.Dev == sb.Dev
	return &same
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

// createCases creates one draft radiology case per study of set, and one
// for its warm-up study, with the instances' patient.
func (e *benchEnv) createCases(ctx context.Context, set *instanceSet) ([]string, error) {
	var ids []string
	for i := range set.studies + 1 {
		body := map[string]any{
			"referring_physician_id": e.gpUserID,
			"specialty":              "radiology",
			"priority":               "routine",
			"patient": map[string]string{
				"name": set.patientName, "birth_date": set.birthDate, "sex": "F", "mrn": set.patientID,
			},
			"clinical_question": fmt.Sprintf("STOW benchmark, %s study %d", set.name, i+1),
		}
		var out struct {
			ID string `json:"id"`
		}
		if err := e.API(ctx, e.staffToken, http.MethodPost, "/cases", body, http.StatusCreated, &out); err != nil {
			return nil, fmt.Errorf("create case: %w", err)
		}
		ids = append(ids, out.ID)
	}
	return ids, nil
}

// minioPID returns the pid of the MinIO that scripts/services.sh started,
// or 0.
func (e *benchEnv) minioPID() int {
	var pid int
	if b, err := os.ReadFile(filepath.Join(e.Root, ".data", "minio.pid")); err == nil {
		_, _ = fmt.Sscanf(string(b), "%d", &pid)
	}
	return pid
}
