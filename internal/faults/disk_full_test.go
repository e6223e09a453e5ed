//go:build faults

package faults_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMinIODiskFull fills the disk under the drill's MinIO for real: its
// drive is moved onto a tmpfs of 1.2 GiB (the drill needs root, as the CI
// runner and this machine have), which a file outside MinIO then fills up
// to the last 16 MiB. A 64 MiB upload (raw body, and STOW-RS) must answer
// 503 problem+json with Retry-After and a reason, leave the case as it was
// with no file row without its object, and the server must keep serving
// reads: the content of a file stored before, and the worklist. Once space
// is freed, the same upload succeeds.
func TestMinIODiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs under MinIO needs root")
	}
	t.Parallel()
	d := newDrill(t, nil)
	drive := filepath.Join(d.stack.Dir, "minio")
	d.stack.Down(t, "minio")
	kept := drive + ".kept"
	require.NoError(t, os.Rename(drive, kept))
	require.NoError(t, os.Mkdir(drive, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1200m", "tmpfs", drive).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		d.stack.Down(t, "minio")
		if out, err := exec.Command("umount", "-l", drive).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", drive, err, out)
		}
	})
	if out, err := exec.Command("cp", "-a", kept+"/.", drive+"/").CombinedOutput(); err != nil {
		t.Fatalf("copy the drive: %v: %s", err, out)
	}
	d.stack.Up(t, "minio")

	srv := d.serve(t, nil)
	caseID := d.newCase(t, srv.URL, false)
	a := d.rawUpload(t, srv.URL, caseID, "before.dcm", dicom(256<<10))
	require.Equal(t, http.StatusCreated, a.status, a.String())
	var up struct {
		Files []struct {
			File struct {
				ID string `json:"id"`
			} `json:"file"`
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal(a.body, &up))
	storedID := up.Files[0].File.ID

	// Fill the disk, leaving 16 MiB.
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(drive, &st))
	free := int64(st.Bavail) * st.Bsize
	filler := filepath.Join(drive, "filler")
	out, err := exec.Command("fallocate", "-l", fmt.Sprint(free-16<<20), filler).CombinedOutput()
	require.NoError(t, err, "fallocate: %s", out)
	before := d.caseState(t, caseID)

	big := dicom(64 << 20)
	full := d.rawUpload(t, srv.URL, caseID, "big.dcm", big)
	requireUnavailable(t, full, "upload to a full disk")
	t.Logf("raw upload to a full disk: %s", full)
	stowFull := d.stow(t, srv.URL, caseID, big)
	requireUnavailable(t, stowFull, "STOW-RS to a full disk")
	require.Equal(t, before, d.caseState(t, caseID), "nothing half-recorded")
	d.requireNoDanglingFiles(t)

	// Reads still served.
	content := d.do(t, http.MethodGet, srv.URL+"/api/v1/files/"+storedID+"/content", staffEmail, "", nil)
	require.Equal(t, http.StatusOK, content.status, "content of a stored file")
	require.True(t, bytes.HasPrefix(content.body[128:], []byte("DICM")))
	wl := d.do(t, http.MethodGet, srv.URL+"/api/v1/worklist", radEmail, "", nil)
	require.Equal(t, http.StatusOK, wl.status, wl.String())

	// Space freed: the same upload succeeds.
	require.NoError(t, os.Remove(filler))
	// (MinIO notices the free space within a few seconds.)
	eventually(t, time.Minute, "the upload to succeed once space is freed", func() bool {
		a = d.rawUpload(t, srv.URL, caseID, "big.dcm", big)
		require.Contains(t, []int{http.StatusCreated, http.StatusServiceUnavailable}, a.status, a.String())
		return a.status == http.StatusCreated
	})
	require.Equal(t, before.Files+1, d.caseState(t, caseID).Files)
	d.requireNoDanglingFiles(t)
}
