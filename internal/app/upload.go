package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/term"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/uploader"
)

const uploadUsage = `usage: teleread upload --server URL (--case ID | --new-case CASE FLAGS) [flags] PATH...

Sends DICOM files and clinical photos to a case: files and folders
(recursively; a folder with a DICOMDIR sends only the files it lists).
Files that are neither DICOM nor a photo (JPEG, PNG, WebP) are skipped with a
line saying so; photos go to dermatology cases only. A second run after an
interruption sends only what is missing.

The token comes from TELEREAD_TOKEN or --token-file, never the command line.

New case: --new-case --specialty radiology|dermatology --priority stat|urgent|routine
  --referring USER_ID --patient-name N --patient-mrn M --patient-birth-date YYYY-MM-DD
  --patient-sex F|M|O|U --question TEXT (a dermatology case also --body-site)

Exit codes: 0 every file is in the case (sent, or already there)
            1 some files were refused (the summary says why)
            2 usage error
            3 the server could not be reached, or refused the token or the case

flags:
`

// exitError carries the exit code of an upload run.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the process exit code.
func (e *exitError) ExitCode() int { return e.code }

type uploadFlags struct {
	server, tokenFile, caseID, stateDir               string
	newCase, submit, jsonOut, verbose                 bool
	specialty, priority, referring, question          string
	patientName, patientMRN, patientBirth, patientSex string
	bodySite                                          string
	dermoscopic                                       string
	parallel, retries, pack                           int
	rateLimit, threshold, partSize                    string
	progressEvery                                     time.Duration
}

func runUpload(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet("upload", env)
	var f uploadFlags
	fs.StringVar(&f.server, "server", env.Getenv("TELEREAD_SERVER"), "the Teleread server, e.g. https://teleread.example.org (default $TELEREAD_SERVER)")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the API token from this file (default $TELEREAD_TOKEN)")
	fs.StringVar(&f.caseID, "case", "", "the id of the case to send to")
	fs.BoolVar(&f.newCase, "new-case", false, "create the case first (see the case flags)")
	fs.StringVar(&f.specialty, "specialty", "", "new case: radiology or dermatology")
	fs.StringVar(&f.priority, "priority", "routine", "new case: stat, urgent or routine")
	fs.StringVar(&f.referring, "referring", "", "new case: the referring physician's user id")
	fs.StringVar(&f.question, "question", "", "new case: the clinical question")
	fs.StringVar(&f.patientName, "patient-name", "", "new case: the patient's name")
	fs.StringVar(&f.patientMRN, "patient-mrn", "", "new case: the patient's MRN")
	fs.StringVar(&f.patientBirth, "patient-birth-date", "", "new case: the patient's birth date, YYYY-MM-DD")
	fs.StringVar(&f.patientSex, "patient-sex", "", "new case: F, M, O or U")
	fs.StringVar(&f.bodySite, "body-site", "", "photos: the body site shown (e.g. \"left forearm\"); a new dermatology case's lesion site")
	fs.StringVar(&f.dermoscopic, "dermoscopic", "", "photos: true if taken with a dermatoscope")
	fs.BoolVar(&f.submit, "submit", false, "submit the case when every file is in")
	fs.BoolVar(&f.jsonOut, "json", false, "print one JSON event per line on stdout (each with its case_id)")
	fs.BoolVar(&f.verbose, "v", false, "a line for every file sent (when not on a terminal)")
	fs.IntVar(&f.parallel, "parallel", uploader.DefaultParallel, "files sent at once (and parts of one large file)")
	fs.IntVar(&f.pack, "pack", uploader.DefaultPackFiles, "small DICOM files (up to 2 MiB) sent together, at most this many per request (0 or 1: one file per request)")
	fs.IntVar(&f.retries, "retries", client.DefaultRetry.Attempts, "attempts per request on network errors, 429 and 5xx")
	fs.StringVar(&f.rateLimit, "rate-limit", "0", "the most bytes per second to send, all files together (e.g. 500K, 2M; 0 no limit)")
	fs.StringVar(&f.threshold, "multipart-threshold", strconv.Itoa(uploader.DefaultThreshold), "files from this size go through presigned multipart uploads")
	fs.StringVar(&f.partSize, "part-size", strconv.Itoa(uploader.DefaultPartSize), "the part size of a multipart upload (at least 5M)")
	fs.StringVar(&f.stateDir, "state-dir", "", "where half-done multipart uploads are remembered (default the user cache dir)")
	fs.DurationVar(&f.progressEvery, "progress-every", 5*time.Second, "how often a progress line is printed when not on a terminal")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), uploadUsage)
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	cfg, err := f.check(env, paths)
	if err != nil {
		return err
	}
	return uploadRun(ctx, env, f, cfg, paths)
}

// parseInterleaved parses flags that may come before, between or after the paths.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return paths, nil
		}
		if args[0] == "--" {
			return append(paths, args[1:]...), nil
		}
		paths = append(paths, args[0])
		args = args[1:]
	}
}

// uploadConfig is what check derives from the flags.
type uploadConfig struct {
	token                     string
	caseID                    uuid.UUID
	rate, threshold, partSize int64
	dermoscopic               *bool
}

func (f *uploadFlags) check(env Env, paths []string) (uploadConfig, error) {
	var c uploadConfig
	bad := func(format string, args ...any) (uploadConfig, error) {
		return c, &usageError{"upload: " + fmt.Sprintf(format, args...)}
	}
	if f.server == "" {
		return bad("--server is required")
	}
	if len(paths) == 0 {
		return bad("name at least one file or folder")
	}
	switch {
	case f.caseID != "" && f.newCase:
		return bad("give --case or --new-case, not both")
	case f.caseID == "" && !f.newCase:
		return bad("give --case ID or --new-case")
	case f.caseID != "":
		id, err := uuid.Parse(f.caseID)
		if err != nil {
			return bad("--case: %q is not a case id", f.caseID)
		}
		c.caseID = id
	default:
		var missing []string
		for name, v := range map[string]string{"--specialty": f.specialty, "--referring": f.referring,
			"--patient-name": f.patientName, "--patient-mrn": f.patientMRN, "--patient-birth-date": f.patientBirth,
			"--patient-sex": f.patientSex, "--question": f.question} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return bad("--new-case needs %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
		}
		if _, err := uuid.Parse(f.referring); err != nil {
			return bad("--referring: %q is not a user id", f.referring)
		}
		if _, err := time.Parse(time.DateOnly, f.patientBirth); err != nil {
			return bad("--patient-birth-date: want YYYY-MM-DD")
		}
	}
	if f.dermoscopic != "" {
		v, err := strconv.ParseBool(f.dermoscopic)
		if err != nil {
			return bad("--dermoscopic: want true or false")
		}
		c.dermoscopic = &v
	}
	if f.parallel < 1 || f.parallel > 64 {
		return bad("--parallel: from 1 to 64")
	}
	if f.pack < 0 || f.pack > 1000 {
		return bad("--pack: from 0 to 1000")
	}
	var err error
	if c.rate, err = parseBytes(f.rateLimit); err != nil || c.rate < 0 {
		return bad("--rate-limit: want bytes per second, e.g. 500K or 2M")
	}
	if c.threshold, err = parseBytes(f.threshold); err != nil || c.threshold < 1 {
		return bad("--multipart-threshold: want a size, e.g. 32M")
	}
	if c.partSize, err = parseBytes(f.partSize); err != nil || c.partSize < 5<<20 {
		return bad("--part-size: want a size of at least 5M")
	}
	switch {
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return bad("--token-file: %v", err)
		}
		c.token = strings.TrimSpace(string(b))
	default:
		c.token = strings.TrimSpace(env.Getenv("TELEREAD_TOKEN"))
	}
	if c.token == "" {
		return bad("no token: set TELEREAD_TOKEN or give --token-file")
	}
	return c, nil
}

// parseBytes reads 1234, 500K, 2M or 1G (powers of 1024).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for suffix, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if t, ok := strings.CutSuffix(strings.TrimSuffix(s, "B"), suffix); ok && t != "" {
			s, mult = t, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func uploadRun(ctx context.Context, env Env, f uploadFlags, uc uploadConfig, paths []string) error {
	var rep uploader.Reporter
	errOut := env.Stderr
	onTerminal := false
	if fd, ok := env.Stderr.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		onTerminal = true
	}
	say := func(format string, args ...any) {
		if !f.jsonOut {
			fmt.Fprintf(env.Stdout, format+"\n", args...)
		}
	}
	retry := client.DefaultRetry
	retry.Attempts = max(f.retries, 1)
	var onRetry func(int, time.Duration, error)
	retry.OnRetry = func(a int, w time.Duration, err error) {
		if onRetry != nil {
			onRetry(a, w, err)
		}
	}
	c, err := client.New(f.server, uc.token, client.WithRetry(retry))
	if err != nil {
		return &usageError{"upload: --server: " + err.Error()}
	}
	unreachable := func(what string, err error) error {
		return &exitError{code: 3, msg: fmt.Sprintf("upload: %s: %v", what, err)}
	}
	if _, err := c.Me(ctx); err != nil {
		return unreachable("cannot reach the server or the token is refused", err)
	}
	var cs api.Case
	if f.newCase {
		ref, _ := uuid.Parse(f.referring)
		req := api.CreateCaseRequest{ReferringPhysicianID: ref, Specialty: f.specialty,
			Priority: f.priority, ClinicalQuestion: f.question, Patient: api.Patient{Name: f.patientName,
				MRN: f.patientMRN, BirthDate: f.patientBirth, Sex: f.patientSex}}
		if f.bodySite != "" && f.specialty == api.SpecialtyDermatology {
			req.Lesion = &api.Lesion{BodySite: f.bodySite} // the lesion's site, as the photos'
		}
		cs, err = c.CreateCase(ctx, req)
		if err != nil {
			if st := client.StatusOf(err); st == 400 || st == 422 {
				return &usageError{"upload: the case cannot be created: " + err.Error()}
			}
			return unreachable("create the case", err)
		}
		say("created case %s (resume with --case %s)", cs.ID, cs.ID)
	} else if cs, err = c.Case(ctx, uc.caseID); err != nil {
		return unreachable("case "+uc.caseID.String(), err)
	}
	switch {
	case f.jsonOut:
		rep = uploader.NewJSONReporter(env.Stdout, cs.ID.String())
	case onTerminal:
		rep = uploader.NewBarReporter(errOut)
	default:
		rep = uploader.NewLineReporter(errOut, f.progressEvery, f.verbose)
	}
	onRetry = rep.Retry
	stateDir := f.stateDir
	if stateDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			stateDir = filepath.Join(d, "teleread", "upload")
		}
	}
	u := uploader.New(uploader.Config{Client: c, CaseID: cs.ID, Photos: cs.Specialty == api.SpecialtyDermatology,
		BodySite: f.bodySite, Dermoscopic: uc.dermoscopic, Parallel: f.parallel, Threshold: uc.threshold,
		PartSize: uc.partSize, PackFiles: max(f.pack, 1), RateLimit: uc.rate, StateDir: stateDir, Events: rep})
	start := time.Now()
	sum, runErr := u.Run(ctx, paths)
	rep.Done(sum)
	printSummary(env.Stdout, f.jsonOut, sum, time.Since(start))
	if runErr != nil {
		if errors.Is(runErr, uploader.ErrFatal) {
			return unreachable("stopped", runErr)
		}
		return runErr
	}
	if sum.Refused > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("upload: %d file(s) refused", sum.Refused)}
	}
	if f.submit {
		sc, err := c.SubmitCase(ctx, cs.ID)
		if err != nil {
			if client.StatusOf(err) == 0 || client.StatusOf(err) == 401 || client.StatusOf(err) == 403 {
				return unreachable("submit", err)
			}
			return &exitError{code: 1, msg: "upload: every file is in, but the case was not submitted: " + err.Error()}
		}
		say("case %s submitted (%s)", sc.ID, sc.Status)
	}
	return nil
}

func printSummary(w io.Writer, jsonOut bool, s uploader.Summary, took time.Duration) {
	if jsonOut {
		return // the reporter's summary event
	}
	fmt.Fprintf(w, "case %s: %d sent, %d already there, %d skipped, %d refused (%s in %s)\n", s.CaseID, s.Sent,
		s.Already, s.Skipped, s.Refused, uploader.Bytes(s.Bytes), took.Round(time.Second))
	for _, r := range s.RefusedFiles {
		fmt.Fprintf(w, "  refused: %s: %s\n", r.Path, r.Reason)
	}
}
