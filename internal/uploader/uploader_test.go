package uploader_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/uploader"
)

func newRecorder() (*uploader.LineReporter, *syncBuffer) {
	var buf syncBuffer
	return uploader.NewLineReporter(&buf, time.Hour, true), &buf
}

func TestRefusedFileIsReportedAndTheRestGoThrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	dir := t.TempDir()
	study(t, filepath.Join(dir, "good"), 3)
	require.NoError(t, os.Remove(filepath.Join(dir, "good", "DICOMDIR")))
	bad, err := os.ReadFile(filepath.Join("..", "intake", "testdata", "bad_MR_truncated.dcm"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.dcm"), bad, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("call the patient"), 0o644))
	photo, err := os.ReadFile(filepath.Join("..", "intake", "testdata", "retina.jpg"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lesion.jpg"), photo, 0o644))

	rep, out := newRecorder()
	sum, err := uploader.New(uploader.Config{Client: b.client, CaseID: caseID, StateDir: t.TempDir(), Events: rep}).
		Run(context.Background(), []string{dir})
	require.NoError(t, err)
	require.Equal(t, 3, sum.Sent, out.String())
	require.Equal(t, 1, sum.Refused)
	require.Equal(t, 2, sum.Skipped, "the text file, and the photo of a radiology case")
	require.Equal(t, filepath.Join(dir, "bad.dcm"), sum.RefusedFiles[0].Path)
	require.Contains(t, sum.RefusedFiles[0].Reason, "truncated")
	require.Contains(t, out.String(), "skip: "+filepath.Join(dir, "notes.txt")+": not DICOM or a photo")
	require.Contains(t, out.String(), "photos are sent to dermatology cases only")
	n, _ := b.files(t, caseID)
	require.Equal(t, 3, n)

	// The command says so with exit code 1, and sends nothing twice.
	cmd := b.command(t, "--case", caseID.String(), "--state-dir", t.TempDir(), "--json", dir)
	stdout, err := cmd.Output()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 1, exit.ExitCode(), string(stdout))
	events := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		require.Equal(t, caseID.String(), e["case_id"], sc.Text())
		events[e["event"].(string)]++
	}
	require.Equal(t, map[string]int{"already_there": 3, "started": 1, "refused": 1, "skipped": 2, "summary": 1}, events)
	n, _ = b.files(t, caseID)
	require.Equal(t, 3, n)
}

func TestRetriesThrough503(t *testing.T) {
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	dir := t.TempDir()
	study(t, dir, 5)
	target, err := url.Parse(b.srv.URL)
	require.NoError(t, err)
	p := &proxy{fail: 2, target: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	retries := 0
	c, err := client.New(front.URL, b.token, client.WithRetry(client.Retry{Attempts: 5, Base: 10 * time.Millisecond,
		Max: 50 * time.Millisecond, OnRetry: func(int, time.Duration, error) { retries++ }}))
	require.NoError(t, err)
	sum, err := uploader.New(uploader.Config{Client: c, CaseID: caseID, StateDir: t.TempDir()}).
		Run(context.Background(), []string{dir})
	require.NoError(t, err)
	require.Equal(t, 5, sum.Sent)
	require.Equal(t, 2, retries)
	require.Equal(t, 2, p.failed)
	n, distinct := b.files(t, caseID)
	require.Equal(t, 5, n)
	require.Equal(t, 5, distinct)

	t.Run("Unreachable", func(t *testing.T) {
		cmd := b.command(t, "--case", caseID.String(), "--retries", "2", dir)
		cmd.Args[3] = "http://127.0.0.1:1" // --server
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		require.Equal(t, 3, exit.ExitCode(), string(out))
	})
	t.Run("BadToken", func(t *testing.T) {
		cmd := b.command(t, "--case", caseID.String(), dir)
		cmd.Env = append(cmd.Env, "TELEREAD_TOKEN=trt_nope")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		require.Equal(t, 3, exit.ExitCode(), string(out))
	})
	t.Run("Usage", func(t *testing.T) {
		out, err := b.command(t, dir).CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		require.Equal(t, 2, exit.ExitCode(), string(out))
		require.Contains(t, string(out), "--case ID or --new-case")
	})
}

// TestDICOMDIRKilledAndResumed sends a folder of 200 instances with a
// DICOMDIR (and a file it does not list), kills the command halfway and
// runs it again: all 200 are in the case exactly once, the other file not.
func TestDICOMDIRKilledAndResumed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	caseID := b.newCase(t, "radiology")
	dir := t.TempDir()
	study(t, dir, 200)
	extra := study(t, t.TempDir(), 1)[0]
	raw, err := os.ReadFile(extra)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "SE1", "NOTLISTED"), raw, 0o644))
	state := t.TempDir()

	cmd := b.command(t, "--case", caseID.String(), "--state-dir", state, "--rate-limit", "1M", "--parallel", "2", dir)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _ := b.files(t, caseID)
		if n >= 40 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no progress: %s", out.String())
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	half, _ := b.files(t, caseID)
	require.Less(t, half, 200, "killed halfway")

	cmd = b.command(t, "--case", caseID.String(), "--state-dir", state, "--submit", dir)
	got, err := cmd.CombinedOutput()
	require.NoError(t, err, string(got))
	require.Contains(t, string(got), "already there")
	require.Contains(t, string(got), "submitted")
	n, distinct := b.files(t, caseID)
	require.Equal(t, 200, n, string(got))
	require.Equal(t, 200, distinct)
	var notListed int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM files WHERE case_id = $1 AND filename = 'NOTLISTED'", caseID).Scan(&notListed))
	require.Zero(t, notListed, "only the files the DICOMDIR lists are sent")
	require.True(t, strings.Contains(string(got), "0 refused"), string(got))
}
