//go:build drill

package drill_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/client"
	"github.com/teleread/teleread/internal/postgres"
)

// TestBackupRestore is the backup and restore drill (issue 14, point 4)
// on a private stack: cases with files (DICOM, photos, previews) and
// reports, delivered and acknowledged, are backed up with scripts/backup.sh
// (pg_dump and `mc mirror`); the database is dropped and MinIO's drive
// emptied; scripts/backup.sh restores them. Then `teleread audit verify`
// passes, every file's object hashes to the SHA-256 the files table holds,
// the rows and objects are those of before, and a server on the restored
// stack serves the cases and their bytes.
func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "backup")
	f := newFleet(t, r, 1, 1)
	clk, err := newClock(r.pool)
	require.NoError(t, err)
	d := newDriver(t, r, f.URL, clk)
	runs, failed := d.runCases(ctx, 12, 4)
	require.Empty(t, failed)
	// A DICOM over 2 MiB takes the other way into the bucket (an object of
	// its own under orgs/{org}/objects/), in a draft case.
	big := &caseRun{n: 99, specialty: api.SpecialtyRadiology}
	require.NoError(t, d.create(ctx, big))
	px := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 512*512*12/8)
	dcm := append(bigHeader(), px...)
	_, err = d.staff.UploadFile(ctx, big.id, "big.dcm", bytesBody(dcm), client.FileOptions{ContentType: "application/dicom"})
	require.NoError(t, err)
	// Wait for the previews the workers render, then stop every process:
	// the backup is of a quiet installation, so before and after compare.
	time.Sleep(2 * time.Second)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')
			AND kind NOT IN ('sweep', 'intake_sweep', 'expire_leases', 'audit_fold', 'escalate')`).Scan(&n))
		return n == 0
	}, time.Minute, 200*time.Millisecond)
	for _, s := range append(f.serves, f.workers...) {
		s.stop()
	}
	before := snapshot(t, r)
	require.GreaterOrEqual(t, before.rows["files"], int64(13))
	require.Positive(t, before.rows["reports"])
	t.Logf("before: %v rows; %d objects", before.rows, len(before.objects))

	dir := filepath.Join(t.TempDir(), "backup-1")
	out := r.script(t, "backup", dir)
	t.Logf("backup: %s", out)
	info, err := os.ReadFile(filepath.Join(dir, "backup.info"))
	require.NoError(t, err)
	require.Contains(t, string(info), "objects=")

	// Wipe: drop the database (and make an empty one), empty MinIO's drive.
	r.pool.Close()
	dbURL := r.stack.Env["TELEREAD_DATABASE_URL"]
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	require.NoError(t, admin.Close(ctx))
	r.stack.Down(t, "minio")
	require.NoError(t, os.RemoveAll(filepath.Join(r.stack.Dir, "minio")))
	r.stack.Up(t, "minio")
	r.pool, err = postgres.Open(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(r.pool.Close)
	var tables int
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables))
	require.Zero(t, tables, "the database is empty after the wipe")
	_, err = r.store.List(ctx, "")
	require.Error(t, err, "the bucket is gone after the wipe")

	out = r.script(t, "restore", dir)
	t.Logf("restore: %s", out)
	out = r.script(t, "verify")
	t.Logf("verify: %s", out)
	require.Contains(t, out, "audit log intact")
	require.Contains(t, out, "files intact: ")

	// The same checks again from here, not through the script.
	out, err = r.run(ctx, "audit", "verify")
	require.NoError(t, err, out)
	after := snapshot(t, r)
	require.Equal(t, before.rows, after.rows, "rows per table")
	require.Equal(t, before.objects, after.objects, "objects and their sizes")
	rows, err := r.pool.Query(ctx, `SELECT id, blob_key, stored_sha256, stored_size FROM files`)
	require.NoError(t, err)
	type file struct {
		id       uuid.UUID
		key, sum string
		size     int64
	}
	var files []file
	for rows.Next() {
		var fl file
		require.NoError(t, rows.Scan(&fl.id, &fl.key, &fl.sum, &fl.size))
		files = append(files, fl)
	}
	require.NoError(t, rows.Err())
	for _, fl := range files {
		rc, _, err := r.store.Get(ctx, fl.key, 0, -1)
		require.NoError(t, err, "file %s object %s", fl.id, fl.key)
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		require.NoError(t, err)
		require.Equal(t, fl.size, n, "file %s size", fl.id)
		require.Equal(t, fl.sum, hex.EncodeToString(h.Sum(nil)), "file %s SHA-256", fl.id)
	}
	t.Logf("after restore: audit intact, %d files hash to their SHA-256, %d objects as before", len(files), len(after.objects))

	// And the application works on the restored stack.
	f2 := newFleet(t, r, 1, 1)
	clk2, err := newClock(r.pool)
	require.NoError(t, err)
	d2 := newDriver(t, r, f2.URL, clk2)
	for _, cr := range runs {
		c, err := d2.staff.Case(ctx, cr.id)
		require.NoError(t, err)
		require.Equal(t, api.CaseAcknowledged, c.Status)
	}
	fs, err := d2.staff.Files(ctx, big.id)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	sum := sha256.Sum256(dcm)
	require.Equal(t, hex.EncodeToString(sum[:]), fs[0].SHA256)
	// The loop goes on after the restore: a new case to the end.
	more, failed := d2.runCases(ctx, 2, 2)
	require.Empty(t, failed)
	require.Len(t, more, 2)
}

// bigHeader is the header of a 12-frame 512 x 512 DICOM (3 MiB of pixels).
func bigHeader() []byte {
	u := uuid.New()
	return dicomHeaderFor(u, 512, 512, 12)
}

// state is what the drill compares before and after: rows per table and
// every object with its size.
type state struct {
	rows    map[string]int64
	objects map[string]int64
}

func snapshot(t *testing.T, r *rig) state {
	t.Helper()
	ctx := context.Background()
	s := state{rows: map[string]int64{}, objects: map[string]int64{}}
	for _, tb := range []string{"orgs", "users", "cases", "case_events", "files", "reports", "deliveries",
		"inbox_items", "acknowledgements", "escalations", "audit_events", "webhooks", "river_job"} {
		var n int64
		require.NoError(t, r.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{tb}.Sanitize()).Scan(&n), tb)
		s.rows[tb] = n
	}
	keys, err := r.store.List(ctx, "")
	require.NoError(t, err)
	for _, k := range keys {
		info, err := r.store.Stat(ctx, k)
		require.NoError(t, err)
		s.objects[k] = info.Size
	}
	return s
}

// script runs scripts/backup.sh with the rig's environment and returns
// its output.
func (r *rig) script(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "scripts", "backup.sh")}, args...)...)
	vars := map[string]string{"TELEREAD_BIN": binary}
	for k, v := range r.vars {
		vars[k] = v
	}
	cmd.Env = r.stack.Environ(vars)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/backup.sh %v:\n%s", args, out)
	return strings.TrimSpace(string(out))
}
