package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuSample is CPU time used so far, in seconds: by the machine (busy and
// total, from /proc/stat), this process, the server and the PostgreSQL
// backends of the benchmark's database.
type cpuSample struct {
	busy, total      float64
	self, server, pg float64
	load1            float64
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func sampleCPU(serverPID int, dbName string) cpuSample {
	var s cpuSample
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) > 5 && f[0] == "cpu" {
			for i, v := range f[1:] {
				n, _ := strconv.ParseFloat(v, 64)
				s.total += n
				if i != 3 && i != 4 { // idle, iowait
					s.busy += n
				}
			}
			s.busy /= clockTicks
			s.total /= clockTicks
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			s.load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	s.self = procCPU(os.Getpid())
	if serverPID > 0 {
		s.server = procCPU(serverPID)
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
			s.pg += procCPU(pid)
		}
	}
	return s
}

// procCPU returns utime+stime of pid in seconds (0 if unreadable).
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command may hold spaces: the fields start after its ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / clockTicks
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
