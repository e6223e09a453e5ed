package intake_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/intake"
)

// photoRow is a photo's row in the photo index.
type photoRow struct {
	studyUID, seriesUID, sopUID, ts, patientName, patientID, birthDate, sex, referrer, class, modality string
	number, rows, columns                                                                              int
}

func (b *testBundle) photoRow(t *testing.T, file string) photoRow {
	t.Helper()
	var r photoRow
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), `
		SELECT st.study_instance_uid, pi.series_instance_uid, pi.sop_instance_uid, pi.transfer_syntax,
		       st.patient_name, st.patient_id, st.patient_birth_date, st.patient_sex, st.referring_physician_name,
		       pi.instance_number, pi.rows, pi.columns, pi.sop_class_uid, pi.modality
		FROM photo_instances pi JOIN photo_studies st ON st.id = pi.study_id
		WHERE pi.file_id = $1`, file).Scan(&r.studyUID, &r.seriesUID, &r.sopUID, &r.ts, &r.patientName, &r.patientID,
		&r.birthDate, &r.sex, &r.referrer, &r.number, &r.rows, &r.columns, &r.class, &r.modality))
	return r
}

func TestPhotoIndex(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	derm := true
	jpg := b.svc.Add(ctx, b.staffA, c, intake.Input{Filename: "lesion.jpg", Body: bytes.NewReader(testdata(t, "retina.jpg")),
		BodySite: "left forearm", Dermoscopic: &derm})
	require.True(t, jpg.Accepted, jpg.Reason)
	pngRes := b.add(t, c, "flat.png", flatPNG(t))
	require.True(t, pngRes.Accepted, pngRes.Reason)
	dcm := b.add(t, c, "ct.dcm", testdata(t, "CT_small.dcm"))
	require.True(t, dcm.Accepted, dcm.Reason)

	first, second := b.photoRow(t, jpg.File.ID.String()), b.photoRow(t, pngRes.File.ID.String())
	require.Equal(t, first.studyUID, second.studyUID, "one photo study per case")
	require.NotEqual(t, first.seriesUID, second.seriesUID, "dermoscopic and clinical photos are in a series each")
	require.NotEqual(t, first.studyUID, first.seriesUID)
	require.Equal(t, []string{dicomfile.DermoscopicPhotographyImageStorage, "DMS"}, []string{first.class, first.modality})
	require.Equal(t, []string{dicomfile.VLPhotographicImageStorage, "XC"}, []string{second.class, second.modality})
	require.True(t, strings.HasPrefix(first.studyUID, "2.25."), first.studyUID)
	require.Equal(t, dicomfile.UIDFromUUID(jpg.File.ID), first.sopUID)
	require.Equal(t, []int{1, 2}, []int{first.number, second.number})
	require.Equal(t, "Doe^Archibald", first.patientName, "the case's patient as a DICOM person name")
	require.Equal(t, "77654033", first.patientID)
	require.Equal(t, "19500101", first.birthDate)
	require.Equal(t, "M", first.sex)
	require.NotEmpty(t, first.referrer)
	require.Equal(t, dicomfile.JPEGBaseline, first.ts, "a baseline JPEG is kept as it is")
	require.Equal(t, []int{int(*jpg.File.Height), int(*jpg.File.Width)}, []int{first.rows, first.columns})
	require.Equal(t, dicomfile.ExplicitVRLittleEndian, second.ts, "a PNG is carried as native pixels")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM photo_studies WHERE case_id = $1`, c.ID))
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM photo_instances WHERE file_id = $1`, dcm.File.ID),
		"DICOM files are not photos")

	// Sending the same photo again is a duplicate: no second instance.
	again := b.svc.Add(ctx, b.staffA, c, intake.Input{Filename: "lesion-again.jpg", Body: bytes.NewReader(testdata(t, "retina.jpg"))})
	require.True(t, again.Accepted && again.Duplicate, again.Reason)
	require.Equal(t, 2, b.count(t, `SELECT count(*) FROM photo_instances pi JOIN photo_studies st ON st.id = pi.study_id
		WHERE st.case_id = $1`, c.ID))

	// Another clinical photo joins the clinical series.
	third := b.add(t, c, "grey.png", flatPNGSized(t, 640))
	require.True(t, third.Accepted, third.Reason)
	r3 := b.photoRow(t, third.File.ID.String())
	require.Equal(t, []any{second.seriesUID, 3}, []any{r3.seriesUID, r3.number})

	// The generated object is stable, and is what the index says.
	obj := b.photoObject(t, c.SiteOrgID, jpg.File.ID)
	key, size, err := b.svc.PhotoObject(ctx, c.SiteOrgID, jpg.File.ID)
	require.NoError(t, err)
	require.EqualValues(t, len(obj), size)
	// Generated once and kept; a second read is the kept object, and a
	// regenerated one (the kept one removed) is the same bytes.
	require.True(t, bytes.Equal(obj, b.photoObject(t, c.SiteOrgID, jpg.File.ID)), "the same bytes each time")
	require.NoError(t, b.env.Blob.Delete(ctx, key))
	require.True(t, bytes.Equal(obj, b.photoObject(t, c.SiteOrgID, jpg.File.ID)), "the same bytes when generated again")
	require.True(t, strings.Contains(key, "/derived/"+jpg.File.ID.String()+"/"), key)
	h, err := dicomfile.ReadHeader(bytes.NewReader(obj), int64(len(obj)))
	require.NoError(t, err)
	require.Equal(t, dicomfile.DermoscopicPhotographyImageStorage, h.SOPClassUID)
	require.Equal(t, first.sopUID, h.SOPInstanceUID)
	require.Equal(t, first.studyUID, h.StudyInstanceUID)
	require.Equal(t, first.seriesUID, h.SeriesInstanceUID)
	require.Equal(t, "77654033", h.PatientID)
	require.Equal(t, dicomfile.JPEGBaseline, h.TransferSyntaxUID)

	// Another organisation's photo is not found.
	_, _, err = b.svc.PhotoObject(ctx, b.siteB.Org.ID, jpg.File.ID)
	require.ErrorContains(t, err, "not found")
}

func TestPhotoIndexBackfill(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.newCase(t)
	res := b.svc.Add(ctx, b.staffA, c, intake.Input{Filename: "lesion.jpg", Body: bytes.NewReader(testdata(t, "retina.jpg"))})
	require.True(t, res.Accepted, res.Reason)
	before := b.photoRow(t, res.File.ID.String())

	// As if the photo had been accepted before the photo index existed.
	_, err := b.env.Pool.Exec(ctx, `DELETE FROM photo_instances WHERE file_id = $1`, res.File.ID)
	require.NoError(t, err)
	_, err = b.env.Pool.Exec(ctx, `DELETE FROM photo_studies WHERE case_id = $1`, c.ID)
	require.NoError(t, err)

	n, err := b.svc.BackfillPhotos(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1) // other tests' photos share the database
	after := b.photoRow(t, res.File.ID.String())
	require.Equal(t, before.sopUID, after.sopUID, "the SOP Instance UID comes from the file")
	require.Equal(t, before.ts, after.ts)
	require.Equal(t, 1, after.number)

	// Nothing is left to do, and a second run adds nothing.
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM files f WHERE f.kind = 'photo' AND f.case_id = $1
		AND NOT EXISTS (SELECT 1 FROM photo_instances pi WHERE pi.file_id = f.id)`, c.ID))
	require.NoError(t, b.svc.Sweep(ctx))
	require.Equal(t, after, b.photoRow(t, res.File.ID.String()))
}

// flatPNGSized is a uniform grey side x side PNG.
func flatPNGSized(t testing.TB, side int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = 120
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// photoObject reads the DICOM object of a photo.
func (b *testBundle) photoObject(t *testing.T, org, file uuid.UUID) []byte {
	t.Helper()
	ctx := context.Background()
	key, size, err := b.svc.PhotoObject(ctx, org, file)
	require.NoError(t, err)
	rc, err := b.svc.OpenStored(ctx, key, 0, -1)
	require.NoError(t, err)
	defer rc.Close()
	obj, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.EqualValues(t, size, len(obj))
	return obj
}
