package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
)

// cpuSample is CPU time used so far, in seconds: by the machine (busy and
// total, from /proc/stat), this process, the server and the PostgreSQL
// backends of the benchmark's database.
type cpuSample struct {
	busy, total      float64
	self, server, pg float64
	load1            float64
}

func sampleCPU(serverPID int, dbName string) cpuSample {
	var s cpuSample
	s.busy, s.total, _ = benchenv.MachineCPU()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			s.load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	s.self, _ = benchenv.ProcessCPU(os.Getpid())
	if serverPID > 0 {
		s.server, _ = benchenv.ProcessCPU(serverPID)
	}
	// The backends of the database show it in their title:
	// "postgres: user dbname host(port) state".
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil || !strings.HasPrefix(string(b), "postgres: ") {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == dbName {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			c, _ := benchenv.ProcessCPU(pid)
			s.pg += c
		}
	}
	return s
}

// cpuUse is the CPU the timed searches used, in seconds.
type cpuUse struct {
	MachineBusyPct float64 `json:"machine_busy_pct"`
	ClientSec      float64 `json:"client_sec"`
	ServerSec      float64 `json:"teleread_sec"`
	PostgresSec    float64 `json:"postgres_sec"`
	// OtherSec is what the machine did besides: other programs (a shared
	// machine's tests), the kernel. A large value means a noisy run.
	OtherSec   float64 `json:"other_sec"`
	LoadBefore float64 `json:"load1_before"`
	LoadAfter  float64 `json:"load1_after"`
}

func (s cpuSample) since(s0 cpuSample) cpuUse {
	u := cpuUse{ClientSec: s.self - s0.self, ServerSec: s.server - s0.server, PostgresSec: s.pg - s0.pg,
		LoadBefore: s0.load1, LoadAfter: s.load1}
	if s.total > s0.total {
		u.MachineBusyPct = 100 * (s.busy - s0.busy) / (s.total - s0.total)
	}
	u.OtherSec = max(0, (s.busy-s0.busy)-u.ClientSec-u.ServerSec-u.PostgresSec)
	return u
}
