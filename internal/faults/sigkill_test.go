//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// streamStall sends a request whose body is written by write into a pipe,
// which stops writing (without ending the body) once write returns: an
// upload in flight when the server dies. The request's error is sent on
// the returned channel.
func (d *drill) streamStall(url, contentType string, write func(io.Writer) error) (*io.PipeWriter, <-chan error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url, pr)
		req.Header.Set("Authorization", "Bearer "+d.tokens[staffEmail])
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		done <- err
	}()
	go func() { _ = write(pw) }()
	return pw, done
}

// TestSIGKILLDuringUploads kills `teleread serve` (a child process, with
// SIGKILL) while a multipart/form-data upload and a STOW-RS request of
// 12 MB files are streaming (their first 8 MiB part already in MinIO) and
// a presigned upload is being completed, with presigned uploads pending
// and abandoned around them. After the kill no case shows a partial file.
// The intake sweep of the restarted server then removes the orphans, and
// only them: the kill's multipart uploads in progress (staged objects),
// and the bytes of abandoned presigned uploads past their expiry; every
// committed file's object and the pending upload stay, and the pending and
// interrupted uploads complete.
//
// Simulated time: the orphans are swept after a day (tmpRetention) or at
// their upload's expiry, which the drill moves back in SQL
// (staged_objects.created_at by 25 hours, uploads.expires_at to the past,
// the dead process's claim on an upload by 3 hours, past claimStaleAfter),
// and it clears the unique key of the earlier intake_sweep job, as the
// end of its hourly period would, so the restarted server's run-on-start
// sweep is not deduplicated against it. MinIO's own clock is not moved.
func TestSIGKILLDuringUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := newDrill(t, nil)
	log := &syncBuffer{}
	p1 := d.spawn(t, log)
	caseID := d.newCase(t, p1.URL, false)

	committed := dicom(64 << 10)
	a := d.rawUpload(t, p1.URL, caseID, "committed.dcm", committed)
	require.Equal(t, http.StatusCreated, a.status, a.String())
	live := d.presign(t, p1.URL, caseID, "live.dcm", dicom(6<<20), -1)             // all parts sent, not completed yet
	abandoned := d.presign(t, p1.URL, caseID, "abandoned.dcm", dicom(1<<20), -1)   // sent whole, never completed
	partial := d.presign(t, p1.URL, caseID, "partial.dcm", dicom(6<<20), 1)        // one of two parts, never completed
	completing := d.presign(t, p1.URL, caseID, "completing.dcm", dicom(1<<20), -1) // completed as the server dies

	// The first server's run-on-start sweep is done before the kill.
	eventually(t, time.Minute, "the first server's intake sweep", func() bool {
		var n int
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'intake_sweep' AND state = 'completed'`).Scan(&n))
		return n > 0
	})

	// Two uploads of 12 MB that stall after 10 MB: the server has staged
	// them and sent their first part to MinIO.
	big1, big2 := dicom(12<<20), dicom(12<<20)
	mw := multipart.NewWriter(io.Discard) // for its boundary
	formPW, formDone := d.streamStall(fmt.Sprintf("%s/api/v1/cases/%s/files", p1.URL, caseID), mw.FormDataContentType(),
		func(w io.Writer) error {
			m := multipart.NewWriter(w)
			_ = m.SetBoundary(mw.Boundary())
			fw, err := m.CreateFormFile("file", "form-big.dcm")
			if err != nil {
				return err
			}
			_, err = fw.Write(big1[:10<<20])
			return err
		})
	sw := multipart.NewWriter(io.Discard)
	stowCT := `multipart/related; type="application/dicom"; boundary=` + sw.Boundary()
	stowPW, stowDone := d.streamStall(fmt.Sprintf("%s/dicomweb/cases/%s/studies", p1.URL, caseID), stowCT,
		func(w io.Writer) error {
			m := multipart.NewWriter(w)
			_ = m.SetBoundary(sw.Boundary())
			pw, err := m.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
			if err != nil {
				return err
			}
			_, err = pw.Write(big2[:10<<20])
			return err
		})
	eventually(t, time.Minute, "both streaming uploads to have a multipart upload in MinIO", func() bool {
		n := 0
		for k := range d.uploadsInProgress(t) {
			if strings.Contains(k, "/objects/") {
				n++
			}
		}
		return n == 2
	})
	completeDone := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/v1/cases/%s/uploads/%s/complete", p1.URL, caseID, completing.ID), nil)
		req.Header.Set("Authorization", "Bearer "+d.tokens[staffEmail])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			completeDone <- answer{}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		completeDone <- answer{status: resp.StatusCode, body: b}
	}()
	time.Sleep(30 * time.Millisecond)
	p1.kill()
	// The client would wait for the rest of a body it can no longer send.
	formPW.CloseWithError(io.ErrClosedPipe)
	stowPW.CloseWithError(io.ErrClosedPipe)
	require.Error(t, <-formDone, "the form upload died with the server")
	require.Error(t, <-stowDone, "the STOW-RS request died with the server")
	t.Logf("completion in flight at the kill: %s", <-completeDone)

	// No partial file: the case holds the committed file and at most the
	// upload completed at the kill, each object whole.
	rows, err := d.pool.Query(ctx, `SELECT filename, blob_key, stored_size FROM files WHERE case_id = $1`, caseID)
	require.NoError(t, err)
	names := map[string]bool{}
	for rows.Next() {
		var name, key string
		var size int64
		require.NoError(t, rows.Scan(&name, &key, &size))
		info, err := d.store.Stat(ctx, key)
		require.NoError(t, err, "file %s: object %s", name, key)
		require.Equal(t, size, info.Size, "file %s is whole", name)
		names[name] = true
	}
	require.NoError(t, rows.Err())
	require.True(t, names["committed.dcm"])
	require.False(t, names["form-big.dcm"] || names["stow-1.dcm"], "no file of an interrupted stream: %v", names)
	require.LessOrEqual(t, len(names), 2, "%v", names)
	d.requireNoDanglingFiles(t)

	var staged []string
	srows, err := d.pool.Query(ctx, `SELECT key FROM staged_objects`)
	require.NoError(t, err)
	for srows.Next() {
		var k string
		require.NoError(t, srows.Scan(&k))
		staged = append(staged, k)
	}
	require.NoError(t, srows.Err())
	require.Len(t, staged, 2, "both interrupted streams were noted as staged before their first byte")
	keyOf := func(id uuid.UUID) string {
		var k string
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT object_key FROM uploads WHERE id = $1`, id).Scan(&k))
		return k
	}
	orphanObjects := map[string]bool{keyOf(abandoned.ID): true}
	orphanUploads := map[string]bool{keyOf(partial.ID): true, staged[0]: true, staged[1]: true}
	objsBefore, upsBefore := d.objects(t), d.uploadsInProgress(t)
	for k := range orphanObjects {
		require.True(t, objsBefore[k], "orphan object %s is there before the sweep", k)
	}
	for k := range orphanUploads {
		require.True(t, upsBefore[k], "orphan multipart upload %s is there before the sweep", k)
	}
	require.True(t, upsBefore[keyOf(live.ID)])

	// A day passes for the orphans (see the test's comment).
	_, err = d.pool.Exec(ctx, `UPDATE staged_objects SET created_at = created_at - interval '25 hours'`)
	require.NoError(t, err)
	_, err = d.pool.Exec(ctx, `UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = ANY($1)`,
		[]uuid.UUID{abandoned.ID, partial.ID})
	require.NoError(t, err)
	_, err = d.pool.Exec(ctx, `UPDATE uploads SET claimed_at = claimed_at - interval '3 hours' WHERE status = 'completing'`)
	require.NoError(t, err)
	var sweeps int
	require.NoError(t, d.pool.QueryRow(ctx, `WITH u AS (UPDATE river_job SET unique_key = NULL WHERE kind = 'intake_sweep' RETURNING 1)
		SELECT count(*) FROM u`).Scan(&sweeps))
	require.Positive(t, sweeps, "the first server ran its intake sweep")

	p2 := d.spawn(t, log)
	eventually(t, 2*time.Minute, "the restarted server's intake sweep", func() bool {
		var n int
		require.NoError(t, d.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'intake_sweep' AND state = 'completed'`).Scan(&n))
		return n > sweeps
	})
	objsAfter, upsAfter := d.objects(t), d.uploadsInProgress(t)
	completingKey := keyOf(completing.ID)
	for k := range objsBefore {
		switch {
		case orphanObjects[k]:
			require.False(t, objsAfter[k], "orphan object %s was swept", k)
		case k == completingKey:
			// Completed at the kill or not: either is consistent (checked below).
		default:
			require.True(t, objsAfter[k], "object %s is no orphan and was kept", k)
		}
	}
	for k := range upsBefore {
		if orphanUploads[k] {
			require.False(t, upsAfter[k], "orphan multipart upload %s was aborted", k)
		} else {
			require.True(t, upsAfter[k], "multipart upload %s is live and was kept", k)
		}
	}
	var left int
	require.NoError(t, d.pool.QueryRow(ctx, `SELECT count(*) FROM staged_objects`).Scan(&left))
	require.Zero(t, left)
	t.Logf("swept %d orphan objects and %d orphan multipart uploads; kept %d objects", len(orphanObjects),
		len(orphanUploads), len(objsBefore)-len(orphanObjects))

	// The pending and the interrupted uploads complete on the new server,
	// and the interrupted streams can be sent again.
	for name, id := range map[string]uuid.UUID{"live": live.ID, "completing": completing.ID} {
		a := d.complete(t, p2.URL, caseID, id)
		require.Equal(t, http.StatusCreated, a.status, "%s: %s", name, a)
	}
	a = d.formUpload(t, p2.URL, caseID, "form-big.dcm", big1)
	require.Equal(t, http.StatusCreated, a.status, a.String())
	ct, body := stowBody(big2)
	a = d.do(t, http.MethodPost, fmt.Sprintf("%s/dicomweb/cases/%s/studies", p2.URL, caseID), staffEmail, ct, body)
	require.Equal(t, http.StatusOK, a.status, a.String())
	require.Equal(t, 5, d.caseState(t, caseID).Files)
	d.requireNoDanglingFiles(t)
}
