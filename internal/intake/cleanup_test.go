package intake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

var errInjected = errors.New("injected failure")

// faultStore is the test's real MinIO-backed store with failures injected
// per operation: fail[op] is how many calls of op fail before the store is
// called again, and afterNewMultipart runs once a multipart upload exists.
type faultStore struct {
	intake.Storage
	mu                sync.Mutex
	fail              map[string]int
	afterNewMultipart func()
}

var _ intake.Storage = (*faultStore)(nil)

func (f *faultStore) failNext(op string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = n
}

func (f *faultStore) take(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[op] > 0 {
		f.fail[op]--
		return errInjected
	}
	return nil
}

func (f *faultStore) NewMultipart(ctx context.Context, key, contentType string) (string, error) {
	id, err := f.Storage.NewMultipart(ctx, key, contentType)
	if err == nil && f.afterNewMultipart != nil {
		f.afterNewMultipart()
	}
	return id, err
}

func (f *faultStore) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := f.take("AbortMultipart"); err != nil {
		return err
	}
	return f.Storage.AbortMultipart(ctx, key, uploadID)
}

func (f *faultStore) Delete(ctx context.Context, key string) error {
	if err := f.take("Delete"); err != nil {
		return err
	}
	return f.Storage.Delete(ctx, key)
}

// fastRetry retries a failed job at once.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

// workCleanups runs a River client with the clean-up worker only until n
// intake_cleanup jobs have completed, and returns them.
func workCleanups(t *testing.T, b *testBundle, n int) []*rivertype.JobRow {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, jobs.NewCleanupWorker(b.svc))
	client, err := river.NewClient(riverpgxv5.New(b.env.Pool), &river.Config{
		Logger: testenv.Logger(t), Workers: workers, RetryPolicy: fastRetry{},
		FetchPollInterval: 20 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
	})
	require.NoError(t, err)
	events, cancel := client.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	require.NoError(t, client.Start(context.Background()))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, client.Stop(ctx))
	}()
	var done []*rivertype.JobRow
	timeout := time.After(20 * time.Second)
	for len(done) < n {
		select {
		case ev := <-events:
			if ev.Job.Kind == (intake.CleanupArgs{}).Kind() {
				done = append(done, ev.Job)
			}
		case <-timeout:
			t.Fatalf("%d of %d clean-up jobs completed", len(done), n)
		}
	}
	return done
}

func (b *testBundle) uploads(t *testing.T) []blob.Multipart {
	t.Helper()
	ups, err := b.env.Blob.ListUploads(context.Background(), "orgs/")
	require.NoError(t, err)
	return ups
}

// TestCleanupAbortAfterFailedInsert: the client goes away between starting
// the multipart upload and writing its row, and the abort fails too. The
// failure is retried by a job (whose first attempt fails again) until the
// multipart upload is gone from MinIO.
func TestCleanupAbortAfterFailedInsert(t *testing.T) {
	t.Parallel()
	var fs *faultStore
	b := setupWith(t, intake.Options{}, func(s intake.Storage) intake.Storage {
		fs = &faultStore{Storage: s, fail: map[string]int{}}
		return fs
	})
	c := b.newCase(t)
	ctx, cancel := context.WithCancel(context.Background())
	fs.afterNewMultipart = cancel
	fs.failNext("AbortMultipart", 2)
	_, err := b.svc.CreateUpload(ctx, b.staffA, c.ID, intake.NewUpload{Filename: "big.dcm", Size: 20 << 20,
		SHA256: hex.EncodeToString(make([]byte, 32)), ContentType: "application/dicom", PartSize: 5 << 20})
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, b.count(t, "SELECT count(*) FROM uploads"), "no row was written")
	require.Len(t, b.uploads(t), 1, "the multipart upload is still there")
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'intake_cleanup'"))

	done := workCleanups(t, b, 1)
	require.Equal(t, 2, done[0].Attempt, "the first attempt failed and River retried it")
	require.Empty(t, b.uploads(t), "the job aborted the multipart upload")
}

// TestCleanupReleaseAfterFailedCompletion: a completion fails (the bytes
// are not there yet) and so does the release of its claim. Until the job
// runs the client is told the upload is being completed; once it has run,
// the client completes the upload.
func TestCleanupReleaseAfterFailedCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	ct := testdata(t, "CT_small.dcm")
	sum := sha256.Sum256(ct)
	tk, err := b.svc.CreateUpload(ctx, b.staffA, c.ID, intake.NewUpload{Filename: "ct.dcm", Size: int64(len(ct)),
		SHA256: hex.EncodeToString(sum[:]), ContentType: "application/dicom"})
	require.NoError(t, err)
	// Real PostgreSQL refuses the release while the table release_fault
	// exists: the failure sits between the failed completion and the
	// release.
	_, err = b.env.Pool.Exec(ctx, `CREATE TABLE release_fault ();
		CREATE FUNCTION release_fault() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF to_regclass('release_fault') IS NOT NULL AND OLD.status = 'completing' AND NEW.status = 'pending' THEN
				RAISE EXCEPTION 'injected failure';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER release_fault BEFORE UPDATE ON uploads FOR EACH ROW EXECUTE FUNCTION release_fault();`)
	require.NoError(t, err)

	_, err = b.svc.CompleteUpload(ctx, b.staffA, c.ID, tk.Upload.ID)
	require.True(t, apperr.Is(err, apperr.Conflict), "nothing uploaded yet: %v", err)
	_, err = b.env.Blob.Put(ctx, tk.Upload.ObjectKey, bytes.NewReader(ct), int64(len(ct)), "application/dicom")
	require.NoError(t, err)
	_, err = b.svc.CompleteUpload(ctx, b.staffA, c.ID, tk.Upload.ID)
	require.ErrorContains(t, err, "being completed by another request", "the claim was not released")

	_, err = b.env.Pool.Exec(ctx, "DROP TABLE release_fault")
	require.NoError(t, err)
	workCleanups(t, b, 1)
	res, err := b.svc.CompleteUpload(ctx, b.staffA, c.ID, tk.Upload.ID)
	require.NoError(t, err)
	require.True(t, res.Accepted, res.Reason)
}

// TestCleanupDeleteAfterCompletion: the bytes of a completed upload could
// not be deleted; the job deletes them.
func TestCleanupDeleteAfterCompletion(t *testing.T) {
	t.Parallel()
	var fs *faultStore
	b := setupWith(t, intake.Options{}, func(s intake.Storage) intake.Storage {
		fs = &faultStore{Storage: s, fail: map[string]int{}}
		return fs
	})
	ctx := context.Background()
	c := b.newCase(t)
	ct := testdata(t, "CT_small.dcm")
	sum := sha256.Sum256(ct)
	tk, err := b.svc.CreateUpload(ctx, b.staffA, c.ID, intake.NewUpload{Filename: "ct.dcm", Size: int64(len(ct)),
		SHA256: hex.EncodeToString(sum[:]), ContentType: "application/dicom"})
	require.NoError(t, err)
	_, err = b.env.Blob.Put(ctx, tk.Upload.ObjectKey, bytes.NewReader(ct), int64(len(ct)), "application/dicom")
	require.NoError(t, err)
	fs.failNext("Delete", 1)
	res, err := b.svc.CompleteUpload(ctx, b.staffA, c.ID, tk.Upload.ID)
	require.NoError(t, err)
	require.True(t, res.Accepted, res.Reason)
	require.Len(t, b.objects(t, b.siteA.Org, "uploads/"), 1, "the delete failed")

	workCleanups(t, b, 1)
	require.Empty(t, b.objects(t, b.siteA.Org, "uploads/"), "the job deleted the upload's bytes")
}

// TestSweepAbortsOrphanedMultipart: a multipart upload in MinIO that no
// row refers to is aborted by the sweep once older than the grace period;
// that of a live upload stays.
func TestSweepAbortsOrphanedMultipart(t *testing.T) {
	t.Parallel()
	b := setupWith(t, intake.Options{OrphanGrace: time.Nanosecond}, nil)
	ctx := context.Background()
	c := b.newCase(t)
	live, err := b.svc.CreateUpload(ctx, b.staffA, c.ID, intake.NewUpload{Filename: "big.dcm", Size: 20 << 20,
		SHA256: hex.EncodeToString(make([]byte, 32)), ContentType: "application/dicom", PartSize: 5 << 20})
	require.NoError(t, err)
	orphan := "orgs/" + b.siteA.Org.ID.String() + "/uploads/" + uuid.NewString()
	_, err = b.env.Blob.NewMultipart(ctx, orphan, "application/dicom")
	require.NoError(t, err)
	other := "elsewhere/" + uuid.NewString()
	_, err = b.env.Blob.NewMultipart(ctx, other, "application/octet-stream")
	require.NoError(t, err)
	require.Len(t, b.uploads(t), 2)

	require.NoError(t, b.svc.Sweep(ctx))
	left, err := b.env.Blob.ListUploads(ctx, "")
	require.NoError(t, err)
	keys := []string{}
	for _, m := range left {
		keys = append(keys, m.Key)
	}
	require.ElementsMatch(t, []string{live.Upload.ObjectKey, other}, keys,
		"the orphan is aborted; the live upload and keys outside orgs/ stay")

	t.Run("NotWithinGrace", func(t *testing.T) {
		b := setup(t)
		key := "orgs/" + b.siteA.Org.ID.String() + "/uploads/" + uuid.NewString()
		_, err := b.env.Blob.NewMultipart(ctx, key, "application/dicom")
		require.NoError(t, err)
		require.NoError(t, b.svc.Sweep(ctx))
		require.Len(t, b.uploads(t), 1, "a multipart upload whose row may be about to commit stays")
	})
}

// TestSweepRemovesOnlyOrphanedStagedObjects: a large file's object of its
// own is noted as staged before its bytes are written and adopted by its
// file at commit. The sweep deletes the staged objects older than a day
// that no file refers to (the process died before the commit, or the
// upload was refused and its object already removed), keeps one that a
// file refers to, and leaves younger ones to their uploads.
func TestSweepRemovesOnlyOrphanedStagedObjects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	var resampled, big bytes.Buffer
	require.NoError(t, dicomfile.Resample(&resampled, bytes.NewReader(testdata(t, "CT_small.dcm")), 1100, 1100))
	require.NoError(t, dicomfile.RewriteUIDs(&big, &resampled, "2.25.2001", "2.25.2002", "2.25.2003"))
	res := b.add(t, c, "big.dcm", big.Bytes())
	require.True(t, res.Accepted, res.Reason)
	adopted := res.File.BlobKey

	org := b.siteA.Org.ID
	prefix := "orgs/" + org.String() + "/objects/"
	stage := func(key string, withBytes bool, age string) {
		t.Helper()
		if withBytes {
			_, err := b.env.Blob.Put(ctx, key, bytes.NewReader([]byte("partial")), 7, "application/dicom")
			require.NoError(t, err)
		}
		_, err := b.env.Pool.Exec(ctx, "INSERT INTO staged_objects (key, org_id, created_at) VALUES ($1, $2, now() - $3::interval)",
			key, org, age)
		require.NoError(t, err)
	}
	died := prefix + uuid.NewString()     // the process died after writing it
	refused := prefix + uuid.NewString()  // its upload was refused and the object removed
	inFlight := prefix + uuid.NewString() // an upload still streaming
	stage(died, true, "25 hours")
	stage(refused, false, "25 hours")
	stage(inFlight, true, "1 minute")
	stage(adopted, false, "25 hours") // cannot happen (adoption forgets it), and must not delete the file's bytes

	require.NoError(t, b.svc.Sweep(ctx))
	require.ElementsMatch(t, []string{adopted, inFlight}, b.objects(t, b.siteA.Org, "objects/"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM staged_objects"), "only the upload in flight is still staged")
	rc, err := b.svc.OpenContent(ctx, b.staffA, *res.File, 0, -1)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.True(t, bytes.Equal(big.Bytes(), got), "the adopted file reads back whole")
}
