package benchenv

import (
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux the benchmarks run on.
const clockTicks = 100

// MachineCPU returns the CPU seconds the whole machine has spent busy and
// in all (busy plus idle and iowait) since boot, from /proc/stat; ok is
// false where it cannot be read.
func MachineCPU() (busy, total float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) <= 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy / clockTicks, total / clockTicks, true
}

// ProcessCPU returns the CPU seconds (utime+stime) pid has used.
func ProcessCPU(pid int) (float64, bool) {
	ut, ok := procField(pid, 11)
	st, ok2 := procField(pid, 12)
	return (ut + st) / clockTicks, ok && ok2
}

// TreeCPU returns the CPU seconds of pid and of its children alive now
// (PostgreSQL's postmaster and its backends).
func TreeCPU(pid int) (float64, bool) {
	total, ok := ProcessCPU(pid)
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
			c, _ := ProcessCPU(child)
			total += c
		}
	}
	return total, true
}

// procField returns field i of /proc/<pid>/stat counted from the one after
// the command name (0 is the state, 1 the parent pid, 11 utime, 12 stime).
func procField(pid, i int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command may hold spaces: the fields start after its ")".
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

// ParentPID returns the parent of pid.
func ParentPID(pid int) (int, bool) {
	ppid, ok := procField(pid, 1)
	return int(ppid), ok
}
