package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/audit/auditdb"
	"github.com/teleread/teleread/internal/postgres"
)

// ReadWindow is the span, aligned on the clock, within which the reads of
// one object by one actor from one address, with one action, become one
// chained event (docs/security.md, "Reads").
const ReadWindow = time.Minute

// foldGrace is how long after a window ends it is left open for reads that
// took their time before they committed.
const foldGrace = 5 * time.Second

// RecordRead records a read of ev's object without waiting for its chain:
// one INSERT into audit_reads, outside any lock, so that a viewer's
// concurrent frame requests do not queue behind each other. The read is
// attributable at once (List shows it, as pending) and enters the hash
// chain when its window is folded: by Fold, run periodically, or by a later
// read of the same organisation that finds the chain free. It takes the
// arguments of RecordTx, for which it stands in.
func RecordRead(ctx context.Context, db postgres.Beginner, ev Event) error {
	if err := check(ev); err != nil {
		return err
	}
	details, err := canonicalDetails(ev.Details)
	if err != nil {
		return fmt.Errorf("audit: details: %w", err)
	}
	at := now().UTC().Truncate(time.Microsecond)
	chain := chainOf(ev.Actor.OrgID)
	arg := auditdb.ReadInsertParams{
		Chain: chain, WindowStart: at.Truncate(ReadWindow), At: at,
		ActorID: ev.Actor.UserID, ActorOrgID: ev.Actor.OrgID, Action: ev.Action,
		ObjectType: ev.ObjectType, ObjectID: ev.ObjectID, ObjectOrgID: ev.ObjectOrgID,
		ClientIp: ev.Actor.ClientIP, RequestID: ev.Actor.RequestID, Details: details,
	}
	if d, ok := db.(postgres.DB); ok {
		err = queries.ReadInsert(ctx, d, arg)
	} else {
		err = postgres.InTx(ctx, db, func(tx pgx.Tx) error { return queries.ReadInsert(ctx, tx, arg) })
	}
	if err != nil {
		return fmt.Errorf("audit: record read: %w", err)
	}
	foldSoon(ctx, db, chain, ev.Actor.OrgID)
	return nil
}

// RecordReads records several reads (a search's page of cases) as
// RecordRead does, in one statement: one round trip and one INSERT
// whatever their number.
func RecordReads(ctx context.Context, db postgres.Beginner, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	at := now().UTC().Truncate(time.Microsecond)
	var arg auditdb.ReadInsertManyParams
	str := func(u *uuid.UUID) string {
		if u == nil {
			return ""
		}
		return u.String()
	}
	for _, ev := range evs {
		if err := check(ev); err != nil {
			return err
		}
		details, err := canonicalDetails(ev.Details)
		if err != nil {
			return fmt.Errorf("audit: details: %w", err)
		}
		arg.Chains = append(arg.Chains, chainOf(ev.Actor.OrgID))
		arg.WindowStarts = append(arg.WindowStarts, at.Truncate(ReadWindow))
		arg.Ats = append(arg.Ats, at)
		arg.ActorIds = append(arg.ActorIds, str(ev.Actor.UserID))
		arg.ActorOrgIds = append(arg.ActorOrgIds, str(ev.Actor.OrgID))
		arg.Actions = append(arg.Actions, ev.Action)
		arg.ObjectTypes = append(arg.ObjectTypes, ev.ObjectType)
		arg.ObjectIds = append(arg.ObjectIds, ev.ObjectID)
		arg.ObjectOrgIds = append(arg.ObjectOrgIds, str(ev.ObjectOrgID))
		arg.ClientIps = append(arg.ClientIps, ev.Actor.ClientIP)
		arg.RequestIds = append(arg.RequestIds, ev.Actor.RequestID)
		arg.Details = append(arg.Details, string(details))
	}
	var err error
	if d, ok := db.(postgres.DB); ok {
		err = queries.ReadInsertMany(ctx, d, arg)
	} else {
		err = postgres.InTx(ctx, db, func(tx pgx.Tx) error { return queries.ReadInsertMany(ctx, tx, arg) })
	}
	if err != nil {
		return fmt.Errorf("audit: record reads: %w", err)
	}
	folded := map[string]bool{}
	for i, chain := range arg.Chains {
		if !folded[chain] {
			folded[chain] = true
			foldSoon(ctx, db, chain, evs[i].Actor.OrgID)
		}
	}
	return nil
}

// foldAttempts holds, per chain, when this process next tries to fold it
// after a read.
var foldAttempts sync.Map

// foldSoon folds the closed windows of a chain at most twice a window per
// process, and only when the chain's lock is free: a reader never waits for
// it. Failing changes nothing (the fold is one transaction) and is left to
// the next attempt or to Fold.
func foldSoon(ctx context.Context, db postgres.Beginner, chain string, org *uuid.UUID) {
	t := now()
	if next, ok := foldAttempts.Load(chain); ok && t.Before(next.(time.Time)) {
		return
	}
	foldAttempts.Store(chain, t.Add(ReadWindow/2))
	_, _ = foldChain(ctx, db, chain, org, closedBefore(t), true)
}

// closedBefore is the start before which every window is closed at t.
func closedBefore(t time.Time) time.Time { return t.Add(-ReadWindow - foldGrace) }

// Fold moves every closed read window of every organisation into the hash
// chains and returns the number of chained events it wrote. Run it
// periodically (a job); each chain is one transaction, under its lock.
func Fold(ctx context.Context, db postgres.Beginner) (int, error) {
	return FoldBefore(ctx, db, closedBefore(now()))
}

// FoldBefore is Fold of the windows that start before t; a t in the future
// folds open windows too, whose later reads then make an entry of their own.
func FoldBefore(ctx context.Context, db postgres.Beginner, t time.Time) (int, error) {
	var chains []string
	err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		var err error
		chains, err = queries.ReadChains(ctx, tx, t)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("audit fold: list chains: %w", err)
	}
	total := 0
	for _, chain := range chains {
		var org *uuid.UUID
		if chain != PlatformChain {
			id, err := uuid.Parse(chain)
			if err != nil {
				return total, fmt.Errorf("audit fold: chain %q is not an organisation", chain)
			}
			org = &id
		}
		n, err := foldChain(ctx, db, chain, org, t, false)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// foldChain takes the chain's windows that start before t out of
// audit_reads and appends one event per entry to the chain, in one
// transaction. With try it gives up, folding nothing, when the chain is
// locked.
func foldChain(ctx context.Context, db postgres.Beginner, chain string, org *uuid.UUID, t time.Time, try bool) (int, error) {
	n := 0
	err := postgres.InTx(ctx, db, func(tx pgx.Tx) error {
		n = 0
		if try {
			ok, err := queries.ChainTryLock(ctx, tx, chain)
			if err != nil || !ok {
				return err
			}
		} else if err := queries.ChainLock(ctx, tx, chain); err != nil {
			return err
		}
		reads, err := queries.ReadTake(ctx, tx, auditdb.ReadTakeParams{Chain: chain, Before: t})
		if err != nil || len(reads) == 0 {
			return err
		}
		events, err := foldReads(reads)
		if err != nil {
			return err
		}
		n = len(events)
		return appendLocked(ctx, tx, org, events)
	})
	if err != nil {
		return 0, fmt.Errorf("audit fold chain %s: %w", chain, err)
	}
	return n, nil
}

// readKey is what one folded entry is about.
type readKey struct {
	window                               time.Time
	actorID, actorOrgID, objectOrgID     string
	clientIP, action, objectType, object string
}

func idString(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// readGroup is the reads of one entry.
type readGroup struct {
	// first and last are by id (the order of their inserts); from and to
	// are the earliest and latest read times, which concurrent readers
	// may insert in another order.
	first, last auditdb.AuditRead
	from, to    time.Time
	n           int64
	details     []json.RawMessage
	seen        map[string]bool
}

// foldReads makes one chained event per entry of reads, in the order of
// each entry's first read.
func foldReads(reads []auditdb.AuditRead) ([]auditdb.AuditEvent, error) {
	sort.Slice(reads, func(i, j int) bool { return reads[i].ID < reads[j].ID })
	groups := map[readKey]*readGroup{}
	var order []readKey
	for _, r := range reads {
		k := readKey{window: r.WindowStart, actorID: idString(r.ActorID), actorOrgID: idString(r.ActorOrgID),
			objectOrgID: idString(r.ObjectOrgID), clientIP: r.ClientIp, action: r.Action,
			objectType: r.ObjectType, object: r.ObjectID}
		g := groups[k]
		if g == nil {
			g = &readGroup{first: r, from: r.At, to: r.At, seen: map[string]bool{}}
			groups[k] = g
			order = append(order, k)
		}
		g.last, g.n = r, g.n+1
		if r.At.Before(g.from) {
			g.from = r.At
		}
		if r.At.After(g.to) {
			g.to = r.At
		}
		if !g.seen[string(r.Details)] {
			g.seen[string(r.Details)] = true
			g.details = append(g.details, r.Details)
		}
	}
	out := make([]auditdb.AuditEvent, 0, len(order))
	for _, k := range order {
		g := groups[k]
		d, err := summary(g.details, g.n, g.first.WindowStart, g.from, g.to, g.last.RequestID, false)
		if err != nil {
			return nil, err
		}
		f := g.first
		out = append(out, auditdb.AuditEvent{At: g.from, ActorID: f.ActorID, ActorOrgID: f.ActorOrgID,
			Action: f.Action, ObjectType: f.ObjectType, ObjectID: f.ObjectID, ObjectOrgID: f.ObjectOrgID,
			ClientIp: f.ClientIp, RequestID: f.RequestID, Details: d})
	}
	return out, nil
}

// summary is the details of one entry of reads: the details its reads
// share, and "reads" (how many), "first_at", "last_at", "last_request_id"
// (the event's request_id is the first read's), "window" (ISO 8601 start
// and length) and, for details that differ between the reads (a frame's
// byte range, say), "varying": how many distinct values each had.
func summary(set []json.RawMessage, n int64, window, first, last time.Time, lastRequest string, pending bool) ([]byte, error) {
	values := map[string]map[string]bool{}
	present := map[string]int{}
	common := map[string]json.RawMessage{}
	for _, raw := range set {
		var m map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("audit: read details: %w", err)
		}
		for k, v := range m {
			c, err := canonicalJSON(v)
			if err != nil {
				return nil, fmt.Errorf("audit: read details: %w", err)
			}
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][string(c)] = true
			present[k]++
			common[k] = c
		}
	}
	out := map[string]any{}
	varying := map[string]any{}
	for k, vs := range values {
		if len(vs) == 1 && present[k] == len(set) {
			out[k] = common[k]
		} else {
			varying[k] = len(vs)
		}
	}
	if len(varying) > 0 {
		out["varying"] = varying
	}
	out["reads"] = n
	out["first_at"] = first.UTC().Format(time.RFC3339Nano)
	out["last_at"] = last.UTC().Format(time.RFC3339Nano)
	out["last_request_id"] = lastRequest
	out["window"] = fmt.Sprintf("%s/PT%dS", window.UTC().Format(time.RFC3339), int(ReadWindow/time.Second))
	if pending {
		out["pending"] = true
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return canonicalJSON(b)
}
