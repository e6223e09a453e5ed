package reports

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
	"github.com/teleread/teleread/internal/reports/reportsdb"
)

// Sign signs the report of a case, by the specialist who holds the claim.
//
// Without a second read, the first signature is final: the case moves
// in_review → reported. When the reading group requires a second read, the
// first signature makes the report preliminary (delivered to the site marked
// as such) and gives the case back to the worklist: it returns to routed,
// unclaimed, with the frozen report attached, so that another specialist of
// the group claims it like any case and signs it final; the case then moves
// in_review → reported. The specialist who signed the preliminary report
// cannot sign it final (Conflict). The content cannot change between the
// two signatures; a second reader who disagrees adds an addendum.
//
// The signature, the report's status, the case's status and timeline, the
// audit event and the delivery (delivery.Enqueue) are one transaction.
func (s *Service) Sign(ctx context.Context, p *identity.Principal, caseID uuid.UUID) (Report, error) {
	if err := specialistOf(p); err != nil {
		return Report{}, err
	}
	var out Report
	var claimedAt *time.Time
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.lockCase(ctx, tx, p, caseID)
		if err != nil {
			return err
		}
		claimedAt = c.ClaimedAt
		row, err := s.q.ReportGetForUpdate(ctx, tx, reportsdb.ReportGetForUpdateParams{CaseID: caseID, ReadingGroupID: &p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.Conflict, "there is no draft to sign: save one first")
		}
		if err != nil {
			return fmt.Errorf("load report: %w", err)
		}
		if row.Status == StatusFinal {
			return apperr.New(apperr.Conflict, "the report is already signed final: corrections are addenda")
		}
		if err := holdsClaim(c, p); err != nil {
			return err
		}
		r, err := s.complete(ctx, tx, cases.GroupScope(p.OrgID), row)
		if err != nil {
			return err
		}
		name, err := s.signerName(ctx, tx, p)
		if err != nil {
			return err
		}
		sig := Signature{Kind: StatusFinal, SignerID: p.UserID, SignerName: name, SignedAt: signingTime(s.now())}
		switch r.Status {
		case StatusDraft:
			if fields := signable(r.Content); len(fields) > 0 {
				return &apperr.Error{Code: apperr.Unprocessable, Message: "the draft cannot be signed yet", Fields: fields}
			}
			second, err := s.q.GroupRequiresSecondRead(ctx, tx, p.OrgID)
			if err != nil {
				return fmt.Errorf("reading group settings: %w", err)
			}
			if second {
				sig.Kind = StatusPreliminary
			}
			sig.ContentSHA256 = contentHash(r, c)
		case StatusPreliminary:
			first, _ := r.Signature(StatusPreliminary)
			if first.SignerID == p.UserID {
				return apperr.New(apperr.Conflict,
					"a second read needs another specialist: you signed the preliminary report, so a colleague signs it final")
			}
			if err := Verify(r, c); err != nil {
				return err // the frozen content changed: a bug or tampering, never the caller's fault
			}
			sig.ContentSHA256 = r.ContentSHA256
		}
		sig.SHA256 = signatureHash(r.ID, sig)
		if err := s.q.SignatureInsert(ctx, tx, reportsdb.SignatureInsertParams{ReportID: r.ID, Kind: sig.Kind,
			SignerID: sig.SignerID, SignerName: sig.SignerName, SignedAt: sig.SignedAt,
			ContentSha256: sig.ContentSHA256, Sha256: sig.SHA256}); err != nil {
			return postgres.Translate(err, "signature")
		}
		row, err = s.q.ReportSetSigned(ctx, tx, reportsdb.ReportSetSignedParams{ID: r.ID, ReadingGroupID: &p.OrgID, Status: sig.Kind,
			ContentSha256: &sig.ContentSHA256})
		if err != nil {
			return fmt.Errorf("mark report signed: %w", err)
		}
		details := map[string]any{"report_id": r.ID.String(), "signature": sig.Kind}
		event := EventFinal
		if sig.Kind == StatusPreliminary {
			event = EventPreliminary
			spec := p.UserID
			if _, err := cases.Move(ctx, tx, cases.GroupScope(p.OrgID), caseID, cases.Step{From: cases.StatusInReview,
				To: cases.StatusRouted, Only: []cases.Status{cases.StatusInReview}, Held: &cases.Held{By: &spec}}); err != nil {
				return fmt.Errorf("return case for second read: %w", err)
			}
			from := cases.StatusInReview
			details["awaiting"] = "second read"
			if err := cases.AppendEvent(ctx, tx, caseID, p, "report_signed", &from, cases.StatusRouted, details); err != nil {
				return err
			}
		} else {
			from := cases.StatusInReview
			if _, err := cases.Move(ctx, tx, cases.GroupScope(p.OrgID), caseID, cases.Step{From: from,
				To: cases.StatusReported, Held: &cases.Held{By: &p.UserID}}); err != nil {
				return err
			}
			if err := cases.AppendEvent(ctx, tx, caseID, p, "status", &from, cases.StatusReported, details); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "report.sign", ObjectType: "report",
			ObjectID: r.ID.String(), ObjectOrgID: &c.SiteOrgID,
			Details: map[string]any{"case_id": caseID.String(), "signature": sig.Kind, "sha256": sig.SHA256}}); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, s.jobs, delivery.Notice{ReportID: r.ID, CaseID: caseID, SiteOrgID: c.SiteOrgID,
			Event: event, Critical: r.Critical}); err != nil {
			return fmt.Errorf("enqueue delivery: %w", err)
		}
		out, err = s.complete(ctx, tx, cases.GroupScope(p.OrgID), row)
		return err
	})
	if err == nil && out.Status == StatusFinal && claimedAt != nil && s.opts.ObserveStep != nil {
		s.opts.ObserveStep("claimed", "signed", s.now().Sub(*claimedAt))
	}
	return out, err
}

// signable names what a draft lacks to be signed.
func signable(c Content) map[string]string {
	fields := map[string]string{}
	if strings.TrimSpace(c.Findings) == "" {
		fields["findings"] = "is required to sign"
	}
	if strings.TrimSpace(c.Impression) == "" {
		fields["impression"] = "is required to sign"
	}
	return fields
}

// signerName is the name a signature carries: the user's name when it was
// signed.
func (s *Service) signerName(ctx context.Context, tx pgx.Tx, p *identity.Principal) (string, error) {
	if p.Name != "" {
		return p.Name, nil
	}
	name, err := s.q.UserName(ctx, tx, reportsdb.UserNameParams{ID: p.UserID, OrgID: p.OrgID})
	if err != nil {
		return "", fmt.Errorf("signer name: %w", err)
	}
	return name, nil
}

// AddAddendum adds a correction or addition to a signed (preliminary or
// final) report, signed on creation by p, a specialist of the reading group
// the case is routed to; no claim is needed, since a final report's case has
// left the worklist. Addenda are immutable and delivered like the report
// (event report.addendum), in the same transaction.
func (s *Service) AddAddendum(ctx context.Context, p *identity.Principal, caseID uuid.UUID, text string) (Addendum, error) {
	return s.AddAddendumThen(ctx, p, caseID, text, nil)
}

// AddAddendumThen is AddAddendum that also runs then, when it is not nil,
// in the addendum's transaction (the HTTP edge stores the answer to an
// Idempotency-Key there, so that a retry never adds, and delivers, the
// addendum twice); an error of then rolls the addendum back.
func (s *Service) AddAddendumThen(ctx context.Context, p *identity.Principal, caseID uuid.UUID, text string,
	then func(ctx context.Context, tx pgx.Tx, a Addendum) error) (Addendum, error) {
	if err := specialistOf(p); err != nil {
		return Addendum{}, err
	}
	var out Addendum
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.lockCase(ctx, tx, p, caseID)
		if err != nil {
			return err
		}
		row, err := s.q.ReportGetForUpdate(ctx, tx, reportsdb.ReportGetForUpdateParams{CaseID: caseID, ReadingGroupID: &p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.Status == StatusDraft) {
			return apperr.New(apperr.Conflict, "the report is not signed yet: change the draft instead of adding an addendum")
		}
		if err != nil {
			return fmt.Errorf("load report: %w", err)
		}
		text = strings.TrimSpace(text)
		if text == "" || utf8.RuneCountInString(text) > maxAddendum {
			return apperr.InvalidFields(map[string]string{"text": fmt.Sprintf("is required (at most %d characters)", maxAddendum)})
		}
		name, err := s.signerName(ctx, tx, p)
		if err != nil {
			return err
		}
		a := Addendum{Text: text, SignerID: p.UserID, SignerName: name, SignedAt: signingTime(s.now())}
		a.SHA256 = addendumHash(row.ID, *row.ContentSha256, a)
		ins, err := s.q.AddendumInsert(ctx, tx, reportsdb.AddendumInsertParams{ReportID: row.ID, Text: a.Text,
			SignerID: a.SignerID, SignerName: a.SignerName, SignedAt: a.SignedAt, Sha256: a.SHA256})
		if err != nil {
			return postgres.Translate(err, "addendum")
		}
		a.ID = ins.ID
		if err := cases.AppendEvent(ctx, tx, caseID, p, "report_addendum", nil, "",
			map[string]any{"report_id": row.ID.String(), "addendum_id": a.ID.String()}); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "report.addendum", ObjectType: "report",
			ObjectID: row.ID.String(), ObjectOrgID: &c.SiteOrgID,
			Details: map[string]any{"case_id": caseID.String(), "addendum_id": a.ID.String(), "sha256": a.SHA256}}); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, s.jobs, delivery.Notice{ReportID: row.ID, CaseID: caseID, SiteOrgID: c.SiteOrgID,
			Event: EventAddendum, AddendumID: &a.ID, Critical: row.Critical}); err != nil {
			return fmt.Errorf("enqueue delivery: %w", err)
		}
		out = a
		if then != nil {
			return then(ctx, tx, a)
		}
		return nil
	})
	if err != nil {
		return Addendum{}, err
	}
	return out, nil
}
