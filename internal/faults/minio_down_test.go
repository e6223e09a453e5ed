//go:build faults

package faults_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMinIODownDuringUploads stops the drill's MinIO and sends every kind
// of upload: a raw REST body, a multipart/form-data REST upload, STOW-RS
// into the case, and the completion of a presigned upload whose bytes
// arrived before MinIO went away. Each must answer 503 problem+json with
// Retry-After (before the fix in internal/blob's translate they answered
// 500), leave the case as it was, and leave no file row without its
// object. With MinIO back, the same requests succeed.
func TestMinIODownDuringUploads(t *testing.T) {
	t.Parallel()
	d := newDrill(t, nil)
	srv := d.serve(t, nil)
	caseID := d.newCase(t, srv.URL, false)

	// A presigned upload whose bytes are in MinIO before it stops.
	big := dicom(6 << 20)
	up := d.presign(t, srv.URL, caseID, "presigned.dcm", big, -1)
	raw, form, stowed := dicom(64<<10), dicom(3<<20), dicom(256<<10)
	before := d.caseState(t, caseID)

	d.stack.Down(t, "minio")
	requireUnavailable(t, d.rawUpload(t, srv.URL, caseID, "raw.dcm", raw), "raw upload")
	requireUnavailable(t, d.formUpload(t, srv.URL, caseID, "form.dcm", form), "multipart upload")
	requireUnavailable(t, d.stow(t, srv.URL, caseID, stowed), "STOW-RS")
	requireUnavailable(t, d.complete(t, srv.URL, caseID, up.ID), "presigned completion")
	require.Equal(t, before, d.caseState(t, caseID), "the case is unchanged")
	var files, uploading int
	require.NoError(t, d.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM files WHERE case_id = $1),
		(SELECT count(*) FROM uploads WHERE id = $2 AND status <> 'pending')`, caseID, up.ID).Scan(&files, &uploading))
	require.Equal(t, before.Files, files)
	require.Zero(t, uploading, "the presigned upload can be completed again")

	d.stack.Up(t, "minio")
	d.requireNoDanglingFiles(t)
	for name, a := range map[string]answer{
		"raw upload":           d.rawUpload(t, srv.URL, caseID, "raw.dcm", raw),
		"multipart upload":     d.formUpload(t, srv.URL, caseID, "form.dcm", form),
		"presigned completion": d.complete(t, srv.URL, caseID, up.ID),
	} {
		require.Equal(t, http.StatusCreated, a.status, "%s after MinIO is back: %s", name, a)
	}
	a := d.stow(t, srv.URL, caseID, stowed)
	require.Equal(t, http.StatusOK, a.status, "STOW-RS after MinIO is back: %s", a)
	after := d.caseState(t, caseID)
	require.Equal(t, before.Files+4, after.Files)
	require.Equal(t, "draft", after.Status)
	d.requireNoDanglingFiles(t)
}
