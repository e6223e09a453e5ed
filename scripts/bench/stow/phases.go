package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// runPhases times, for each size, every path of opts.paths in order,
// after untimed warm-up requests on that path, then checks what each path
// stored.
func runPhases(ctx context.Context, e *benchEnv, opts options, sets []*instanceSet, logf func(string, ...any)) (*results, error) {
	res := &results{
		Concurrency: opts.c, Batch: opts.batch, PerStudy: opts.perStudy, Paths: opts.pathList(),
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(),
		OrthancSameDisk: e.sameDisk,
	}
	if e.orthanc != nil {
		res.OrthancVersion, res.OrthancPlugin = e.orthanc.version, e.orthanc.plugin
	}
	client := newHTTPClient(opts.c)
	raw := &rawPutter{mc: e.MC, bucket: e.rawBucket}
	pids := processes{server: e.ServerPID(), orthanc: e.orthanc.pid(), minio: e.minioPID(), pg: e.postmasterPID(ctx)}
	var wantTeleread, wantOrthanc int // instances stored so far, warm-up included

	for si, set := range sets {
		sr := sizeResult{
			Name: set.name, Instances: len(set.timed), InstanceBytes: set.size, PixelKB: set.kb,
			Image: fmt.Sprintf("%dx%d 16-bit", set.side, set.side), Studies: set.studies,
			Requests: len(set.timedReqs), Batch: opts.batch, TotalBytes: set.bytes(),
		}
		for _, path := range opts.pathList() {
			var (
				n      int
				do     func(ctx context.Context, reqs []stowRequest, files []instance, prefix string) func(context.Context, int) error
				verify func() (string, error)
			)
			switch path {
			case pathTeleread:
				ids := e.caseIDs[si]
				st := &stower{client: client, token: e.staffToken, url: func(study int) string {
					return e.BaseURL + "/dicomweb/cases/" + ids[study] + "/studies"
				}}
				do = requestsOf(st)
				wantTeleread += len(set.timed) + set.warmInstances()
				verify = func() (string, error) {
					files, inst, err := e.countStored(ctx)
					if err != nil {
						return "", err
					}
					if files != wantTeleread || inst != wantTeleread {
						return "", fmt.Errorf("teleread: %d files rows and %d dicom_instances rows, want %d", files, inst, wantTeleread)
					}
					return fmt.Sprintf("ReferencedSOPSequence complete; %d files rows", files), nil
				}
			case pathOrthanc:
				st := &stower{client: client, url: func(int) string { return e.orthanc.baseURL + "/dicom-web/studies" }}
				do = requestsOf(st)
				wantOrthanc += len(set.timed) + set.warmInstances()
				verify = func() (string, error) {
					got, err := e.orthanc.countInstances(ctx)
					if err != nil {
						return "", err
					}
					if got != wantOrthanc {
						return "", fmt.Errorf("orthanc: /statistics CountInstances %d, want %d", got, wantOrthanc)
					}
					return fmt.Sprintf("ReferencedSOPSequence complete; CountInstances %d", got), nil
				}
			case pathRaw:
				do = func(_ context.Context, _ []stowRequest, files []instance, prefix string) func(context.Context, int) error {
					return func(ctx context.Context, i int) error { return raw.put(ctx, prefix, files[i]) }
				}
				verify = func() (string, error) {
					got, err := raw.count(ctx, set.name+"/")
					if err != nil {
						return "", err
					}
					if got != len(set.timed) {
						return "", fmt.Errorf("raw: %d objects under %s/, want %d", got, set.name, len(set.timed))
					}
					return fmt.Sprintf("%d objects", got), nil
				}
			}

			// Warm-up: the same number of instances per path.
			var warm []instance
			for _, r := range set.warmReqs {
				warm = append(warm, r.files...)
			}
			if path == pathRaw {
				n = len(warm)
			} else {
				n = len(set.warmReqs)
			}
			if n > 0 {
				if _, err := runLoad(ctx, n, opts.c, do(ctx, set.warmReqs, warm, "warmup-"+set.name+"/")); err != nil {
					return nil, fmt.Errorf("%s %s warm-up: %w", set.name, path, err)
				}
			}

			n = len(set.timedReqs)
			unit := "requests"
			if path == pathRaw {
				n, unit = len(set.timed), "PutObjects"
			}
			logf("%s %s: %d instances in %d %s, concurrency %d", set.name, path, len(set.timed), n, unit, opts.c)
			cpu0 := readCPU(pids)
			elapsed, err := runLoad(ctx, n, opts.c, do(ctx, set.timedReqs, set.timed, set.name+"/"))
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", set.name, path, err)
			}
			cpu := readCPU(pids).since(cpu0)
			sec := elapsed.Seconds()
			pr := phaseResult{
				Path: path, Requests: n, Seconds: sec,
				InstancesPerSec: float64(len(set.timed)) / sec, MBPerSec: float64(set.bytes()) / 1e6 / sec, CPU: cpu,
			}
			if pr.Verified, err = verify(); err != nil {
				return nil, fmt.Errorf("%s %s: not everything was stored: %w", set.name, path, err)
			}
			logf("%s %s: %.2f s, %.1f instances/s, %.1f MB/s; verified: %s", set.name, path, sec, pr.InstancesPerSec, pr.MBPerSec, pr.Verified)
			sr.Phases = append(sr.Phases, pr)
		}
		sr.finish()
		res.Sizes = append(res.Sizes, sr)
	}
	return res, nil
}

// requestsOf returns the load function of a STOW-RS path: request i.
func requestsOf(st *stower) func(context.Context, []stowRequest, []instance, string) func(context.Context, int) error {
	return func(_ context.Context, reqs []stowRequest, _ []instance, _ string) func(context.Context, int) error {
		return func(ctx context.Context, i int) error { return st.store(ctx, reqs[i]) }
	}
}

// countStored returns the rows of files and dicom_instances of the
// bench's own cases (seed --demo adds example cases with files of their
// own).
func (e *benchEnv) countStored(ctx context.Context) (files, instances int, err error) {
	conn, err := pgx.Connect(ctx, e.DBURL)
	if err != nil {
		return 0, 0, fmt.Errorf("connect to %s: %w", e.DBName, err)
	}
	defer conn.Close(context.Background())
	var cases []string
	for _, ids := range e.caseIDs {
		cases = append(cases, ids...)
	}
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM files WHERE case_id = ANY($1::uuid[])),
		(SELECT count(*) FROM dicom_instances di JOIN files f ON f.id = di.file_id WHERE f.case_id = ANY($1::uuid[]))`,
		cases).Scan(&files, &instances); err != nil {
		return 0, 0, fmt.Errorf("count files: %w", err)
	}
	return files, instances, nil
}

// postmasterPID returns the pid of the PostgreSQL server when it runs on
// this machine (the parent of a backend), or 0.
func (e *benchEnv) postmasterPID(ctx context.Context) int {
	conn, err := e.Services.ConnectAdmin(ctx)
	if err != nil {
		return 0
	}
	defer conn.Close(context.Background())
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0
	}
	ppid, ok := benchenv.ParentPID(backend)
	if !ok {
		return 0
	}
	return ppid
}
