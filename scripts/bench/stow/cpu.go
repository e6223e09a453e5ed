package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// processes are the pids whose CPU a phase reports; 0 is unknown.
type processes struct{ server, orthanc, minio, pg int }

// cpuSample is CPU time used so far, in seconds: by the machine (busy and
// total, from /proc/stat), this process and each of processes.
type cpuSample struct {
	at                                         time.Time
	busy, total                                float64
	self, server, orthanc, minio, pg           float64
	haveServer, haveOrthanc, haveMinIO, havePG bool
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func readCPU(p processes) cpuSample {
	s := cpuSample{at: time.Now()}
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
	s.self, _ = procCPU(os.Getpid())
	if p.server > 0 {
		s.server, s.haveServer = procCPU(p.server)
	}
	if p.orthanc > 0 {
		s.orthanc, s.haveOrthanc = procCPU(p.orthanc)
	}
	if p.minio > 0 {
		s.minio, s.haveMinIO = procCPU(p.minio)
	}
	if p.pg > 0 {
		s.pg, s.havePG = treeCPU(p.pg)
	}
	return s
}

// cpuUse is the CPU a phase used, in seconds (nil: process unknown).
type cpuUse struct {
	MachineBusyPct float64  `json:"machine_busy_pct"`
	ClientSec      float64  `json:"client_sec"`
	ServerSec      *float64 `json:"teleread_sec,omitempty"`
	OrthancSec     *float64 `json:"orthanc_sec,omitempty"`
	MinIOSec       *float64 `json:"minio_sec,omitempty"`
	PostgresSec    *float64 `json:"postgres_sec,omitempty"`
	// OtherSec is what the machine did besides the processes above (the
	// kernel's own work, other programs): a large value means a noisy run.
	OtherSec float64 `json:"other_sec"`
}

// since returns the CPU used between s0 and s.
func (s cpuSample) since(s0 cpuSample) cpuUse {
	var u cpuUse
	if s.total > s0.total {
		u.MachineBusyPct = 100 * (s.busy - s0.busy) / (s.total - s0.total)
	}
	u.ClientSec = s.self - s0.self
	d := func(have bool, a, b float64) *float64 {
		if !have {
			return nil
		}
		v := a - b
		return &v
	}
	u.ServerSec = d(s.haveServer && s0.haveServer, s.server, s0.server)
	u.OrthancSec = d(s.haveOrthanc && s0.haveOrthanc, s.orthanc, s0.orthanc)
	u.MinIOSec = d(s.haveMinIO && s0.haveMinIO, s.minio, s0.minio)
	u.PostgresSec = d(s.havePG && s0.havePG, s.pg, s0.pg)
	other := (s.busy - s0.busy) - u.ClientSec
	for _, p := range []*float64{u.ServerSec, u.OrthancSec, u.MinIOSec, u.PostgresSec} {
		if p != nil {
			other -= *p
		}
	}
	u.OtherSec = max(other, 0)
	return u
}

// treeCPU returns the CPU of pid and its children that are alive now
// (PostgreSQL's postmaster and its backends).
func treeCPU(pid int) (float64, bool) {
	total, ok := procCPU(pid)
	if !ok {
		return 0, false
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil || child == pid {
			continue
		}
		if ppid, _ := procField(child, 1); ppid == float64(pid) {
			c, _ := procCPU(child)
			total += c
		}
	}
	return total, true
}

// procCPU returns utime+stime of pid in seconds.
func procCPU(pid int) (float64, bool) {
	ut, ok := procField(pid, 11)
	st, ok2 := procField(pid, 12)
	return (ut + st) / clockTicks, ok && ok2
}

// procField returns field i of /proc/<pid>/stat counted from the one after
// the command name (0 is the state, 1 the parent pid, 11 utime, 12 stime).
func procField(pid, i int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	j := strings.LastIndexByte(string(b), ')')
	if j < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) <= i {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[i], 64)
	return v, err == nil
}
