package intake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/testenv"
)

func TestAddDICOMFolder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)

	var deferred []uuid.UUID
	for i, name := range dicomdirFiles {
		res := b.add(t, c, name, testdata(t, name))
		require.True(t, res.Accepted, "%s: %s", name, res.Reason)
		require.False(t, res.Duplicate)
		f := res.File
		require.Equal(t, intake.KindDICOM, f.Kind)
		require.Equal(t, "application/dicom", f.ContentType)
		sum := sha256.Sum256(testdata(t, name))
		require.Equal(t, hex.EncodeToString(sum[:]), f.Sha256)
		require.Equal(t, f.Sha256, f.StoredSha256, "DICOM is kept byte for byte")
		require.Equal(t, "orgs/"+c.SiteOrgID.String()+"/blobs/"+f.Sha256, f.BlobKey)
		require.False(t, f.PatientMismatch, "%s: %s", name, f.Warnings)
		// The first instance of each series is rendered now (three CR
		// series of one, then the CT series), the others on first view.
		if i <= 3 {
			require.Equal(t, intake.PreviewPending, f.PreviewStatus, name)
		} else {
			require.Equal(t, intake.PreviewDeferred, f.PreviewStatus, name)
			deferred = append(deferred, f.ID)
		}
		require.Len(t, name[len(name)-4:], 4)
		require.Equal(t, name[len(name)-4:], f.Filename[len(f.Filename)-4:], "only the base name is kept")
		require.NotContains(t, f.Filename, "/")
	}

	files, err := b.svc.CaseFiles(ctx, b.staffA, c.ID)
	require.NoError(t, err)
	require.Len(t, files, 7)
	studies, err := b.svc.CaseStudies(ctx, b.staffA, c.ID)
	require.NoError(t, err)
	require.Len(t, studies, 2)
	instances := map[string]int{}
	for _, st := range studies {
		for _, se := range st.Series {
			instances[se.Modality] += int(se.Instances)
		}
	}
	require.Equal(t, map[string]int{"CR": 3, "CT": 4}, instances)

	require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 7)
	require.Empty(t, b.objects(t, b.siteA.Org, "tmp/"), "temporary objects are removed")
	require.Equal(t, 7, b.count(t, "SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = 'file_added'", c.ID))
	require.Equal(t, 7, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'file.upload'"))
	require.Equal(t, 4, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'preview'"), "one preview job per series")
	require.Equal(t, 0, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'preview' AND args->>'file_id' IS NULL"),
		"the job carries the file id only")

	// A deferred preview is rendered by its first view, and kept.
	for _, which := range []intake.Derived{intake.DerivedThumbnail, intake.DerivedPreview} {
		f, rc, info, err := b.svc.OpenDerived(ctx, b.gpA, deferred[0], which)
		require.NoError(t, err, which)
		img, _, err := image.Decode(rc)
		rc.Close()
		require.NoError(t, err, which)
		require.Positive(t, img.Bounds().Dx())
		require.Positive(t, info.Size)
		require.Equal(t, intake.PreviewReady, f.PreviewStatus)
	}
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files WHERE id = ANY($1) AND preview_status = 'ready' AND preview_key IS NOT NULL",
		deferred), "rendered once, and only the one viewed")
	require.Equal(t, 4, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'preview'"), "no job for a view")
}

func TestDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.newCase(t)
	ct := testdata(t, "CT_small.dcm")
	first := b.add(t, c, "ct.dcm", ct)
	require.True(t, first.Accepted, first.Reason)

	t.Run("SameInstanceSameCase", func(t *testing.T) {
		again := b.add(t, c, "again.dcm", ct)
		require.True(t, again.Accepted, again.Reason)
		require.True(t, again.Duplicate)
		require.Equal(t, first.File.ID, again.File.ID)
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files WHERE case_id = $1", c.ID))
		require.Equal(t, 1, b.count(t, "SELECT count(*) FROM dicom_instances"))
		require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 1)
		require.Empty(t, b.objects(t, b.siteA.Org, "tmp/"))
	})

	t.Run("SameInstanceOtherCase", func(t *testing.T) {
		other := b.newCase(t)
		res := b.add(t, other, "ct.dcm", ct)
		require.False(t, res.Accepted)
		require.Contains(t, res.Reason, "already part of another case")
		require.Nil(t, res.Err)
		require.Equal(t, 0, b.count(t, "SELECT count(*) FROM files WHERE case_id = $1", other.ID))
		require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 1, "the shared object stays")
	})

	t.Run("SamePhotoTwoCasesStoredOnce", func(t *testing.T) {
		jpg := testdata(t, "retina.jpg")
		p1 := b.add(t, c, "lesion.jpg", jpg)
		require.True(t, p1.Accepted, p1.Reason)
		other := b.newCase(t)
		p2 := b.add(t, other, "lesion.jpg", jpg)
		require.True(t, p2.Accepted, p2.Reason)
		require.False(t, p2.Duplicate)
		require.NotEqual(t, p1.File.ID, p2.File.ID)
		require.Equal(t, p1.File.BlobKey, p2.File.BlobKey, "content-addressed: one object for both")
		require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 2)
	})

	t.Run("OtherTenantSameInstance", func(t *testing.T) {
		cb := b.newCaseFor(t, b.staffB, b.siteB.Principals["referring_physician"])
		res := b.svc.Add(context.Background(), b.staffB, cb, intake.Input{Filename: "ct.dcm", Body: bytes.NewReader(ct)})
		require.True(t, res.Accepted, "tenants are independent: %s", res.Reason)
		require.Len(t, b.objects(t, b.siteB.Org, "blobs/"), 1)
	})
}

func TestPatientMismatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	res := b.add(t, c, "peter.dcm", testdata(t, "dicomdir/98892001/CT2N/6293"))
	require.True(t, res.Accepted, "flagged, not refused: %s", res.Reason)
	require.True(t, res.File.PatientMismatch)
	ws := intake.Warnings(*res.File)
	require.Len(t, ws, 1)
	require.Equal(t, "patient_mismatch", ws[0].Code)
	require.ElementsMatch(t, []string{"patient_id", "name"}, ws[0].Fields)
	evs, err := b.cases.Events(ctx, b.staffA, c.ID)
	require.NoError(t, err)
	kinds := []string{}
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	require.Contains(t, kinds, "patient_mismatch")

	ok := b.add(t, c, "archibald.dcm", testdata(t, dicomdirFiles[0]))
	require.True(t, ok.Accepted)
	require.False(t, ok.File.PatientMismatch, "PN Doe^Archibald matches the case's Archibald Doe")
}

func TestPhoto(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	jpg := testenv.WithGPS(testdata(t, "retina.jpg"))
	derm := true
	res := b.svc.Add(ctx, b.staffA, c, intake.Input{Filename: "IMG_0001.JPG", Body: bytes.NewReader(jpg),
		BodySite: "left forearm", Dermoscopic: &derm})
	require.True(t, res.Accepted, res.Reason)
	f := res.File
	require.Equal(t, intake.KindPhoto, f.Kind)
	require.Equal(t, "image/jpeg", f.ContentType)
	sum := sha256.Sum256(jpg)
	require.Equal(t, hex.EncodeToString(sum[:]), f.Sha256, "sha256 is of the bytes as uploaded")
	require.EqualValues(t, len(jpg), f.Size)
	require.NotEqual(t, f.Sha256, f.StoredSha256, "the stored copy is the cleaned one")
	require.Equal(t, "orgs/"+c.SiteOrgID.String()+"/blobs/"+f.StoredSha256, f.BlobKey)
	require.EqualValues(t, 1411, *f.Width)
	require.Equal(t, "left forearm", *f.BodySite)
	require.True(t, *f.Dermoscopic)
	meta := intake.Metadata(*f)
	require.Equal(t, true, meta["had_gps"])
	require.Contains(t, meta["stripped"], "gps")

	rc, err := b.svc.OpenContent(ctx, b.staffA, *f, 0, -1)
	require.NoError(t, err)
	stored, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.EqualValues(t, f.StoredSize, len(stored))
	require.False(t, bytes.Contains(stored, []byte("Exif\x00\x00")), "no EXIF in the stored copy")
	require.False(t, bytes.Contains(stored, testenv.GPSMarker), "no GPS in the stored copy")
	storedSum := sha256.Sum256(stored)
	require.Equal(t, f.StoredSha256, hex.EncodeToString(storedSum[:]))
	// The original was never stored: the only object is the cleaned copy.
	require.Equal(t, []string{f.BlobKey}, b.objects(t, b.siteA.Org, "blobs/"))
	require.Empty(t, b.objects(t, b.siteA.Org, "tmp/"))
}

func TestPhotoQualityWarnings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.newCase(t)
	// A flat grey 100x100 PNG: too small, and blurred (no edges at all).
	res := b.add(t, c, "flat.png", flatPNG(t))
	require.True(t, res.Accepted, res.Reason)
	codes := map[string]float64{}
	for _, w := range intake.Warnings(*res.File) {
		require.NotEmpty(t, w.Message)
		require.NotNil(t, w.Value, w.Code)
		codes[w.Code] = *w.Value
	}
	require.Contains(t, codes, "too_small")
	require.Equal(t, 100.0, codes["too_small"])
	require.Contains(t, codes, "blurred")
}

func TestRejected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.newCase(t)
	ct := testdata(t, "CT_small.dcm")
	for name, tc := range map[string]struct {
		body   []byte
		reason string
	}{
		"TruncatedDICOM":     {testdata(t, "bad_MR_truncated.dcm"), "truncated"},
		"FourGBElement":      {append(testenv.DICOMHeader("1.2.826.0.1.3680043.2.1143.77", 16, 16, 1, 0xFFFFFFF0), make([]byte, 4096)...), "truncated"},
		"PDFNamedDCM":        {[]byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n"), "PDF"},
		"Empty":              {nil, "empty"},
		"HugePNG":            {testenv.HugePNG(), "20000x20000"},
		"DICOMWithoutUIDs":   {ct[:132], "DICOM"},
		"TruncatedJPEG":      {testdata(t, "retina.jpg")[:5000], "truncated"},
		"HeaderOnlyNoPixels": {testenv.DICOMHeader("1.2.826.0.1.3680043.2.1143.78", 512, 512, 1, 512*512), "truncated"},
	} {
		t.Run(name, func(t *testing.T) {
			res := b.add(t, c, name+".dcm", tc.body)
			t.Logf("reason: %s", res.Reason)
			require.False(t, res.Accepted)
			require.Contains(t, res.Reason, tc.reason)
			require.Nil(t, res.Err, "a bad file is not an internal error")
			require.Nil(t, res.BodyErr)
		})
	}
	require.Equal(t, 0, b.count(t, "SELECT count(*) FROM files"))
	require.Equal(t, 0, b.count(t, "SELECT count(*) FROM dicom_instances"))
	require.Equal(t, 0, b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'preview'"))
	require.Empty(t, b.objects(t, b.siteA.Org, ""), "nothing of a refused file is stored")
	incomplete, err := b.env.Blob.ListUploads(context.Background(), "orgs/")
	require.NoError(t, err)
	require.Empty(t, incomplete, "no multipart upload left behind")
}

func TestFilenameSanitised(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.newCase(t)
	res := b.add(t, c, "../../etc/\x00passwd\r\n\u202e.dcm", testdata(t, "CT_small.dcm"))
	require.True(t, res.Accepted, res.Reason)
	require.Equal(t, "passwd.dcm", res.File.Filename)
	require.Equal(t, "passwd.dcm", res.Filename)
}

func TestSanitizeFilename(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"scan.dcm":                "scan.dcm",
		"../../x.dcm":             "x.dcm",
		`C:\Users\me\IMG 1.JPG`:   "IMG 1.JPG",
		"a\x00b\x1fc\x7f.png":     "abc.png",
		"..":                      "upload",
		"":                        "upload",
		"dir/":                    "upload",
		"\u202egnp.exe":           "gnp.exe",
		"bad\xffutf8.dcm":         "badutf8.dcm",
		"  spaced name.jpg  ":     "spaced name.jpg",
		"ünïcödé/Ärztliche Ü.dcm": "Ärztliche Ü.dcm",
	} {
		require.Equal(t, want, intake.SanitizeFilename(in), "%q", in)
	}
	long := intake.SanitizeFilename(string(bytes.Repeat([]byte("é"), 300)))
	require.LessOrEqual(t, len(long), 255)
	require.True(t, bytes.Equal([]byte(long), bytes.Repeat([]byte("é"), len(long)/2)), "cut on a rune boundary")
}

func TestCaseChecks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)

	t.Run("OtherSite", func(t *testing.T) {
		_, err := b.svc.CheckUploadable(ctx, b.staffB, c.ID)
		require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)
	})
	t.Run("Submitted", func(t *testing.T) {
		require.True(t, b.add(t, c, "ct.dcm", testdata(t, "CT_small.dcm")).Accepted)
		_, err := b.cases.Submit(ctx, b.staffA, c.ID)
		require.NoError(t, err)
		_, err = b.svc.CheckUploadable(ctx, b.staffA, c.ID)
		require.True(t, apperr.Is(err, apperr.Conflict), "%v", err)
		// A file whose case was submitted while it streamed is refused in
		// the transaction, and its bytes removed.
		res := b.add(t, c, "late.dcm", testdata(t, dicomdirFiles[0]))
		require.False(t, res.Accepted)
		require.Contains(t, res.Reason, "submitted")
		require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 1)
		require.Empty(t, b.objects(t, b.siteA.Org, "tmp/"))
	})
}

func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.newCase(t)
	ct := testdata(t, dicomdirFiles[4])
	const n = 6
	out := make(chan intake.Result, n)
	for range n {
		go func() { out <- b.add(t, c, "ct.dcm", ct) }()
	}
	fresh, ids := 0, map[string]bool{}
	for range n {
		res := <-out
		require.True(t, res.Accepted, res.Reason)
		if !res.Duplicate {
			fresh++
		}
		ids[res.File.ID.String()] = true
	}
	require.Equal(t, 1, fresh, "one upload adds the file, the others find it")
	require.Len(t, ids, 1)
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM files"))
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM dicom_instances"))
	require.Len(t, b.objects(t, b.siteA.Org, "blobs/"), 1)
	require.Empty(t, b.objects(t, b.siteA.Org, "tmp/"))
}

// opCounter counts the object-store operations intake makes.
type opCounter struct {
	intake.Storage
	mu  sync.Mutex
	ops map[string]int
}

func (o *opCounter) count(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ops[op]++
}

func (o *opCounter) Put(ctx context.Context, key string, r io.Reader, size int64, ct string) (blob.Info, error) {
	o.count("Put")
	return o.Storage.Put(ctx, key, r, size, ct)
}

func (o *opCounter) Promote(ctx context.Context, tmp, final, sum, ct string) (bool, error) {
	o.count("Promote")
	return o.Storage.Promote(ctx, tmp, final, sum, ct)
}

func (o *opCounter) PutBytes(ctx context.Context, final string, data []byte, sum, ct string) (bool, error) {
	o.count("PutBytes")
	return o.Storage.PutBytes(ctx, final, data, sum, ct)
}

func (o *opCounter) Delete(ctx context.Context, key string) error {
	o.count("Delete")
	return o.Storage.Delete(ctx, key)
}

func (o *opCounter) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.ops
	o.ops = map[string]int{}
	return out
}

// TestSmallDICOMStraightToItsAddress: an instance that fits in memory goes
// to its content address in one PUT (no temporary object, copy or delete);
// a larger one streams to an object of its own, which its file adopts (no
// copy either). Both are stored the same.
func TestSmallDICOMStraightToItsAddress(t *testing.T) {
	t.Parallel()
	var oc *opCounter
	b := setupWith(t, intake.Options{}, func(s intake.Storage) intake.Storage {
		oc = &opCounter{Storage: s, ops: map[string]int{}}
		return oc
	})
	c := b.newCase(t)
	small := testdata(t, "CT_small.dcm")
	res := b.add(t, c, "ct.dcm", small)
	require.True(t, res.Accepted, res.Reason)
	require.Equal(t, map[string]int{"PutBytes": 1}, oc.take())
	sum := sha256.Sum256(small)
	require.Equal(t, hex.EncodeToString(sum[:]), res.File.StoredSha256)

	// Again: a duplicate, nothing sent.
	res = b.add(t, c, "again.dcm", small)
	require.True(t, res.Accepted && res.Duplicate, res.Reason)
	require.Empty(t, oc.take())

	// 1100 x 1100 16-bit pixels: over the in-memory bound.
	var resampled, big bytes.Buffer
	require.NoError(t, dicomfile.Resample(&resampled, bytes.NewReader(small), 1100, 1100))
	require.NoError(t, dicomfile.RewriteUIDs(&big, &resampled, "2.25.1001", "2.25.1002", "2.25.1003"))
	require.Greater(t, big.Len(), 2<<20)
	smallFile := res.File
	res = b.add(t, c, "big.dcm", big.Bytes())
	require.True(t, res.Accepted, res.Reason)
	ops := oc.take()
	require.Equal(t, 1, ops["Put"], "%v", ops)
	require.Zero(t, ops["Promote"], "%v", ops)
	require.Zero(t, ops["PutBytes"], "%v", ops)
	require.Regexp(t, "^orgs/"+b.siteA.Org.ID.String()+"/objects/[0-9a-f-]{36}$", res.File.BlobKey)
	require.Equal(t, []string{res.File.BlobKey}, b.objects(t, b.siteA.Org, "objects/"))
	var staged int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), "SELECT count(*) FROM staged_objects").Scan(&staged))
	require.Zero(t, staged, "the adopted object is no longer staged")

	// Both read back byte for byte.
	for _, f := range []struct {
		file *intake.File
		want []byte
	}{{smallFile, small}, {res.File, big.Bytes()}} {
		rc, err := b.svc.OpenContent(context.Background(), b.staffA, *f.file, 0, -1)
		require.NoError(t, err)
		got, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		require.True(t, bytes.Equal(f.want, got))
	}
	require.Empty(t, b.objects(t, b.siteA.Org, "tmp/"), "no temporary object is left")
}
