package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/cases"
)

// document is everything the outward forms of a report (PDF, FHIR, webhook)
// show: the report, its case, and the names and studies around it.
type document struct {
	Report        Report
	Case          cases.Case
	SiteName      string
	GroupName     string
	ReferringName string
	Studies       []Study
	Links         Links
}

// Study is a DICOM study of the case.
type Study struct {
	ID               uuid.UUID
	StudyInstanceUID string
	StudyDate        string // YYYYMMDD, as in DICOM; may be empty
	Description      string
	AccessionNumber  string
	Modalities       []string
	Series           int
	Instances        int
}

// document loads the surroundings of r, a report of case c.
func (s *Service) document(ctx context.Context, r Report, c cases.Case) (document, error) {
	d := document{Report: r, Case: c, Links: s.LinksOf(r.ID)}
	var err error
	if d.SiteName, err = s.q.OrgName(ctx, s.pool, c.SiteOrgID); err != nil {
		return document{}, fmt.Errorf("site of case %s: %w", c.ID, err)
	}
	if c.ReadingGroupID != nil {
		if d.GroupName, err = s.q.OrgName(ctx, s.pool, *c.ReadingGroupID); err != nil {
			return document{}, fmt.Errorf("reading group of case %s: %w", c.ID, err)
		}
	}
	if d.ReferringName, err = s.q.UserName(ctx, s.pool, c.ReferringPhysicianID); err != nil {
		return document{}, fmt.Errorf("referring physician of case %s: %w", c.ID, err)
	}
	studies, err := s.q.StudyList(ctx, s.pool, c.ID)
	if err != nil {
		return document{}, fmt.Errorf("studies of case %s: %w", c.ID, err)
	}
	for _, st := range studies {
		d.Studies = append(d.Studies, Study{ID: st.ID, StudyInstanceUID: st.StudyInstanceUid, StudyDate: st.StudyDate,
			Description: st.StudyDescription, AccessionNumber: st.AccessionNumber, Modalities: st.Modalities,
			Series: int(st.SeriesCount), Instances: int(st.InstanceCount)})
	}
	return d, nil
}

// issued is when the current form of the report was made available: its
// last signature or addendum.
func (d document) issued() time.Time {
	var t time.Time
	for _, s := range d.Report.Signatures {
		if s.SignedAt.After(t) {
			t = s.SignedAt
		}
	}
	for _, a := range d.Report.Addenda {
		if a.SignedAt.After(t) {
			t = a.SignedAt
		}
	}
	return t
}

// loadByID loads report id and its case without visibility checks, for
// the system (webhook payloads).
func (s *Service) loadByID(ctx context.Context, id uuid.UUID) (Report, cases.Case, error) {
	row, err := s.q.ReportGet(ctx, s.pool, id)
	if err != nil {
		return Report{}, cases.Case{}, fmt.Errorf("report %s: %w", id, err)
	}
	r, err := s.complete(ctx, s.pool, row)
	if err != nil {
		return Report{}, cases.Case{}, err
	}
	c, err := s.q.CaseGet(ctx, s.pool, r.CaseID)
	if err != nil {
		return Report{}, cases.Case{}, fmt.Errorf("case of report %s: %w", id, err)
	}
	return r, cases.Case(c), nil
}
