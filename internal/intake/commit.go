package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/dicomfile"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/postgres"
)

// commit moves a stored file to its content address and adds it to the
// case in one transaction: the case is locked (shared) and re-checked, the
// files row and the DICOM index are written, the timeline, completeness and
// audit log updated, and the preview job enqueued. A file already in the
// case (same bytes, or the same SOP instance) is a duplicate: nothing is
// written and the existing file is returned. If the transaction fails, an
// object it created that no file refers to is removed.
func (s *Service) commit(ctx context.Context, p *identity.Principal, caseID uuid.UUID, pf *pendingFile) (*File, bool, error) {
	org := p.OrgID
	final := blobKey(org, pf.storedSHA)
	created := false
	var out File
	var dup bool
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		dup = false
		err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			c, err := s.cases.LockForUpload(ctx, tx, p, caseID)
			if err != nil {
				return err
			}
			if out, dup, err = s.findDuplicate(ctx, tx, c, pf); err != nil || dup {
				return err
			}
			key := final
			if pf.adoptable {
				if key, err = s.adopt(ctx, tx, org, pf, final); err != nil {
					return err
				}
			} else {
				if err := s.q.BlobLockShared(ctx, tx, final); err != nil {
					return fmt.Errorf("lock object: %w", err)
				}
				existed, err := s.place(ctx, pf, final)
				if err != nil {
					return err
				}
				created = created || !existed
			}
			if out, err = s.insert(ctx, tx, p, c, pf, key, nil); err != nil {
				return err
			}
			// The audit record is the last statement: it takes the site's
			// audit chain lock, which every upload of the site waits for
			// until commit.
			return audit.Record(ctx, tx, uploadEvent(p, c, out))
		})
		if err == nil || !postgres.IsUniqueViolation(err, "") {
			break
		}
		// A concurrent upload added the same file or instance first: the
		// second attempt finds it and answers it as a duplicate.
	}
	if created && (err != nil || dup) {
		s.removeUnreferenced(ctx, org, final)
	}
	if err != nil {
		return nil, false, err
	}
	pf.adopted = out.BlobKey == pf.object
	return &out, dup, nil
}

// place puts the bytes of pf at their content address final: a small file
// from memory in one PUT, else by a server-side copy of its temporary (or
// presigned) object. existed says they were there already.
func (s *Service) place(ctx context.Context, pf *pendingFile, final string) (bool, error) {
	if pf.data != nil {
		return s.store.PutBytes(ctx, final, pf.data, pf.storedSHA, pf.contentType)
	}
	return s.store.Promote(ctx, pf.object, final, pf.storedSHA, pf.contentType)
}

// adopt chooses the object of a file whose bytes are in an object written
// once (pf.adoptable: a completed multipart upload, or a large file's
// staged object): the object at their content address
// final if the organisation has one (an incoming study's instance, or a
// placement whose transaction failed before its clean-up), else the
// object itself, which then is the file's without a copy. Nothing can
// write it again: a staged object's key is new and the server's alone; a
// multipart upload's is completed, and its part URLs died with it. (The same bytes in another file of the organisation would
// be the same DICOM instance, which a second case may not hold.) The
// exclusive lock on final orders this with placements of the same bytes.
func (s *Service) adopt(ctx context.Context, tx pgx.Tx, org uuid.UUID, pf *pendingFile, final string) (string, error) {
	if err := s.q.BlobLock(ctx, tx, final); err != nil {
		return "", fmt.Errorf("lock object: %w", err)
	}
	if _, err := s.store.Stat(ctx, final); err == nil {
		return final, nil
	} else if !apperr.Is(err, apperr.NotFound) {
		return "", err
	}
	if pf.owned {
		// A staged object: adopted in this transaction, so no longer the
		// sweep's (migrations/00018).
		if err := s.q.StagedObjectDelete(ctx, tx, intakedb.StagedObjectDeleteParams{Key: pf.object, OrgID: org}); err != nil {
			return "", fmt.Errorf("adopt object: %w", err)
		}
	}
	return pf.object, nil
}

// findDuplicate returns the file of case c that already holds pf: the same
// bytes, or the same DICOM instance. The same instance in another case of
// the site is refused.
func (s *Service) findDuplicate(ctx context.Context, tx pgx.Tx, c cases.Case, pf *pendingFile) (File, bool, error) {
	var sop *string
	if pf.header != nil {
		sop = &pf.header.SOPInstanceUID
	}
	rows, err := s.q.FileDuplicates(ctx, tx, intakedb.FileDuplicatesParams{CaseID: c.ID, OrgID: c.SiteOrgID,
		Sha256: pf.sha256, SopInstanceUid: sop})
	if err != nil {
		return File{}, false, fmt.Errorf("find duplicate: %w", err)
	}
	for _, r := range rows {
		if r.SameBytes {
			return r.File, true, nil
		}
	}
	if len(rows) == 0 {
		return File{}, false, nil
	}
	if f := rows[0].File; f.CaseID == c.ID {
		return f, true, nil
	}
	return File{}, false, rejectf("this DICOM instance (SOP Instance UID %s) is already part of another case of your site",
		pf.header.SOPInstanceUID)
}

// insert writes the file and everything that goes with it inside tx, but
// its audit record (uploadEvent), which the caller writes last.
//
// known, when not nil, holds the series already indexed in tx by their
// study and series UIDs (a batch's files): such a file joins its series
// without a statement.
func (s *Service) insert(ctx context.Context, tx pgx.Tx, p *identity.Principal, c cases.Case, pf *pendingFile, key string,
	known map[[2]string]uuid.UUID) (File, error) {
	warnings := pf.warnings
	var mismatch []string
	if pf.header != nil {
		if mismatch = patientMismatch(pf.header, c); len(mismatch) > 0 {
			warnings = append(warnings, Warning{Code: "patient_mismatch", Fields: mismatch, Message: fmt.Sprintf(
				"the patient in this DICOM file does not match the case (different %s): check that it belongs to this patient",
				fieldList(mismatch))})
		}
	}
	wjs, err := json.Marshal(warnings)
	if err != nil {
		return File{}, fmt.Errorf("warnings: %w", err)
	}
	mjs, err := json.Marshal(pf.metadata)
	if err != nil {
		return File{}, fmt.Errorf("metadata: %w", err)
	}
	// A DICOM file joins its study and series first: the first instance
	// of a series is rendered now (its preview stands for the series),
	// the others when first viewed.
	var series *indexedSeries
	preview := PreviewPending
	if pf.header != nil {
		uids := [2]string{pf.header.StudyInstanceUID, pf.header.SeriesInstanceUID}
		if id, ok := known[uids]; ok {
			series = &indexedSeries{id: id}
		} else if series, err = s.indexSeries(ctx, tx, c, pf.header); err != nil {
			return File{}, err
		} else if known != nil {
			known[uids] = series.id
		}
		if !series.created {
			preview = PreviewDeferred
		}
	}
	ins := intakedb.FileInsertParams{
		CaseID: c.ID, OrgID: c.SiteOrgID, Kind: pf.kind, Filename: pf.name, ContentType: pf.contentType,
		Size: pf.size, Sha256: pf.sha256, BlobKey: key, StoredSize: pf.storedSize, StoredSha256: pf.storedSHA,
		UploadedBy: p.UserID, Width: pf.width, Height: pf.height, BodySite: pf.bodySite, Dermoscopic: pf.dermoscopic,
		Warnings: wjs, Metadata: mjs, PatientMismatch: len(mismatch) > 0, PreviewStatus: preview,
	}
	var f File
	if series != nil {
		f, err = s.insertInstance(ctx, tx, ins, pf, series)
	} else {
		f, err = s.q.FileInsert(ctx, tx, ins)
	}
	if err != nil {
		return File{}, fmt.Errorf("insert file: %w", err)
	}
	if pf.kind == KindPhoto && pf.photoLayout.TransferSyntax != "" {
		if err := s.indexPhoto(ctx, tx, c, f, pf.photoLayout, f.CreatedAt); err != nil {
			return File{}, err
		}
	}
	if err := cases.AppendEvent(ctx, tx, c.ID, p, "file_added", nil, "",
		map[string]any{"file_id": f.ID, "kind": f.Kind}); err != nil {
		return File{}, err
	}
	if len(mismatch) > 0 {
		if err := cases.AppendEvent(ctx, tx, c.ID, p, "patient_mismatch", nil, "",
			map[string]any{"file_id": f.ID, "fields": mismatch}); err != nil {
			return File{}, err
		}
	}
	if err := cases.CheckCompleteLocked(ctx, tx, c, p); err != nil {
		return File{}, err
	}
	if preview == PreviewPending {
		if _, err := s.jobs.InsertTx(ctx, tx, PreviewArgs{FileID: f.ID}, nil); err != nil {
			return File{}, fmt.Errorf("enqueue preview: %w", err)
		}
	}
	return f, nil
}

// uploadEvent is the audit record of file f added to case c by p.
func uploadEvent(p *identity.Principal, c cases.Case, f File) audit.Event {
	return audit.Event{Actor: p.Actor(), Action: "file.upload", ObjectType: "file",
		ObjectID: f.ID.String(), ObjectOrgID: &f.OrgID, Details: map[string]any{"case_id": c.ID, "kind": f.Kind,
			"size": f.Size, "sha256": f.Sha256, "patient_mismatch": f.PatientMismatch}}
}

// indexedSeries is the series a DICOM file joins.
type indexedSeries struct {
	id uuid.UUID
	// created is true for the first instance of the series.
	created bool
}

// indexSeries adds the study and series of a DICOM file to the index (or
// finds them there), refusing a study or series of another case.
func (s *Service) indexSeries(ctx context.Context, tx pgx.Tx, c cases.Case, h *dicomfile.Header) (*indexedSeries, error) {
	r, err := s.q.SeriesUpsert(ctx, tx, intakedb.SeriesUpsertParams{OrgID: c.SiteOrgID, CaseID: c.ID,
		StudyInstanceUid: h.StudyInstanceUID, PatientName: h.PatientName, PatientID: h.PatientID,
		PatientBirthDate: h.PatientBirthDate, PatientSex: h.PatientSex, StudyDate: h.StudyDate, StudyTime: h.StudyTime,
		StudyDescription: h.StudyDescription, AccessionNumber: h.AccessionNumber,
		ReferringPhysicianName: h.ReferringPhysicianName,
		SeriesInstanceUid:      h.SeriesInstanceUID, Modality: h.Modality, BodyPart: h.BodyPartExamined,
		SeriesDescription: h.SeriesDescription, SeriesNumber: int32p(h.SeriesNumber)})
	if err != nil {
		return nil, fmt.Errorf("index study and series: %w", err)
	}
	if r.StudyCaseID != c.ID {
		return nil, rejectf("this file's study (Study Instance UID %s) is already part of another case of your site; send all of its instances to that case",
			h.StudyInstanceUID)
	}
	if r.SeriesStudyID != r.StudyID {
		return nil, rejectf("this file's series (Series Instance UID %s) already belongs to another study", h.SeriesInstanceUID)
	}
	return &indexedSeries{id: r.SeriesID, created: r.SeriesCreated}, nil
}

// insertInstance adds a DICOM file and its instance in its series (one
// statement).
func (s *Service) insertInstance(ctx context.Context, tx pgx.Tx, in intakedb.FileInsertParams, pf *pendingFile,
	series *indexedSeries) (File, error) {
	h := pf.header
	r, err := s.q.FileInsertInstance(ctx, tx, intakedb.FileInsertInstanceParams{
		CaseID: in.CaseID, OrgID: in.OrgID, Kind: in.Kind, Filename: in.Filename, ContentType: in.ContentType,
		Size: in.Size, Sha256: in.Sha256, BlobKey: in.BlobKey, StoredSize: in.StoredSize, StoredSha256: in.StoredSha256,
		UploadedBy: in.UploadedBy, Width: in.Width, Height: in.Height, BodySite: in.BodySite, Dermoscopic: in.Dermoscopic,
		Warnings: in.Warnings, Metadata: in.Metadata, PatientMismatch: in.PatientMismatch, PreviewStatus: in.PreviewStatus,
		SeriesID: series.id, NewSeries: series.created,
		SopInstanceUid: h.SOPInstanceUID, SopClassUid: h.SOPClassUID, InstanceNumber: int32p(h.InstanceNumber),
		Rows: pf.height, Columns: pf.width, Frames: int32(h.NumberOfFrames), TransferSyntax: h.TransferSyntaxUID,
		Photometric: h.PhotometricInterpretation})
	return File(r), err
}

// removeUnreferenced deletes a stored object that no file refers to; a
// failure is retried by a clean-up job.
func (s *Service) removeUnreferenced(ctx context.Context, org uuid.UUID, key string) {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	if err := s.deleteUnreferenced(cctx, org, key); err != nil {
		s.compensate(ctx, CleanupArgs{Action: CleanupRemoveBlob, OrgID: org, Key: key}, err)
	}
}

// deleteUnreferenced deletes a stored object of org unless a file refers
// to it. The exclusive lock waits for transactions adding files that refer
// to it.
func (s *Service) deleteUnreferenced(ctx context.Context, org uuid.UUID, key string) error {
	if sha, ok := strings.CutPrefix(key, blobKey(org, "")); !ok || !sha256Re.MatchString(sha) {
		return fmt.Errorf("remove unreferenced object: %q is not a stored object of organisation %s", key, org)
	}
	return postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.BlobLock(ctx, tx, key); err != nil {
			return err
		}
		used, err := s.q.FileBlobInUse(ctx, tx, intakedb.FileBlobInUseParams{OrgID: org, BlobKey: key})
		if err != nil || used {
			return err
		}
		return s.store.Delete(ctx, key)
	})
}

// fieldList names patient fields for a sentence: "patient ID and name".
func fieldList(fields []string) string {
	labels := map[string]string{"patient_id": "patient ID", "name": "name", "birth_date": "birth date"}
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = labels[f]
	}
	if len(out) == 1 {
		return out[0]
	}
	return strings.Join(out[:len(out)-1], ", ") + " and " + out[len(out)-1]
}

func int32p(v *int) *int32 {
	if v == nil {
		return nil
	}
	n := int32(*v)
	return &n
}

// spool is a photo on disk. Its name is unlinked at once where the system
// allows it, so nothing is left behind if the process dies.
type spool struct {
	f    *os.File
	name string
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "teleread-photo-*")
	if err != nil {
		return nil, fmt.Errorf("spool photo: %w", err)
	}
	sp := &spool{f: f, name: f.Name()}
	if os.Remove(sp.name) == nil {
		sp.name = ""
	}
	return sp, nil
}

func (sp *spool) remove() {
	sp.f.Close()
	if sp.name != "" {
		os.Remove(sp.name)
	}
}
