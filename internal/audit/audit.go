// Package audit is Teleread's append-only, hash-chained audit log. Events
// are written in the same transaction as the action they record; every read
// of patient data and every change is one. Each organisation's events form
// a chain in which every row carries the hash of the one before, so that
// Verify finds a row that was changed, removed or inserted afterwards.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/audit/auditdb"
	"github.com/teleread/teleread/internal/postgres"
)

// PlatformChain is the chain of events whose actor has no organisation
// (the system itself, or an anonymous failed login).
const PlatformChain = "platform"

var queries = auditdb.New()

// Actor is who did something, and from where.
type Actor struct {
	UserID    *uuid.UUID
	OrgID     *uuid.UUID
	ClientIP  string
	RequestID string
}

// Event is one audited action.
type Event struct {
	Actor      Actor
	Action     string // verb.noun, e.g. "case.view", "token.create", "file.download"
	ObjectType string
	ObjectID   string
	// ObjectOrgID is the organisation that owns the object, so that its
	// admins can see who touched it.
	ObjectOrgID *uuid.UUID
	// Details are extra facts; never patient data.
	Details map[string]any
}

// Record appends ev to its chain inside tx. The chain is locked until tx
// ends, so the event is in the chain exactly when the action commits.
func Record(ctx context.Context, tx pgx.Tx, ev Event) error {
	if err := check(ev); err != nil {
		return err
	}
	details, err := canonicalDetails(ev.Details)
	if err != nil {
		return fmt.Errorf("audit: details: %w", err)
	}
	chain := chainOf(ev.Actor.OrgID)
	if err := queries.ChainLock(ctx, tx, chain); err != nil {
		return fmt.Errorf("audit: lock chain: %w", err)
	}
	return appendLocked(ctx, tx, ev.Actor.OrgID, []auditdb.AuditEvent{{
		At: now().UTC().Truncate(time.Microsecond), ActorID: ev.Actor.UserID, ActorOrgID: ev.Actor.OrgID,
		Action: ev.Action, ObjectType: ev.ObjectType, ObjectID: ev.ObjectID, ObjectOrgID: ev.ObjectOrgID,
		ClientIp: ev.Actor.ClientIP, RequestID: ev.Actor.RequestID, Details: details,
	}})
}

// RecordAll is Record for several events of actors of one organisation
// (the files of one upload request), in order: the chain's lock is taken
// and its head read once for all of them.
func RecordAll(ctx context.Context, tx pgx.Tx, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	org := evs[0].Actor.OrgID
	at := now().UTC().Truncate(time.Microsecond)
	rows := make([]auditdb.AuditEvent, 0, len(evs))
	for _, ev := range evs {
		if err := check(ev); err != nil {
			return err
		}
		if chainOf(ev.Actor.OrgID) != chainOf(org) {
			return errors.New("audit: RecordAll: events of actors of different organisations")
		}
		details, err := canonicalDetails(ev.Details)
		if err != nil {
			return fmt.Errorf("audit: details: %w", err)
		}
		rows = append(rows, auditdb.AuditEvent{
			At: at, ActorID: ev.Actor.UserID, ActorOrgID: ev.Actor.OrgID,
			Action: ev.Action, ObjectType: ev.ObjectType, ObjectID: ev.ObjectID, ObjectOrgID: ev.ObjectOrgID,
			ClientIp: ev.Actor.ClientIP, RequestID: ev.Actor.RequestID, Details: details,
		})
	}
	if err := queries.ChainLock(ctx, tx, chainOf(org)); err != nil {
		return fmt.Errorf("audit: lock chain: %w", err)
	}
	return appendLocked(ctx, tx, org, rows)
}

// now is the clock of the package; tests move it.
var now = time.Now

func check(ev Event) error {
	if ev.Action == "" || ev.ObjectType == "" {
		return errors.New("audit: event needs an action and an object type")
	}
	return nil
}

// chainOf names the chain of an actor's organisation.
func chainOf(org *uuid.UUID) string {
	if org == nil {
		return PlatformChain
	}
	return org.String()
}

// appendLocked appends rows, in order, to the chain of org, whose lock the
// caller holds in tx: it fills in each row's chain, sequence and hashes.
func appendLocked(ctx context.Context, tx pgx.Tx, org *uuid.UUID, rows []auditdb.AuditEvent) error {
	chain := chainOf(org)
	prev := make([]byte, sha256.Size)
	seq := int64(1)
	head, err := queries.ChainHead(ctx, tx, org)
	switch {
	case err == nil:
		prev, seq = head.Hash, head.ChainSeq+1
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("audit: chain head: %w", err)
	}
	if len(rows) > 1 {
		return insertMany(ctx, tx, chain, seq, prev, rows)
	}
	for _, row := range rows {
		row.Chain, row.ChainSeq, row.PrevHash = chain, seq, prev
		row.Hash = hashOf(row)
		_, err = queries.EventInsert(ctx, tx, auditdb.EventInsertParams{
			Chain: row.Chain, ChainSeq: row.ChainSeq, At: row.At, ActorID: row.ActorID, ActorOrgID: row.ActorOrgID,
			Action: row.Action, ObjectType: row.ObjectType, ObjectID: row.ObjectID, ObjectOrgID: row.ObjectOrgID,
			ClientIp: row.ClientIp, RequestID: row.RequestID, Details: row.Details, PrevHash: row.PrevHash, Hash: row.Hash,
		})
		if err != nil {
			return fmt.Errorf("audit: insert: %w", err)
		}
		prev, seq = row.Hash, seq+1
	}
	return nil
}

// insertMany appends rows to chain in one statement, the first at seq
// after prev.
func insertMany(ctx context.Context, tx pgx.Tx, chain string, seq int64, prev []byte, rows []auditdb.AuditEvent) error {
	var arg auditdb.EventInsertManyParams
	str := func(u *uuid.UUID) string {
		if u == nil {
			return ""
		}
		return u.String()
	}
	for _, row := range rows {
		row.Chain, row.ChainSeq, row.PrevHash = chain, seq, prev
		row.Hash = hashOf(row)
		arg.Chains = append(arg.Chains, row.Chain)
		arg.ChainSeqs = append(arg.ChainSeqs, row.ChainSeq)
		arg.Ats = append(arg.Ats, row.At)
		arg.ActorIds = append(arg.ActorIds, str(row.ActorID))
		arg.ActorOrgIds = append(arg.ActorOrgIds, str(row.ActorOrgID))
		arg.Actions = append(arg.Actions, row.Action)
		arg.ObjectTypes = append(arg.ObjectTypes, row.ObjectType)
		arg.ObjectIds = append(arg.ObjectIds, row.ObjectID)
		arg.ObjectOrgIds = append(arg.ObjectOrgIds, str(row.ObjectOrgID))
		arg.ClientIps = append(arg.ClientIps, row.ClientIp)
		arg.RequestIds = append(arg.RequestIds, row.RequestID)
		arg.Details = append(arg.Details, string(row.Details))
		arg.PrevHashes = append(arg.PrevHashes, row.PrevHash)
		arg.Hashes = append(arg.Hashes, row.Hash)
		prev, seq = row.Hash, seq+1
	}
	if err := queries.EventInsertMany(ctx, tx, arg); err != nil {
		return fmt.Errorf("audit: insert: %w", err)
	}
	return nil
}

// RecordTx is Record in a transaction of its own, for reads that change
// nothing else. It waits for the chain's lock; RecordRead does not, and is
// the one for reads that come many at a time (docs/security.md, "Reads").
func RecordTx(ctx context.Context, db postgres.Beginner, ev Event) error {
	return postgres.InTx(ctx, db, func(tx pgx.Tx) error { return Record(ctx, tx, ev) })
}

// hashedContent is what a row's hash covers, in a fixed order.
type hashedContent struct {
	Chain       string          `json:"chain"`
	Seq         int64           `json:"seq"`
	At          string          `json:"at"`
	ActorID     *uuid.UUID      `json:"actor_id"`
	ActorOrgID  *uuid.UUID      `json:"actor_org_id"`
	Action      string          `json:"action"`
	ObjectType  string          `json:"object_type"`
	ObjectID    string          `json:"object_id"`
	ObjectOrgID *uuid.UUID      `json:"object_org_id"`
	ClientIP    string          `json:"client_ip"`
	RequestID   string          `json:"request_id"`
	Details     json.RawMessage `json:"details"`
}

// hashOf returns SHA-256(prev_hash || canonical JSON of the row's content).
func hashOf(r auditdb.AuditEvent) []byte {
	details, err := canonicalJSON(r.Details)
	if err != nil {
		// A row whose details are not JSON cannot verify; hash the raw bytes
		// so that Verify reports a mismatch instead of failing.
		details = r.Details
	}
	content, _ := json.Marshal(hashedContent{
		Chain: r.Chain, Seq: r.ChainSeq, At: r.At.UTC().Format(time.RFC3339Nano),
		ActorID: r.ActorID, ActorOrgID: r.ActorOrgID, Action: r.Action, ObjectType: r.ObjectType,
		ObjectID: r.ObjectID, ObjectOrgID: r.ObjectOrgID, ClientIP: r.ClientIp, RequestID: r.RequestID,
		Details: details,
	})
	h := sha256.New()
	h.Write(r.PrevHash)
	h.Write(content)
	return h.Sum(nil)
}

func canonicalDetails(d map[string]any) ([]byte, error) {
	if d == nil {
		d = map[string]any{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return canonicalJSON(b)
}

// canonicalJSON re-encodes JSON with sorted keys and exact numbers, so the
// bytes PostgreSQL hands back from jsonb hash the same as those written.
func canonicalJSON(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
