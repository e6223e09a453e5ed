package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/audit/auditdb"
	"github.com/teleread/teleread/internal/postgres"
)

// Filter selects events for List. Nil fields do not filter.
type Filter struct {
	// Platform, for platform admins, lists every organisation's events;
	// otherwise List returns those whose actor or object belongs to OrgID.
	Platform   bool
	OrgID      uuid.UUID
	ActorID    *uuid.UUID
	ObjectType *string
	ObjectID   *string
	Action     *string
	Since      *time.Time
	Until      *time.Time
	// BeforeID is the cursor: events older than this id.
	BeforeID *int64
	Limit    int
}

// Entry is one event as listed.
type Entry struct {
	ID          int64
	At          time.Time
	ActorID     *uuid.UUID
	ActorOrgID  *uuid.UUID
	Action      string
	ObjectType  string
	ObjectID    string
	ObjectOrgID *uuid.UUID
	ClientIP    string
	RequestID   string
	Details     map[string]any
	// Pending is set on an entry of reads not yet folded into the chain
	// (ID 0): its Details hold "reads", "first_at", "last_at" and "window"
	// as the chained event will.
	Pending bool
}

// scope returns the explicit scope of f: a zero Filter sees nothing.
func (f Filter) scope() (platform bool, org uuid.UUID) { return f.Platform, f.OrgID }

// List returns events matching f, newest first. The first page (no
// BeforeID) starts with the entries of reads not yet folded into the chain
// (Pending, ID 0), at most Limit-1 of them, so that a full page always ends
// with a chained event whose ID is the cursor of the next one.
func List(ctx context.Context, db postgres.DB, f Filter) ([]Entry, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	platform, org := f.scope()
	out := make([]Entry, 0, limit)
	if f.BeforeID == nil && limit > 1 {
		pending, err := queries.ReadPendingList(ctx, db, auditdb.ReadPendingListParams{
			Platform: platform, OrgID: org, ActorID: f.ActorID, ObjectType: f.ObjectType, ObjectID: f.ObjectID,
			Action: f.Action, Since: f.Since, Until: f.Until, Lim: int32(limit - 1),
		})
		if err != nil {
			return nil, fmt.Errorf("list pending audit reads: %w", err)
		}
		for _, r := range pending {
			var set []json.RawMessage
			if err := json.Unmarshal(r.DetailsSet, &set); err != nil {
				return nil, fmt.Errorf("pending audit reads details: %w", err)
			}
			d, err := summary(set, r.Reads, r.WindowStart, r.FirstAt, r.LastAt, r.LastRequestID, true)
			if err != nil {
				return nil, err
			}
			e := Entry{At: r.FirstAt, ActorID: r.ActorID, ActorOrgID: r.ActorOrgID, Action: r.Action,
				ObjectType: r.ObjectType, ObjectID: r.ObjectID, ObjectOrgID: r.ObjectOrgID,
				ClientIP: r.ClientIp, RequestID: r.FirstRequestID, Pending: true}
			if err := json.Unmarshal(d, &e.Details); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	rows, err := queries.EventList(ctx, db, auditdb.EventListParams{
		Platform: platform, OrgID: org, ActorID: f.ActorID, ObjectType: f.ObjectType, ObjectID: f.ObjectID,
		Action: f.Action, Since: f.Since, Until: f.Until, BeforeID: f.BeforeID, Lim: int32(limit - len(out)),
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	for _, r := range rows {
		e := Entry{ID: r.ID, At: r.At, ActorID: r.ActorID, ActorOrgID: r.ActorOrgID, Action: r.Action,
			ObjectType: r.ObjectType, ObjectID: r.ObjectID, ObjectOrgID: r.ObjectOrgID,
			ClientIP: r.ClientIp, RequestID: r.RequestID}
		if err := json.Unmarshal(r.Details, &e.Details); err != nil {
			return nil, fmt.Errorf("audit event %d details: %w", r.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}
