package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// runPhases warms both paths up, then times them in opts.order.
func runPhases(ctx context.Context, e *benchEnv, opts options, set *instanceSet, logf func(string, ...any)) (*results, error) {
	res := &results{
		N: opts.n, Concurrency: opts.c, SizeKB: opts.sizeKB, Order: opts.order, Multipart: opts.multipart,
		Workers: opts.workers, InstanceBytes: set.size, Image: set.image,
		Studies: set.studies, TotalBytes: set.bytes(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		GoVersion: runtime.Version(),
	}
	up := &uploader{
		client: newHTTPClient(opts.c), baseURL: e.BaseURL, token: e.staffToken,
		caseIDs: append(append([]string(nil), e.caseIDs...), e.warmCaseID), multipart: opts.multipart > 0,
	}
	raw := &rawPutter{mc: e.MC, bucket: e.rawBucket}
	partSize := int64(opts.partMB) << 20
	mp := &multipartPutter{mc: e.MC, bucket: e.rawBucket, partSize: partSize, partC: opts.partC}
	var pre *presigner
	if strings.ContainsRune(opts.order, 'p') {
		c, err := client.New(e.BaseURL, e.staffToken)
		if err != nil {
			return nil, err
		}
		pre = &presigner{c: c, caseIDs: up.caseIDs, partSize: partSize, partC: opts.partC}
		logf("hashing %d instances for the presigned path (untimed)", len(set.warm)+len(set.timed))
		if err := pre.hashAll(append(append([]instance(nil), set.warm...), set.timed...)); err != nil {
			return nil, err
		}
	}
	var cli *cliUploader
	if strings.ContainsRune(opts.order, 'u') {
		dir, err := os.MkdirTemp("", "teleread-bench-upload-")
		if err != nil {
			return nil, err
		}
		if !opts.keep {
			defer os.RemoveAll(dir)
		}
		cli = &cliUploader{bin: e.Bin, baseURL: e.BaseURL, token: e.staffToken, caseIDs: up.caseIDs, dir: dir, parallel: opts.c}
		logf("writing %d instances to %s for teleread upload (untimed)", len(set.warm)+len(set.timed), dir)
		if err := cli.write("warm", set.warm); err != nil {
			return nil, err
		}
		if err := cli.write("timed", set.timed); err != nil {
			return nil, err
		}
	}
	minioPID := readPIDFile(filepath.Join(e.Root, ".data", "minio.pid"))
	pgPID := e.postmasterPID(ctx)
	serverPID := -1
	if e.Server != nil {
		serverPID = e.Server.Process.Pid
	}

	if len(set.warm) > 0 {
		logf("warm-up: %d instances per path (untimed)", len(set.warm))
		if strings.Contains(opts.order, "a") {
			if _, err := runLoad(ctx, apiRequests(set.warm, opts.multipart), opts.c, up.upload); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
		if strings.Contains(opts.order, "b") {
			raw.prefix = "warmup/"
			if _, err := runLoad(ctx, apiRequests(set.warm, 0), opts.c, raw.put); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
		// The presigned path warms up on the same instances only when the
		// API did not already store them (it would answer duplicates).
		if pre != nil && !strings.Contains(opts.order, "a") {
			if _, err := runLoad(ctx, apiRequests(set.warm, 0), opts.c, pre.upload); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
		if cli != nil && !strings.Contains(opts.order, "a") {
			if _, err := runLoad(ctx, studyRequests(set.warm), 1, cli.run("warm")); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
			cli.takeCPU()
		}
		if strings.Contains(opts.order, "m") {
			mp.prefix = "warmup-mp/"
			if _, err := runLoad(ctx, apiRequests(set.warm, 0), opts.c, mp.put); err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	if n := strings.Count(opts.order, "a") + strings.Count(opts.order, "p") + strings.Count(opts.order, "u"); n > 1 {
		return nil, fmt.Errorf("-order: phases a, p and u would store the same instances twice in the same cases; run them in separate runs")
	}

	for _, phase := range opts.order {
		var (
			path string
			reqs []request
			do   func(context.Context, request) error
		)
		switch phase {
		case 'a':
			path, reqs, do = "api", apiRequests(set.timed, opts.multipart), up.upload
		case 'b':
			path, reqs, do = "raw", apiRequests(set.timed, 0), raw.put
			raw.prefix = "raw/"
		case 'p':
			path, reqs, do = "presigned", apiRequests(set.timed, 0), pre.upload
		case 'm':
			path, reqs, do = "multipart", apiRequests(set.timed, 0), mp.put
			mp.prefix = "multipart/"
		case 'u':
			path, reqs, do = "uploader", studyRequests(set.timed), cli.run("timed")
		}
		serverPhase := phase == 'a' || phase == 'p' || phase == 'u'
		if serverPhase {
			before, err := readMem(serverPID)
			if err != nil {
				return nil, err
			}
			res.Server.RSSBeforeKB, res.Server.HWMBeforeKB = before.rssKB, before.hwmKB
		}
		logf("phase %s: %d instances in %d requests, concurrency %d", path, len(set.timed), len(reqs), opts.c)
		conc := opts.c
		if phase == 'u' {
			conc = 1 // one folder at a time; the command sends opts.c files at once
		}
		cpu0 := readCPU(serverPID, minioPID, pgPID)
		lr, err := runLoad(ctx, reqs, conc, do)
		if err != nil {
			return nil, fmt.Errorf("phase %s: %w", path, err)
		}
		pr := summarize(path, lr)
		pr.CPU = readCPU(serverPID, minioPID, pgPID).since(cpu0)
		if phase == 'u' {
			// The commands are the client; the machine's count had them
			// under "other".
			v := cli.takeCPU()
			pr.CPU.ClientSec += v
			pr.CPU.OtherSec = max(pr.CPU.OtherSec-v, 0)
		}
		res.Phases = append(res.Phases, pr)
		logf("phase %s: %.1f s, %.1f instances/s, %.1f MB/s", path, pr.Seconds, pr.InstancesPerSec, pr.MBPerSec)

		if serverPhase {
			after, err := readMem(serverPID)
			if err != nil {
				return nil, err
			}
			res.Server.RSSAfterKB, res.Server.PeakRSSKB = after.rssKB, after.hwmKB
			if err := e.countIndexed(ctx, &res.Server); err != nil {
				return nil, err
			}
			res.Server.ExpectedFiles = len(set.timed) + len(set.warm)
		}
	}
	res.finish()
	return res, nil
}

// countIndexed reads what the server recorded: files, DICOM instances,
// queued jobs and objects in its bucket.
func (e *benchEnv) countIndexed(ctx context.Context, s *serverStats) error {
	conn, err := pgx.Connect(ctx, e.DBURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", e.DBName, err)
	}
	defer conn.Close(context.Background())
	// Files and instances of the bench's own cases (the demo seed has
	// example cases of its own); River jobs of every kind.
	cases := append(append([]string(nil), e.caseIDs...), e.warmCaseID)
	for _, c := range []struct {
		q    string
		args []any
		dst  *int
	}{
		{"SELECT count(*) FROM files WHERE case_id = ANY($1::uuid[])", []any{cases}, &s.Files},
		{"SELECT count(*) FROM dicom_instances di JOIN files f ON f.id = di.file_id WHERE f.case_id = ANY($1::uuid[])",
			[]any{cases}, &s.DICOMInstances},
		{"SELECT count(*) FROM river_job", nil, &s.Jobs},
	} {
		if err := conn.QueryRow(ctx, c.q, c.args...).Scan(c.dst); err != nil {
			return fmt.Errorf("%s: %w", c.q, err)
		}
	}
	for obj := range e.MC.ListObjects(ctx, e.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("list bucket %s: %w", e.Bucket, obj.Err)
		}
		s.Objects++
	}
	return nil
}

// mem is a process's resident memory from /proc/<pid>/status.
type mem struct{ rssKB, hwmKB int64 }

func readMem(pid int) (mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, fmt.Errorf("server memory (Linux /proc only): %w", err)
	}
	var m mem
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rssKB = v
		case "VmHWM:":
			m.hwmKB = v
		}
	}
	return m, nil
}

// cpuSample is CPU time used so far, in seconds: by the machine (busy and
// total, from /proc/stat), this process, the server, MinIO and PostgreSQL
// (when known).
type cpuSample struct {
	at                                         time.Time
	busy, total, self, server, minio, pg       float64
	haveMachine, haveServer, haveMinIO, havePG bool
}

func readCPU(serverPID, minioPID, pgPID int) cpuSample {
	s := cpuSample{at: time.Now()}
	s.busy, s.total, s.haveMachine = benchenv.MachineCPU()
	s.self, _ = benchenv.ProcessCPU(os.Getpid())
	s.server, s.haveServer = benchenv.ProcessCPU(serverPID)
	if minioPID > 0 {
		s.minio, s.haveMinIO = benchenv.ProcessCPU(minioPID)
	}
	if pgPID > 0 {
		s.pg, s.havePG = benchenv.TreeCPU(pgPID)
	}
	return s
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
		return 0 // not on this machine, or not visible
	}
	return ppid
}

// since returns the CPU used between s0 and s.
func (s cpuSample) since(s0 cpuSample) cpuUse {
	var u cpuUse
	wall := s.at.Sub(s0.at).Seconds()
	if s.haveMachine && s.total > s0.total {
		u.MachineBusyPct = 100 * (s.busy - s0.busy) / (s.total - s0.total)
		u.MachineCores = (s.busy - s0.busy) / wall
	}
	u.ClientSec = s.self - s0.self
	if s.haveServer {
		v := s.server - s0.server
		u.ServerSec = &v
	}
	if s.haveMinIO && s0.haveMinIO {
		v := s.minio - s0.minio
		u.MinIOSec = &v
	}
	if s.havePG && s0.havePG {
		v := s.pg - s0.pg
		u.PostgresSec = &v
	}
	if s.haveMachine {
		// What the machine did besides the processes above (the kernel's
		// own work, other programs): a large value means a noisy run.
		v := (s.busy - s0.busy) - u.ClientSec
		for _, p := range []*float64{u.ServerSec, u.MinIOSec, u.PostgresSec} {
			if p != nil {
				v -= *p
			}
		}
		u.OtherSec = max(v, 0)
	}
	return u
}

func readPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
