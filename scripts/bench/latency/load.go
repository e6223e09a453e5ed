package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The machine's load during a phase, so that a run on a busy machine says
// so: the figures are latencies, and other work lengthens them. Linux only
// (/proc); elsewhere the load is reported as unknown (-1).

// cpuSample is CPU time so far, in clock ticks: the machine's busy and
// total time; the shared services' (MinIO, and PostgreSQL's postmaster and
// background processes), which this benchmark drives but others may too;
// and every other process's that is not this benchmark's (this process,
// its server, and the PostgreSQL backends of its database, known by the
// database name in their process title).
type cpuSample struct {
	ok          bool
	busy, total float64
	shared      float64
	other       float64
}

// sampleCPU reads the machine's and the other processes' CPU time.
func sampleCPU(serverPID int, dbName string) cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuSample{}
	}
	s := cpuSample{ok: true}
	for i, v := range f[1:min(len(f), 8)] { // user nice system idle iowait irq softirq (steal and guest excluded)
		t, _ := strconv.ParseFloat(v, 64)
		s.total += t
		if i != 3 && i != 4 {
			s.busy += t
		}
	}
	dirs, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self || pid == serverPID {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		switch processKind(cmd, dbName) {
		case "mine":
		case "shared":
			s.shared += procTicks(pid)
		default:
			s.other += procTicks(pid)
		}
	}
	return s
}

// processKind tells from its command line whether a process is the
// benchmark's ("mine": a backend of its database), a shared service
// ("shared": MinIO, the postmaster and PostgreSQL's background processes)
// or "other" (including backends of other databases).
func processKind(cmdline []byte, dbName string) string {
	cmd := string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
	switch {
	case dbName != "" && strings.Contains(cmd, dbName):
		return "mine"
	case strings.Contains(cmd, "minio server"):
		return "shared"
	case strings.HasPrefix(cmd, "postgres: "):
		if strings.Contains(cmd, "(") { // "postgres: user db host(port) state": a client's backend
			return "other"
		}
		return "shared"
	case strings.Contains(cmd, "bin/postgres "):
		return "shared"
	}
	return "other"
}

// procTicks returns a process's user and system time (all its threads).
func procTicks(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64) // utime, field 14 of stat
	s, _ := strconv.ParseFloat(f[12], 64) // stime, field 15
	return u + s
}

// loadSince returns the phase's load since from: the shares of all CPUs
// that were busy, busy with the shared services and busy with other
// processes, in percent.
func loadSince(from, to cpuSample) phaseLoad {
	if !from.ok || !to.ok || to.total <= from.total {
		return phaseLoad{MachineBusyPct: -1, SharedBusyPct: -1, OtherBusyPct: -1}
	}
	d := to.total - from.total
	return phaseLoad{MachineBusyPct: 100 * (to.busy - from.busy) / d, SharedBusyPct: max(0, 100*(to.shared-from.shared)/d),
		OtherBusyPct: max(0, 100*(to.other-from.other)/d)}
}
