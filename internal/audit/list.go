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
	// Scope limits the result to events whose actor or object belongs to
	// this organisation; nil means every organisation (platform admins).
	Scope      *uuid.UUID
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
}

// List returns events matching f, newest first.
func List(ctx context.Context, db postgres.DB, f Filter) ([]Entry, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := queries.EventList(ctx, db, auditdb.EventListParams{
		Scope: f.Scope, ActorID: f.ActorID, ObjectType: f.ObjectType, ObjectID: f.ObjectID,
		Action: f.Action, Since: f.Since, Until: f.Until, BeforeID: f.BeforeID, Lim: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	out := make([]Entry, 0, len(rows))
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
