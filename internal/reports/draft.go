package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/reports/reportsdb"
)

// VersionMismatchError says that a save named a version of the draft that
// is no longer the current one (another tab or device saved meanwhile).
// SaveDraft returns it wrapped in an apperr Conflict; the HTTP layer answers
// 412 Precondition Failed.
type VersionMismatchError struct {
	// Current is the draft's version now; 0 when there is no draft yet.
	Current int32
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("the draft is at version %d", e.Current)
}

// SaveResult is what SaveDraft did.
type SaveResult struct {
	Report Report
	// Created is set when this save started the draft.
	Created bool
	// Changed is false when the content was the same as the current
	// version's: nothing was written but the claim's lease.
	Changed bool
}

// SaveDraft replaces the draft of a case's report with in: the whole
// content, every time, so that an editor can autosave. Only the specialist
// who holds the claim saves. Each save that changes something increments the
// version and keeps the previous content; a save of identical content is a
// no-op, so repeating a request changes nothing. ifMatch, when set, must be
// the current version (0: no draft yet), or the save fails with a
// VersionMismatchError and nothing is overwritten. Every save renews the
// claim's lease, in the same transaction.
func (s *Service) SaveDraft(ctx context.Context, p *identity.Principal, caseID uuid.UUID, in Content, ifMatch *int32) (SaveResult, error) {
	if err := specialistOf(p); err != nil {
		return SaveResult{}, err
	}
	var res SaveResult
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.lockCase(ctx, tx, p, caseID)
		if err != nil {
			return err
		}
		cur, err := s.q.ReportGetForUpdate(ctx, tx, reportsdb.ReportGetForUpdateParams{CaseID: caseID, ReadingGroupID: &p.OrgID})
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("load report: %w", err)
		}
		if exists && cur.Status != StatusDraft {
			return apperr.New(apperr.Conflict, "the report is signed (%s) and cannot change: add an addendum", cur.Status)
		}
		if err := holdsClaim(c, p); err != nil {
			return err
		}
		if fields := normalize(&in); len(fields) > 0 {
			return apperr.InvalidFields(fields)
		}
		diagnoses, err := json.Marshal(in.Diagnoses)
		if err != nil {
			return fmt.Errorf("diagnoses: %w", err)
		}
		if ifMatch != nil && ((!exists && *ifMatch != 0) || (exists && *ifMatch != cur.Version)) {
			current := int32(0)
			if exists {
				current = cur.Version
			}
			return apperr.Wrap(&VersionMismatchError{Current: current}, apperr.Conflict,
				"the draft was saved elsewhere meanwhile (it is at version %d): reload it before saving", current)
		}
		var row reportsdb.Report
		switch {
		case !exists:
			row, err = s.q.ReportInsert(ctx, tx, reportsdb.ReportInsertParams{CaseID: caseID, Findings: in.Findings,
				Impression: in.Impression, Diagnoses: diagnoses, Recommendations: in.Recommendations,
				FollowUp: in.FollowUp, Critical: in.Critical, AuthorID: p.UserID})
			if err != nil {
				return postgres.Translate(err, "report")
			}
			res.Created, res.Changed = true, true
			if err := cases.AppendEvent(ctx, tx, caseID, p, "report_started", nil, "",
				map[string]any{"report_id": row.ID.String()}); err != nil {
				return err
			}
		case sameContent(cur, in):
			row = cur
		default:
			if err := s.q.ReportVersionInsert(ctx, tx, reportsdb.ReportVersionInsertParams{ID: cur.ID, ReadingGroupID: &p.OrgID}); err != nil {
				return fmt.Errorf("keep report version: %w", err)
			}
			row, err = s.q.ReportUpdateDraft(ctx, tx, reportsdb.ReportUpdateDraftParams{ID: cur.ID, ReadingGroupID: &p.OrgID, Findings: in.Findings,
				Impression: in.Impression, Diagnoses: diagnoses, Recommendations: in.Recommendations,
				FollowUp: in.FollowUp, Critical: in.Critical, UpdatedBy: p.UserID})
			if err != nil {
				return postgres.Translate(err, "report")
			}
			res.Changed = true
		}
		if err := s.leases.RenewLease(ctx, tx, p, caseID); err != nil {
			return err
		}
		if res.Changed {
			if err := audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "report.draft", ObjectType: "report",
				ObjectID: row.ID.String(), ObjectOrgID: &c.SiteOrgID,
				Details: map[string]any{"case_id": caseID.String(), "version": row.Version}}); err != nil {
				return err
			}
		}
		res.Report, err = fromRow(row)
		return err
	})
	return res, err
}

// sameContent reports whether the stored draft already holds in.
func sameContent(cur reportsdb.Report, in Content) bool {
	var d []Diagnosis
	if err := json.Unmarshal(cur.Diagnoses, &d); err != nil {
		return false
	}
	return cur.Findings == in.Findings && cur.Impression == in.Impression && cur.Recommendations == in.Recommendations &&
		cur.FollowUp == in.FollowUp && cur.Critical == in.Critical && slices.Equal(d, in.Diagnoses)
}
