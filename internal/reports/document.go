package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/reports/reportsdb"
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
func (s *Service) document(ctx context.Context, sc cases.Scope, r Report, c cases.Case) (document, error) {
	d := document{Report: r, Case: c, Links: s.LinksOf(r.ID)}
	pp := sc.Params()
	parties, err := s.q.CaseParties(ctx, s.pool, reportsdb.CasePartiesParams{CaseID: c.ID, Platform: pp.Platform,
		SiteOrgID: pp.SiteOrgID, ReadingGroupID: pp.ReadingGroupID})
	if err != nil {
		return document{}, fmt.Errorf("site, reading group and referring physician of case %s: %w", c.ID, err)
	}
	d.SiteName, d.GroupName, d.ReferringName = parties.SiteName, parties.GroupName, parties.ReferringName
	studies, err := s.q.StudyList(ctx, s.pool, reportsdb.StudyListParams{CaseID: c.ID, Platform: pp.Platform,
		SiteOrgID: pp.SiteOrgID, ReadingGroupID: pp.ReadingGroupID})
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
	c, err := cases.Read(ctx, s.pool, cases.WorkerScope(), row.CaseID)
	if err != nil {
		return Report{}, cases.Case{}, fmt.Errorf("case of report %s: %w", id, err)
	}
	r, err := s.complete(ctx, s.pool, cases.SiteScope(c.SiteOrgID), row)
	if err != nil {
		return Report{}, cases.Case{}, err
	}
	return r, c, nil
}
