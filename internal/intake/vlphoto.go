package intake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/postgres"
)

// The photo index: each accepted photo of a case is also a DICOM VL
// Photographic Image in the case's own photo study (one per case, one
// series), which DICOMweb lists and serves like any other instance. The
// object is generated when it is read (PhotoObject) from the stored photo
// and the rows written here, so it is the same, byte for byte, each time.

// photoStudyDescription is the Study Description of every photo study.
const photoStudyDescription = "Clinical photographs"

// maxPhotoHead bounds the start of a stored photo kept while it streams to
// storage, for InspectPhoto: a JPEG's markers up to its first scan, a
// PNG's header. A longer one (large ICC profiles) is read back instead.
const maxPhotoHead = 1 << 20

// headCapture keeps the first bytes written to it, up to its capacity.
type headCapture struct {
	buf bytes.Buffer
	max int
}

func (h *headCapture) Write(p []byte) (int, error) {
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// full reports whether the capture stopped before the end of the photo.
func (h *headCapture) full() bool { return h.buf.Len() >= h.max }

// photoLayout says how the VL Photographic Image of the stored photo will
// carry its pixels, from the start of its bytes (or from storage, when
// head stopped too early).
func (s *Service) photoLayout(ctx context.Context, head *headCapture, key string) (dicomfile.PhotoLayout, error) {
	l, err := dicomfile.InspectPhoto(bytes.NewReader(head.buf.Bytes()))
	if err == nil || !head.full() {
		return l, err
	}
	rc, _, err := s.store.Get(ctx, key, 0, -1)
	if err != nil {
		return dicomfile.PhotoLayout{}, fmt.Errorf("read photo back: %w", err)
	}
	defer rc.Close()
	return dicomfile.InspectPhoto(rc)
}

// indexPhoto adds the photo f of case c to the case's photo study, making
// the study with the case's patient if it is the first photo.
func (s *Service) indexPhoto(ctx context.Context, tx pgx.Tx, c cases.Case, f File, l dicomfile.PhotoLayout, now time.Time) error {
	referrer, err := s.q.PhotoReferrerName(ctx, tx, intakedb.PhotoReferrerNameParams{CaseID: c.ID, OrgID: c.SiteOrgID})
	if err != nil {
		return fmt.Errorf("photo study referrer: %w", err)
	}
	sex := c.PatientSex
	if sex == "U" { // DICOM has F, M and O; unknown is an empty value
		sex = ""
	}
	now = now.UTC()
	st, err := s.q.PhotoStudyEnsure(ctx, tx, intakedb.PhotoStudyEnsureParams{
		OrgID: c.SiteOrgID, CaseID: c.ID,
		StudyInstanceUid:  dicomfile.UIDFromUUID(uuid.New()),
		SeriesInstanceUid: dicomfile.UIDFromUUID(uuid.New()),
		PatientName:       personName(c.PatientName), PatientID: c.PatientMrn,
		PatientBirthDate: c.PatientBirthDate.Format("20060102"), PatientSex: sex,
		StudyDate: now.Format("20060102"), StudyTime: now.Format("150405"),
		StudyDescription: photoStudyDescription, ReferringPhysicianName: personName(referrer),
		DermoscopySeriesUid: dicomfile.UIDFromUUID(uuid.New()),
	})
	if err != nil {
		return fmt.Errorf("photo study: %w", err)
	}
	// A series holds one modality: clinical photos (XC) in one,
	// dermoscopic ones (DMS) in the other.
	series, class, modality := st.SeriesInstanceUid, dicomfile.VLPhotographicImageStorage, "XC"
	if f.Dermoscopic != nil && *f.Dermoscopic {
		series, class, modality = *st.DermoscopySeriesUid, dicomfile.DermoscopicPhotographyImageStorage, "DMS"
	}
	_, err = s.q.PhotoInstanceInsert(ctx, tx, intakedb.PhotoInstanceInsertParams{
		OrgID: c.SiteOrgID, StudyID: st.ID, FileID: f.ID, SeriesInstanceUid: series, SopClassUid: class, Modality: modality,
		SopInstanceUid: dicomfile.UIDFromUUID(f.ID),
		TransferSyntax: l.TransferSyntax, Rows: int32(l.Rows), Columns: int32(l.Columns),
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("photo instance: %w", err)
	}
	return nil
}

// personName writes a name as the site typed it ("Jane Q. Doe") as a DICOM
// person name ("Doe^Jane Q."): the last word is the family name. A name
// that is already a DICOM person name is kept. Characters a PN cannot hold
// (backslash, '=', control characters) become spaces, and each component
// is cut to the 64 characters a PN allows.
func personName(name string) string {
	clean := strings.Map(func(r rune) rune {
		if r == '\\' || r == '=' || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, name)
	var comps []string
	if strings.Contains(clean, "^") {
		comps = strings.Split(clean, "^")
	} else {
		words := strings.Fields(clean)
		switch len(words) {
		case 0:
			return ""
		case 1:
			comps = words
		default:
			comps = []string{words[len(words)-1], strings.Join(words[:len(words)-1], " ")}
		}
	}
	if len(comps) > 5 {
		comps = comps[:5]
	}
	for i, c := range comps {
		c = strings.Join(strings.Fields(c), " ")
		if r := []rune(c); len(r) > 64 {
			c = strings.TrimSpace(string(r[:64]))
		}
		comps[i] = c
	}
	return strings.TrimRight(strings.Join(comps, "^"), "^")
}

// PhotoObject returns the stored key and size of the DICOM object (VL
// Photographic or Dermoscopic Photography Image) of the photo file id of
// organisation org, which the caller found through a query scoped to what
// its principal may see and audited (as DICOMweb does); read it with
// OpenStored. It is generated from the stored photo on first use and kept
// under the file's derived objects, keyed by the writer's version, so it is
// the same bytes each time and a PNG is decoded once, not on every read.
func (s *Service) PhotoObject(ctx context.Context, org, id uuid.UUID) (string, int64, error) {
	key := derivedKey(org, id, fmt.Sprintf("photo-v%d.dcm", dicomfile.PhotoWriterVersion))
	if info, err := s.store.Stat(ctx, key); err == nil {
		return key, info.Size, nil
	} else if !apperr.Is(err, apperr.NotFound) {
		return "", 0, fmt.Errorf("photo object: %w", err)
	}
	obj, err := s.generatePhoto(ctx, org, id)
	if err != nil {
		return "", 0, err
	}
	if _, err := s.store.Put(ctx, key, bytes.NewReader(obj), int64(len(obj)), "application/dicom"); err != nil {
		return "", 0, fmt.Errorf("keep photo object: %w", err)
	}
	return key, int64(len(obj)), nil
}

// generatePhoto writes the DICOM object of photo file id of org.
func (s *Service) generatePhoto(ctx context.Context, org, id uuid.UUID) ([]byte, error) {
	r, err := s.q.PhotoObject(ctx, s.pool, intakedb.PhotoObjectParams{FileID: id, OrgID: org})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "photo not found")
	}
	if err != nil {
		return nil, fmt.Errorf("photo object: %w", err)
	}
	// A decoded photo is large: share the upload path's bound.
	select {
	case s.photos <- struct{}{}:
		defer func() { <-s.photos }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	rc, _, err := s.store.Get(ctx, r.BlobKey, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("open photo: %w", err)
	}
	defer rc.Close()
	img, err := io.ReadAll(io.LimitReader(rc, s.opts.MaxPhotoBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read photo: %w", err)
	}
	at := r.CreatedAt.UTC()
	p := dicomfile.Photo{
		StudyInstanceUID: r.StudyInstanceUid, SeriesInstanceUID: r.SeriesInstanceUid, SOPInstanceUID: r.SopInstanceUid,
		InstanceNumber: int(r.InstanceNumber),
		PatientName:    r.PatientName, PatientID: r.PatientID, PatientBirthDate: r.PatientBirthDate, PatientSex: r.PatientSex,
		StudyDate: r.StudyDate, StudyTime: r.StudyTime, StudyDescription: r.StudyDescription,
		AccessionNumber: r.AccessionNumber, ReferringPhysicianName: r.ReferringPhysicianName,
		ContentDate: at.Format("20060102"), ContentTime: at.Format("150405"),
		InstitutionName: r.InstitutionName,
	}
	if r.BodySite != nil {
		p.BodySite = *r.BodySite
	}
	if r.Dermoscopic != nil {
		p.Dermoscopic = *r.Dermoscopic
	}
	var out bytes.Buffer
	l, err := dicomfile.WritePhoto(&out, img, p)
	if err != nil {
		return nil, fmt.Errorf("photo object of file %s: %w", id, err)
	}
	if l.TransferSyntax != r.TransferSyntax || (p.Dermoscopic != (r.SopClassUid == dicomfile.DermoscopicPhotographyImageStorage)) {
		return nil, fmt.Errorf("photo object of file %s: carried as %s, indexed as %s of SOP class %s",
			id, l.TransferSyntax, r.TransferSyntax, r.SopClassUid)
	}
	return out.Bytes(), nil
}

// BackfillPhotos adds the photos accepted before the photo index existed
// (or whose indexing failed) to it, a batch at a time, and returns how
// many it added. It is safe to run while uploads go on, and on several
// servers at once.
func (s *Service) BackfillPhotos(ctx context.Context) (int, error) {
	added := 0
	for {
		rows, err := s.q.PhotosUnindexed(ctx, s.pool, 100)
		if err != nil {
			return added, fmt.Errorf("photos to index: %w", err)
		}
		progressed := false
		for _, f := range rows {
			ok, err := s.backfillPhoto(ctx, f)
			if err != nil {
				// One photo that cannot be read must not stop the others:
				// it is logged (without PHI) and left for the next run.
				s.opts.Logger.WarnContext(ctx, "photo index backfill: photo skipped", "file_id", f.ID, "error", err.Error())
				continue
			}
			if ok {
				added++
				progressed = true
			}
		}
		if len(rows) < 100 || !progressed {
			return added, nil
		}
	}
}

// backfillPhoto indexes one photo; false when another server did first.
func (s *Service) backfillPhoto(ctx context.Context, f intakedb.PhotosUnindexedRow) (bool, error) {
	rc, _, err := s.store.Get(ctx, f.BlobKey, 0, -1)
	if err != nil {
		return false, fmt.Errorf("open photo: %w", err)
	}
	l, err := dicomfile.InspectPhoto(rc)
	rc.Close()
	if err != nil {
		return false, fmt.Errorf("inspect photo: %w", err)
	}
	done := false
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := cases.Lock(ctx, tx, cases.SiteScope(f.OrgID), f.CaseID)
		if err != nil {
			return err
		}
		file, err := s.q.FileGet(ctx, tx, intakedb.FileGetParams{ID: f.ID, OrgID: f.OrgID})
		if err != nil {
			return fmt.Errorf("load file: %w", err)
		}
		if err := s.indexPhoto(ctx, tx, c, file, l, file.CreatedAt); err != nil {
			return err
		}
		done = true
		return nil
	})
	if postgres.IsUniqueViolation(err, "") {
		return false, nil
	}
	return done && err == nil, err
}
