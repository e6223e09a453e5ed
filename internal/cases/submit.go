package cases

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases/casesdb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// ManifestEntry declares one file the site will send.
type ManifestEntry struct {
	SHA256 string
	Name   string
	Size   *int64
}

// ManifestItem is a declared file and whether it has arrived.
type ManifestItem struct {
	ManifestEntry
	FileID *uuid.UUID
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// MaxManifestEntries bounds a manifest.
const MaxManifestEntries = 20000

func validateManifest(entries []ManifestEntry) string {
	if len(entries) > MaxManifestEntries {
		return fmt.Sprintf("at most %d files", MaxManifestEntries)
	}
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		if !sha256Re.MatchString(e.SHA256) {
			return fmt.Sprintf("entry %d: sha256 must be 64 lowercase hex digits", i)
		}
		if seen[e.SHA256] {
			return fmt.Sprintf("entry %d: sha256 %s is declared twice", i, e.SHA256)
		}
		if e.Size != nil && *e.Size <= 0 {
			return fmt.Sprintf("entry %d: size must be positive", i)
		}
		if len(e.Name) > 255 {
			return fmt.Sprintf("entry %d: name is longer than 255 characters", i)
		}
		seen[e.SHA256] = true
	}
	return ""
}

// lockEditable locks a case of p's site that may still change (draft or
// info requested). Another site's case is NotFound; a case in another state
// is a Conflict.
func (s *Service) lockEditable(ctx context.Context, tx pgx.Tx, p *identity.Principal, id uuid.UUID, share bool) (Case, error) {
	if p.OrgKind != identity.OrgSite {
		return Case{}, apperr.New(apperr.NotFound, "case not found")
	}
	var c Case
	var err error
	if share {
		c, err = s.q.CaseGetForShare(ctx, tx, casesdb.CaseGetForShareParams{ID: id, OrgID: p.OrgID, SiteWide: siteWide(p), UserID: p.UserID})
	} else {
		c, err = s.q.CaseGetForUpdate(ctx, tx, casesdb.CaseGetForUpdateParams{ID: id, OrgID: p.OrgID, SiteWide: siteWide(p), UserID: p.UserID})
	}
	return checkEditable(c, err)
}

// checkEditable answers the read of a case that may still change: not
// found, in a state where files and details cannot change (Conflict), or c.
func checkEditable(c Case, err error) (Case, error) {
	if err != nil {
		return Case{}, postgres.Translate(err, "case")
	}
	if !editable(Status(c.Status)) {
		return Case{}, apperr.New(apperr.Conflict, "the case is %s: files and details can change only in a draft or when more information was requested", c.Status)
	}
	return c, nil
}

// LockForUpload locks a case so that files can be added to it inside tx:
// the case must be p's site's and editable. The lock is shared, so several
// uploads to one case run at once, while submit waits for them.
func (s *Service) LockForUpload(ctx context.Context, tx pgx.Tx, p *identity.Principal, id uuid.UUID) (Case, error) {
	return s.lockEditable(ctx, tx, p, id, true)
}

// CheckUploadable is LockForUpload without a transaction or a lock (one
// statement), to refuse an upload before its bytes are streamed; the
// upload's transaction checks again under the lock.
func (s *Service) CheckUploadable(ctx context.Context, p *identity.Principal, id uuid.UUID) (Case, error) {
	if p.OrgKind != identity.OrgSite {
		return Case{}, apperr.New(apperr.NotFound, "case not found")
	}
	return checkEditable(s.q.CaseGetEditable(ctx, s.pool, casesdb.CaseGetEditableParams{ID: id, OrgID: p.OrgID,
		SiteWide: siteWide(p), UserID: p.UserID}))
}

// Change is the input of Update; nil fields stay.
type Change struct {
	Priority         *string
	ClinicalQuestion *string
	History          *string
	LesionBodySite   *string
	LesionDuration   *string
}

// Update changes the details of an editable case.
func (s *Service) Update(ctx context.Context, p *identity.Principal, id uuid.UUID, in Change) (Case, error) {
	fields := map[string]string{}
	if in.Priority != nil && !ValidPriority(*in.Priority) {
		fields["priority"] = "must be stat, urgent or routine"
	}
	if in.ClinicalQuestion != nil && (strings.TrimSpace(*in.ClinicalQuestion) == "" || len(*in.ClinicalQuestion) > 4000) {
		fields["clinical_question"] = "must be 1-4000 characters"
	}
	if in.History != nil && len(*in.History) > 20000 {
		fields["history"] = "must be at most 20000 characters"
	}
	if len(fields) > 0 {
		return Case{}, apperr.InvalidFields(fields)
	}
	var c Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if _, err = s.lockEditable(ctx, tx, p, id, false); err != nil {
			return err
		}
		c, err = s.q.CaseUpdateDraft(ctx, tx, casesdb.CaseUpdateDraftParams{ID: id, SiteOrgID: p.OrgID, Priority: in.Priority,
			ClinicalQuestion: in.ClinicalQuestion, History: in.History, LesionBodySite: in.LesionBodySite,
			LesionDuration: in.LesionDuration})
		if err != nil {
			return postgres.Translate(err, "case")
		}
		if err := s.event(ctx, tx, id, p, "updated", nil, "", nil); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.update", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	})
	return c, err
}

// SetManifest declares and seals the files of an editable case, replacing
// an earlier manifest.
func (s *Service) SetManifest(ctx context.Context, p *identity.Principal, id uuid.UUID, entries []ManifestEntry) ([]ManifestItem, error) {
	if len(entries) == 0 {
		return nil, apperr.InvalidFields(map[string]string{"files": "declare at least one file"})
	}
	if msg := validateManifest(entries); msg != "" {
		return nil, apperr.InvalidFields(map[string]string{"files": msg})
	}
	var items []ManifestItem
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.lockEditable(ctx, tx, p, id, false)
		if err != nil {
			return err
		}
		if err := s.sealManifest(ctx, tx, c, p, entries); err != nil {
			return err
		}
		if err := CheckComplete(ctx, tx, id, p); err != nil {
			return err
		}
		if items, err = s.manifest(ctx, tx, SiteScope(c.SiteOrgID), id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.manifest", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID, Details: map[string]any{"files": len(entries)}})
	})
	return items, err
}

func (s *Service) sealManifest(ctx context.Context, tx pgx.Tx, c Case, p *identity.Principal, entries []ManifestEntry) error {
	id := c.ID
	if err := s.q.ManifestDelete(ctx, tx, casesdb.ManifestDeleteParams{CaseID: id, SiteOrgID: c.SiteOrgID}); err != nil {
		return fmt.Errorf("clear manifest: %w", err)
	}
	for _, e := range entries {
		if err := s.q.ManifestInsert(ctx, tx, casesdb.ManifestInsertParams{CaseID: id, Sha256: e.SHA256, Name: e.Name, Size: e.Size}); err != nil {
			return fmt.Errorf("manifest entry: %w", err)
		}
	}
	if err := s.q.CaseSealManifest(ctx, tx, casesdb.CaseSealManifestParams{ID: id, SiteOrgID: c.SiteOrgID}); err != nil {
		return fmt.Errorf("seal manifest: %w", err)
	}
	return s.event(ctx, tx, id, p, "manifest_sealed", nil, "", map[string]any{"files": len(entries)})
}

// Manifest returns the declared files of a case p may see and which have
// arrived.
func (s *Service) Manifest(ctx context.Context, p *identity.Principal, id uuid.UUID) ([]ManifestItem, error) {
	if _, err := s.Visible(ctx, s.pool, p, id); err != nil {
		return nil, err
	}
	return s.manifest(ctx, s.pool, ScopeOf(p), id)
}

func (s *Service) manifest(ctx context.Context, db postgres.DB, sc Scope, id uuid.UUID) ([]ManifestItem, error) {
	pp := sc.Params()
	rows, err := s.q.ManifestList(ctx, db, casesdb.ManifestListParams{CaseID: id, Platform: pp.Platform,
		SiteOrgID: pp.SiteOrgID, ReadingGroupID: pp.ReadingGroupID})
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	items := make([]ManifestItem, len(rows))
	for i, r := range rows {
		items[i] = ManifestItem{ManifestEntry: ManifestEntry{SHA256: r.Sha256, Name: r.Name, Size: r.Size}, FileID: r.FileID}
	}
	return items, nil
}

// CheckComplete records "complete" on the timeline, once, when every file
// of a sealed manifest has arrived. Call it inside the transaction that adds
// a file; p is the uploader, or nil for the system.
func CheckComplete(ctx context.Context, tx pgx.Tx, id uuid.UUID, p *identity.Principal) error {
	q := casesdb.New()
	// Read, not Lock: uploads hold the case FOR SHARE, side by side.
	c, err := Read(ctx, tx, scopeFor(p), id)
	if err != nil {
		return err
	}
	site := c.SiteOrgID
	st, err := q.CaseCompleteness(ctx, tx, casesdb.CaseCompletenessParams{ID: id, SiteOrgID: site})
	if err != nil {
		return fmt.Errorf("case completeness: %w", err)
	}
	if !st.Sealed || st.Complete {
		return nil
	}
	rows, err := q.ManifestList(ctx, tx, casesdb.ManifestListParams{CaseID: id, SiteOrgID: site})
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	for _, r := range rows {
		if r.FileID == nil {
			return nil
		}
	}
	if err := q.CaseSetComplete(ctx, tx, casesdb.CaseSetCompleteParams{ID: id, SiteOrgID: site}); err != nil {
		return fmt.Errorf("mark complete: %w", err)
	}
	return AppendEvent(ctx, tx, id, p, "complete", nil, "", map[string]any{"files": len(rows)})
}

// CheckCompleteLocked is CheckComplete for the case c that tx holds locked
// (LockForUpload) and read with the lock. While the lock is held no other
// transaction can seal its manifest or mark it complete, so a case without
// a sealed manifest, or complete already, costs no statement: what an
// upload without a manifest finds on every file.
func CheckCompleteLocked(ctx context.Context, tx pgx.Tx, c Case, p *identity.Principal) error {
	if c.ManifestSealedAt == nil || c.CompleteAt != nil {
		return nil
	}
	return CheckComplete(ctx, tx, c.ID, p)
}

// Submit checks that an editable case is complete and, in one transaction,
// moves it to submitted and enqueues its routing job.
func (s *Service) Submit(ctx context.Context, p *identity.Principal, id uuid.UUID) (Case, error) {
	var c Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := s.lockEditable(ctx, tx, p, id, false)
		if err != nil {
			return err
		}
		n, err := s.q.FileCount(ctx, tx, casesdb.FileCountParams{CaseID: id, SiteOrgID: cur.SiteOrgID})
		if err != nil {
			return fmt.Errorf("count files: %w", err)
		}
		if n == 0 {
			return apperr.New(apperr.Conflict, "the case has no files yet: upload at least one photo or DICOM instance")
		}
		if cur.ManifestSealedAt != nil {
			items, err := s.manifest(ctx, tx, SiteScope(cur.SiteOrgID), id)
			if err != nil {
				return err
			}
			var missing []string
			for _, it := range items {
				if it.FileID == nil {
					name := it.Name
					if name == "" {
						name = it.SHA256
					}
					missing = append(missing, name)
				}
			}
			if len(missing) > 0 {
				shown := missing
				if len(shown) > 20 {
					shown = shown[:20]
				}
				return &apperr.Error{Code: apperr.Conflict, Message: fmt.Sprintf(
					"%d of %d declared files have not arrived: %s", len(missing), len(items), strings.Join(shown, ", "))}
			}
			if err := CheckComplete(ctx, tx, id, p); err != nil {
				return err
			}
		}
		if c, err = Transition(ctx, tx, cur.ID, Status(cur.Status), p, StatusSubmitted, map[string]any{"files": n}); err != nil {
			return err
		}
		if _, err := s.jobs.InsertTx(ctx, tx, RouteArgs{CaseID: id}, nil); err != nil {
			return fmt.Errorf("enqueue routing: %w", err)
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.submit", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	})
	return c, err
}

// Cancel withdraws a case that no specialist has claimed yet.
func (s *Service) Cancel(ctx context.Context, p *identity.Principal, id uuid.UUID, reason string) (Case, error) {
	if len(reason) > 2000 {
		return Case{}, apperr.InvalidFields(map[string]string{"reason": "must be at most 2000 characters"})
	}
	var c Case
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if p.OrgKind != identity.OrgSite {
			return apperr.New(apperr.NotFound, "case not found")
		}
		cur, err := s.q.CaseGetForUpdate(ctx, tx, casesdb.CaseGetForUpdateParams{ID: id, OrgID: p.OrgID, SiteWide: siteWide(p), UserID: p.UserID})
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.NotFound, "case not found")
		}
		if err != nil {
			return fmt.Errorf("load case: %w", err)
		}
		// A case waiting for its second read is routed again, but its
		// preliminary report has reached the referrer: it cannot be withdrawn.
		signed, err := s.q.CaseHasSignedReport(ctx, tx, casesdb.CaseHasSignedReportParams{CaseID: id, SiteOrgID: cur.SiteOrgID})
		if err != nil {
			return fmt.Errorf("check report: %w", err)
		}
		if signed {
			return apperr.New(apperr.Conflict, "a report on this case has been signed; it can no longer be cancelled")
		}
		if c, err = Transition(ctx, tx, cur.ID, Status(cur.Status), p, StatusCancelled, map[string]any{"reason": reason}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "case.cancel", ObjectType: "case",
			ObjectID: id.String(), ObjectOrgID: &c.SiteOrgID})
	})
	return c, err
}
