package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
)

// cliUploader sends each study's instances with `teleread upload`, the
// command a site runs (phase u): the files are written to a folder per
// study before timing, and each request of the phase is one run of the
// command on one folder, with its defaults (small DICOM files packed 50
// to a request) and --parallel c. The commands' CPU counts as the
// client's.
type cliUploader struct {
	bin, baseURL, token string
	caseIDs             []string // by study index
	dir                 string   // the folders, and the commands' state
	parallel            int

	mu     sync.Mutex
	cpuSec float64
}

// write puts files into folder sub of the uploader's directory, one
// sub-folder per study.
func (u *cliUploader) write(sub string, files []instance) error {
	for _, f := range files {
		d := filepath.Join(u.dir, sub, strconv.Itoa(f.study))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		b := append(append(make([]byte, 0, f.size()), f.head...), f.tail...)
		if err := os.WriteFile(filepath.Join(d, f.name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// studyRequests groups files into one request per study.
func studyRequests(files []instance) []request {
	return apiRequests(files, len(files)+1)
}

// run returns the request function of phase u for the folders under sub.
func (u *cliUploader) run(sub string) func(context.Context, request) error {
	return func(ctx context.Context, r request) error {
		study := r.files[0].study
		folder := filepath.Join(u.dir, sub, strconv.Itoa(study))
		cmd := exec.CommandContext(ctx, u.bin, "upload", "--server", u.baseURL, "--case", u.caseIDs[study],
			"--parallel", strconv.Itoa(u.parallel), "--json", "--state-dir", filepath.Join(u.dir, "state"), folder)
		cmd.Env = append(os.Environ(), "TELEREAD_TOKEN="+u.token)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if cmd.ProcessState != nil {
			u.mu.Lock()
			u.cpuSec += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			u.mu.Unlock()
		}
		if err != nil {
			return fmt.Errorf("teleread upload %s: %w: %s", folder, err, bytes.TrimSpace(stderr.Bytes()))
		}
		sent := 0
		sc := bufio.NewScanner(&stdout)
		for sc.Scan() {
			var ev struct{ Event string }
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "sent" {
				sent++
			}
		}
		if sent != len(r.files) {
			return fmt.Errorf("teleread upload %s: %d of %d files sent: %s", folder, sent, len(r.files), bytes.TrimSpace(stdout.Bytes()))
		}
		return nil
	}
}

// takeCPU returns the commands' CPU seconds so far and resets the count.
func (u *cliUploader) takeCPU() float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	v := u.cpuSec
	u.cpuSec = 0
	return v
}
