package main

import (
	"os"
	"time"

	"github.com/teleread/teleread/scripts/bench/internal/benchenv"
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

func readCPU(p processes) cpuSample {
	s := cpuSample{at: time.Now()}
	s.busy, s.total, _ = benchenv.MachineCPU()
	s.self, _ = benchenv.ProcessCPU(os.Getpid())
	if p.server > 0 {
		s.server, s.haveServer = benchenv.ProcessCPU(p.server)
	}
	if p.orthanc > 0 {
		s.orthanc, s.haveOrthanc = benchenv.ProcessCPU(p.orthanc)
	}
	if p.minio > 0 {
		s.minio, s.haveMinIO = benchenv.ProcessCPU(p.minio)
	}
	if p.pg > 0 {
		s.pg, s.havePG = benchenv.TreeCPU(p.pg)
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
