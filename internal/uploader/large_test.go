package uploader_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/testenv"
	"github.com/teleread/teleread/internal/uploader"
)

// bigDICOM writes a DICOM file of frames 1024x1024 8-bit frames and
// returns its SHA-256 and size.
func bigDICOM(t *testing.T, path string, frames int) (string, int64) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	pixels := uint32(1024 * 1024 * frames)
	head := testenv.DICOMHeader(dicomfile.NewUID(), 1024, 1024, frames, pixels)
	_, _ = w.Write(head)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for range frames {
		_, err = w.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, w.Flush())
	return hex.EncodeToString(h.Sum(nil)), int64(len(head)) + int64(pixels)
}

// TestLargeFilePresignedInterruptedAndResumed sends a 300 MB file through
// a presigned multipart upload, stops the run once a few parts arrived,
// and runs again: only the missing parts are sent, the file is in once.
func TestLargeFilePresignedInterruptedAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("300 MB upload")
	}
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	path := filepath.Join(t.TempDir(), "BIG.dcm")
	sum, size := bigDICOM(t, path, 300)
	state := t.TempDir()
	cfg := uploader.Config{Client: b.client, CaseID: caseID, StateDir: state, Parallel: 2, Threshold: 32 << 20,
		PartSize: 16 << 20, RateLimit: 40 << 20}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arrived := make(chan int, 1)
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			id := stateUpload(state)
			if id == uuid.Nil {
				continue
			}
			up, err := b.client.Upload(ctx, caseID, id)
			if err == nil && up.Multipart != nil && len(up.Multipart.Arrived) >= 4 {
				arrived <- len(up.Multipart.Arrived)
				return
			}
		}
	}()
	_, err := uploader.New(cfg).Run(ctx, []string{path})
	require.ErrorIs(t, err, context.Canceled)
	var before int
	select {
	case before = <-arrived:
	default:
		t.Fatal("the run ended before any part arrived")
	}
	n, _ := b.files(t, caseID)
	require.Zero(t, n)

	cfg.RateLimit = 0
	rep, out := newRecorder()
	cfg.Events = rep
	got, err := uploader.New(cfg).Run(context.Background(), []string{path})
	require.NoError(t, err, out.String())
	require.Equal(t, 1, got.Sent, out.String())
	require.Contains(t, out.String(), "resume: "+path)
	require.LessOrEqual(t, got.Bytes, size-int64(before)*(16<<20), "the parts that arrived are not sent again")
	files, err := b.client.Files(context.Background(), caseID)
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.Equal(t, sum, files[0].SHA256)
	require.Equal(t, size, files[0].Size)
	require.Equal(t, uuid.Nil, stateUpload(state), "the state file is gone once the file is in")
}

// stateUpload returns the upload id of the one state file in dir, if any.
func stateUpload(dir string) uuid.UUID {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var s struct {
			UploadID uuid.UUID `json:"upload_id"`
		}
		if json.Unmarshal(raw, &s) == nil {
			return s.UploadID
		}
	}
	return uuid.Nil
}

// TestMemoryStaysFlat runs the command over 2,000 and then 20,000 small
// files (hard links of one instance the case already holds, so the run is
// the walk, the hashing and the lookups) and compares the peak resident
// memory (VmHWM) of the two sizes. (Until the identity package stopped
// computing an argon2id hash when it loaded, every run also held a freed
// 64 MiB block the heap reused, which hid up to that much growth.)
func TestMemoryStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 files")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc")
	}
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	src := filepath.Join("..", "dicomfile", "testdata", "CR_mono1_6154.dcm")
	raw, err := os.ReadFile(src)
	require.NoError(t, err)
	_, err = b.client.UploadFile(context.Background(), caseID, "6154", client.Body{Size: int64(len(raw)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }}, client.FileOptions{})
	require.NoError(t, err)

	tree := func(n int) string {
		dir := t.TempDir()
		orig := filepath.Join(dir, "orig.dcm")
		require.NoError(t, os.WriteFile(orig, raw, 0o644))
		for i := range n {
			sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/500))
			if i%500 == 0 {
				require.NoError(t, os.MkdirAll(sub, 0o755))
			}
			require.NoError(t, os.Link(orig, filepath.Join(sub, fmt.Sprintf("IM%05d", i))))
		}
		return dir
	}
	peak := func(dir string, files int) int64 {
		cmd := b.command(t, "--case", caseID.String(), "--state-dir", t.TempDir(), dir)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var hwm int64
		for {
			select {
			case err := <-done:
				require.NoError(t, err, out.String())
				require.Contains(t, out.String(), fmt.Sprintf("0 sent, %d already there", files+1))
				return hwm
			case <-time.After(5 * time.Millisecond):
				if v := vmHWM(cmd.Process.Pid); v > hwm {
					hwm = v
				}
			}
		}
	}
	// The lower of two runs of each: on a loaded machine (CI runs every
	// package at once on two cores) the collector can fall behind for a
	// moment and one run peaks higher; memory that grows with the number
	// of files is there in both.
	lower := func(n int) int64 {
		dir := tree(n)
		return min(peak(dir, n), peak(dir, n))
	}
	small := lower(2000)
	large := lower(20000)
	t.Logf("VmHWM, the lower of two runs: %d KiB for 2,000 files, %d KiB for 20,000", small>>10, large>>10)
	require.Positive(t, small)
	require.Less(t, large, small+12<<20, "memory grows with the number of files")
}

// vmHWM reads the peak resident set of a process, in bytes (0 if gone).
func vmHWM(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
