package intake

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/blob"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake/intakedb"
)

// DICOMRef is where a DICOM file sits in the study/series index.
type DICOMRef = intakedb.FileDicomRow

// Study is a DICOM study of a case with its series.
type Study struct {
	intakedb.DicomStudy
	Series []Series
}

// Series is a DICOM series with its instance and frame counts.
type Series = intakedb.SeriesListByCaseRow

// CaseFiles returns the files of a case p may see, and audits the read.
func (s *Service) CaseFiles(ctx context.Context, p *identity.Principal, caseID uuid.UUID) ([]File, error) {
	c, err := s.cases.Visible(ctx, s.pool, p, caseID)
	if err != nil {
		return nil, err
	}
	files, err := s.q.FileListByCase(ctx, s.pool, intakedb.FileListByCaseParams{CaseID: c.ID, Platform: p.IsPlatformAdmin(),
		OrgID: p.OrgID})
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	err = audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "file.list", ObjectType: "case",
		ObjectID: c.ID.String(), ObjectOrgID: &c.SiteOrgID, Details: map[string]any{"files": len(files)}})
	return files, err
}

// CaseStudies returns the DICOM studies of a case p may see, each with its
// series, and audits the read.
func (s *Service) CaseStudies(ctx context.Context, p *identity.Principal, caseID uuid.UUID) ([]Study, error) {
	c, err := s.cases.Visible(ctx, s.pool, p, caseID)
	if err != nil {
		return nil, err
	}
	studies, err := s.q.StudyListByCase(ctx, s.pool, intakedb.StudyListByCaseParams{CaseID: c.ID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if err != nil {
		return nil, fmt.Errorf("list studies: %w", err)
	}
	series, err := s.q.SeriesListByCase(ctx, s.pool, intakedb.SeriesListByCaseParams{CaseID: c.ID,
		Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if err != nil {
		return nil, fmt.Errorf("list series: %w", err)
	}
	out := make([]Study, len(studies))
	for i, st := range studies {
		out[i] = Study{DicomStudy: st, Series: []Series{}}
		for _, se := range series {
			if se.StudyID == st.ID {
				out[i].Series = append(out[i].Series, se)
			}
		}
	}
	err = audit.RecordTx(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: "study.list", ObjectType: "case",
		ObjectID: c.ID.String(), ObjectOrgID: &c.SiteOrgID, Details: map[string]any{"studies": len(studies)}})
	return out, err
}

// visibleFile returns a file whose case p may see; any other file,
// another tenant's included, is NotFound. Only a file of p's organisation
// (or of a case routed to p's reading group) is read at all.
func (s *Service) visibleFile(ctx context.Context, p *identity.Principal, id uuid.UUID) (File, error) {
	notFound := apperr.New(apperr.NotFound, "file not found")
	f, err := s.q.FileGet(ctx, s.pool, intakedb.FileGetParams{ID: id, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
	if errors.Is(err, pgx.ErrNoRows) {
		return File{}, notFound
	}
	if err != nil {
		return File{}, fmt.Errorf("load file: %w", err)
	}
	c, err := s.cases.Visible(ctx, s.pool, p, f.CaseID)
	if apperr.Is(err, apperr.NotFound) || (err == nil && c.SiteOrgID != f.OrgID) {
		return File{}, notFound
	}
	return f, err
}

// ViewFile returns the metadata of a file p may see (and, for DICOM, where
// it sits in the index), and audits the read.
func (s *Service) ViewFile(ctx context.Context, p *identity.Principal, id uuid.UUID) (File, *DICOMRef, error) {
	f, err := s.visibleFile(ctx, p, id)
	if err != nil {
		return File{}, nil, err
	}
	var ref *DICOMRef
	if f.Kind == KindDICOM {
		r, err := s.q.FileDicom(ctx, s.pool, intakedb.FileDicomParams{FileID: f.ID, Platform: p.IsPlatformAdmin(),
			OrgID: p.OrgID})
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return File{}, nil, fmt.Errorf("file index: %w", err)
		}
		if err == nil {
			ref = &r
		}
	}
	return f, ref, s.auditRead(ctx, p, f, "file.view", nil)
}

// ContentFile returns a file p may see, to read its stored bytes with
// OpenContent. It reads nothing and audits nothing.
func (s *Service) ContentFile(ctx context.Context, p *identity.Principal, id uuid.UUID) (File, error) {
	return s.visibleFile(ctx, p, id)
}

// OpenContent audits a download of f's stored bytes (the original DICOM,
// or the cleaned photo) and opens them from offset, for length bytes (-1:
// to the end). The caller closes the reader.
func (s *Service) OpenContent(ctx context.Context, p *identity.Principal, f File, offset, length int64) (io.ReadCloser, error) {
	details := map[string]any{}
	if offset > 0 || (length >= 0 && length < f.StoredSize) {
		details["range"] = fmt.Sprintf("%d-%d", offset, offset+length-1)
	}
	if err := s.auditRead(ctx, p, f, "file.download", details); err != nil {
		return nil, err
	}
	rc, _, err := s.store.Get(ctx, f.BlobKey, offset, length)
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// OpenStored opens the stored bytes of a file that the caller found
// through a query scoped to what p may see and audited as one read of a
// larger whole (a DICOMweb retrieval of a study or series, audited once):
// blobKey is that file's. It audits nothing itself.
func (s *Service) OpenStored(ctx context.Context, blobKey string, offset, length int64) (io.ReadCloser, error) {
	rc, _, err := s.store.Get(ctx, blobKey, offset, length)
	if err != nil {
		return nil, fmt.Errorf("open stored file: %w", err)
	}
	return rc, nil
}

// Derived names a rendered image of a file.
type Derived string

// The rendered images.
const (
	DerivedPreview   Derived = "preview"
	DerivedThumbnail Derived = "thumbnail"
)

// OpenDerived opens the preview or thumbnail of a file p may see, and
// audits the read. A deferred one is rendered now and kept. While one is
// being rendered by its job the answer is a Conflict to retry; when it
// cannot be rendered, an Unprocessable saying why.
func (s *Service) OpenDerived(ctx context.Context, p *identity.Principal, id uuid.UUID, which Derived) (File, io.ReadCloser, blob.Info, error) {
	f, err := s.visibleFile(ctx, p, id)
	if err != nil {
		return File{}, nil, blob.Info{}, err
	}
	if f.PreviewStatus == PreviewDeferred {
		if f, err = s.renderDeferred(ctx, p, f); err != nil {
			return File{}, nil, blob.Info{}, err
		}
	}
	var key *string
	switch f.PreviewStatus {
	case PreviewPending, PreviewDeferred:
		return File{}, nil, blob.Info{}, &apperr.Error{Code: apperr.Conflict, RetryAfterSeconds: 5,
			Message: fmt.Sprintf("the %s is still being rendered; try again in a few seconds", which)}
	case PreviewUnavailable:
		return File{}, nil, blob.Info{}, apperr.New(apperr.Unprocessable, "%s", f.PreviewNote)
	case PreviewFailed:
		return File{}, nil, blob.Info{}, apperr.New(apperr.Unprocessable, "the %s could not be rendered: %s", which, f.PreviewNote)
	}
	key = f.PreviewKey
	if which == DerivedThumbnail {
		key = f.ThumbnailKey
	}
	if key == nil {
		return File{}, nil, blob.Info{}, apperr.New(apperr.NotFound, "%s not found", which)
	}
	if err := s.auditRead(ctx, p, f, "file."+string(which), nil); err != nil {
		return File{}, nil, blob.Info{}, err
	}
	rc, info, err := s.store.Get(ctx, *key, 0, -1)
	if err != nil {
		return File{}, nil, blob.Info{}, err
	}
	return f, rc, info, nil
}

func (s *Service) auditRead(ctx context.Context, p *identity.Principal, f File, action string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["case_id"] = f.CaseID
	return audit.RecordRead(ctx, s.pool, audit.Event{Actor: p.Actor(), Action: action, ObjectType: "file",
		ObjectID: f.ID.String(), ObjectOrgID: &f.OrgID, Details: details})
}
