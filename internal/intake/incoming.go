package intake

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
	"github.com/teleread/teleread/internal/postgres"
)

// IncomingStudy is a study a site pushed without naming a case (STOW-RS to
// /dicomweb/studies), waiting to be made a case or attached to one.
type IncomingStudy struct {
	intakedb.IncomingStudy
	// Instances is the number of its instances received.
	Instances int64
	// Modalities are its series' modalities, backslash-separated as DICOM
	// writes ModalitiesInStudy.
	Modalities string
}

// Receive stores one DICOM instance pushed site-wide among the site's
// incoming studies. It takes the per-file path of Add (hashing, header,
// checks), keeps the bytes at the site's content address, and records the
// instance under its study, audited, in one transaction. An instance the
// site already has (incoming or in a case) is a duplicate: nothing is
// written. An instance of a study that is already a case's is refused:
// it goes to that case.
func (s *Service) Receive(ctx context.Context, p *identity.Principal, in Input) Result {
	src := source{filename: SanitizeFilename(in.Filename), r: in.Body, expectSize: -1, onlyDICOM: true, check: in.CheckDICOM}
	return s.process(ctx, p.OrgID, nil, src, func(pf *pendingFile) (*File, bool, error) {
		dup, err := s.commitIncoming(ctx, p, pf)
		return nil, dup, err
	})
}

// errDuplicate ends a transaction that found the instance already there.
var errDuplicate = errors.New("instance already received")

// commitIncoming is Receive's transaction; dup reports an instance the
// site already had, which changes nothing.
func (s *Service) commitIncoming(ctx context.Context, p *identity.Principal, pf *pendingFile) (dup bool, err error) {
	org, h := p.OrgID, pf.header
	final := blobKey(org, pf.storedSHA)
	created := false
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The same SOP instance already in a case of the site (attached
		// before, or uploaded to it): nothing to do.
		_, err := s.q.InstanceOwner(ctx, tx, intakedb.InstanceOwnerParams{OrgID: org, SopInstanceUid: h.SOPInstanceUID})
		if err == nil {
			return errDuplicate
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find instance: %w", err)
		}
		caseID, err := s.q.StudyCaseOf(ctx, tx, intakedb.StudyCaseOfParams{OrgID: org, StudyInstanceUid: h.StudyInstanceUID})
		switch {
		case err == nil:
			return rejectf("this study (Study Instance UID %s) is part of case %s of your site: send its instances to /dicomweb/cases/%s/studies",
				h.StudyInstanceUID, caseID, caseID)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("find the study's case: %w", err)
		}
		st, err := s.q.IncomingStudyUpsert(ctx, tx, intakedb.IncomingStudyUpsertParams{OrgID: org,
			StudyInstanceUid: h.StudyInstanceUID, PatientName: h.PatientName, PatientID: h.PatientID,
			PatientBirthDate: h.PatientBirthDate, PatientSex: h.PatientSex, StudyDate: h.StudyDate, StudyTime: h.StudyTime,
			StudyDescription: h.StudyDescription, AccessionNumber: h.AccessionNumber})
		if err != nil {
			return fmt.Errorf("record incoming study: %w", err)
		}
		if st.CaseID != nil {
			return rejectf("this study (Study Instance UID %s) was made part of case %s of your site: send its instances to /dicomweb/cases/%s/studies",
				h.StudyInstanceUID, *st.CaseID, *st.CaseID)
		}
		if err := s.q.BlobLockShared(ctx, tx, final); err != nil {
			return fmt.Errorf("lock object: %w", err)
		}
		existed, err := s.place(ctx, pf, final)
		if err != nil {
			return err
		}
		created = created || !existed
		inst, err := s.q.IncomingInstanceInsert(ctx, tx, intakedb.IncomingInstanceInsertParams{OrgID: org, StudyID: st.ID,
			SeriesInstanceUid: h.SeriesInstanceUID, SopInstanceUid: h.SOPInstanceUID, SopClassUid: h.SOPClassUID,
			Modality: h.Modality, TransferSyntax: h.TransferSyntaxUID, BlobKey: final, Size: pf.storedSize,
			Sha256: pf.storedSHA, ReceivedBy: p.UserID})
		if errors.Is(err, pgx.ErrNoRows) {
			return errDuplicate
		}
		if err != nil {
			return fmt.Errorf("record incoming instance: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "incoming.receive", ObjectType: "incoming_study",
			ObjectID: st.ID.String(), ObjectOrgID: &org, Details: map[string]any{"instance_id": inst.ID, "size": inst.Size,
				"sha256": inst.Sha256}})
	})
	if errors.Is(err, errDuplicate) {
		// The same SOP instance again: a no-op, whatever became of the first.
		dup, err = true, nil
	}
	if created && (err != nil || dup) {
		s.removeUnreferenced(ctx, org, final)
	}
	return dup, err
}

// IncomingStudies lists the site's incoming studies that no case holds
// yet, newest arrival first, and audits the read (it shows patients).
func (s *Service) IncomingStudies(ctx context.Context, p *identity.Principal) ([]IncomingStudy, error) {
	rows, err := s.q.IncomingStudyList(ctx, s.pool, intakedb.IncomingStudyListParams{OrgID: p.OrgID, Lim: 500})
	if err != nil {
		return nil, fmt.Errorf("list incoming studies: %w", err)
	}
	out := make([]IncomingStudy, len(rows))
	for i, r := range rows {
		out[i] = IncomingStudy{IncomingStudy: intakedb.IncomingStudy{ID: r.ID, OrgID: r.OrgID,
			StudyInstanceUid: r.StudyInstanceUid, PatientName: r.PatientName, PatientID: r.PatientID,
			PatientBirthDate: r.PatientBirthDate, PatientSex: r.PatientSex, StudyDate: r.StudyDate, StudyTime: r.StudyTime,
			StudyDescription: r.StudyDescription, AccessionNumber: r.AccessionNumber, FirstReceivedAt: r.FirstReceivedAt,
			LastReceivedAt: r.LastReceivedAt}, Instances: r.Instances, Modalities: r.Modalities}
	}
	org := p.OrgID
	return out, audit.RecordRead(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "incoming.list",
		ObjectType: "org", ObjectID: org.String(), ObjectOrgID: &org, Details: map[string]any{"studies": len(out)}})
}

// CheckIncoming reports NotFound unless every one of ids is an incoming
// study of p's site that no case holds yet.
func (s *Service) CheckIncoming(ctx context.Context, p *identity.Principal, ids []uuid.UUID) error {
	for _, id := range ids {
		st, err := s.q.IncomingStudyGet(ctx, s.pool, intakedb.IncomingStudyGetParams{ID: id, OrgID: p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && st.CaseID != nil) {
			return apperr.New(apperr.NotFound, "incoming study %s not found", id)
		}
		if err != nil {
			return fmt.Errorf("load incoming study: %w", err)
		}
	}
	return nil
}

// Attach makes the incoming studies ids files of case c (which
// CheckUploadable returned), instance by instance through the per-file
// path of Add, read back from where they are stored (nothing is stored
// twice). An instance already in the case is a duplicate. A study is
// marked attached, and leaves the incoming list, once every one of its
// instances is a file of the case; attaching again finishes one that was
// cut short. Another site's study, or one already attached elsewhere, is
// NotFound.
func (s *Service) Attach(ctx context.Context, p *identity.Principal, c cases.Case, ids []uuid.UUID) ([]Result, error) {
	var out []Result
	for _, id := range ids {
		st, err := s.q.IncomingStudyLock(ctx, s.pool, intakedb.IncomingStudyLockParams{ID: id, OrgID: c.SiteOrgID})
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && st.CaseID != nil && *st.CaseID != c.ID) {
			return out, apperr.New(apperr.NotFound, "incoming study %s not found", id)
		}
		if err != nil {
			return out, fmt.Errorf("load incoming study: %w", err)
		}
		insts, err := s.q.IncomingInstancesOf(ctx, s.pool, intakedb.IncomingInstancesOfParams{StudyID: st.ID, OrgID: c.SiteOrgID})
		if err != nil {
			return out, fmt.Errorf("list incoming instances: %w", err)
		}
		for _, inst := range insts {
			r := s.attachInstance(ctx, p, c, inst)
			out = append(out, r)
			if r.Err != nil {
				return out, r.Err
			}
		}
		if err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			n, err := s.q.IncomingStudyAttach(ctx, tx, intakedb.IncomingStudyAttachParams{CaseID: &c.ID, ID: st.ID,
				OrgID: c.SiteOrgID})
			if err != nil || n == 0 {
				// Attached before, or some instance is not a file of the
				// case yet (its result says why).
				return err
			}
			return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "incoming.attach", ObjectType: "incoming_study",
				ObjectID: st.ID.String(), ObjectOrgID: &st.OrgID, Details: map[string]any{"case_id": c.ID, "instances": len(insts)}})
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// attachInstance adds one incoming instance to case c.
func (s *Service) attachInstance(ctx context.Context, p *identity.Principal, c cases.Case, inst intakedb.IncomingInstance) Result {
	rc, err := s.OpenStored(ctx, inst.BlobKey, 0, -1)
	if err != nil {
		return Result{Filename: inst.SopInstanceUid + ".dcm", Err: err, Reason: "the stored instance could not be read"}
	}
	defer rc.Close()
	r := s.ingest(ctx, p, c, source{filename: inst.SopInstanceUid + ".dcm", r: rc, storedKey: inst.BlobKey,
		expectSHA256: inst.Sha256, expectSize: inst.Size})
	if r.Accepted && r.File != nil {
		if err := s.q.IncomingInstanceAttach(ctx, s.pool, intakedb.IncomingInstanceAttachParams{FileID: &r.File.ID,
			ID: inst.ID, OrgID: inst.OrgID}); err != nil {
			r.Err = fmt.Errorf("mark incoming instance attached: %w", err)
		}
	}
	return r
}
