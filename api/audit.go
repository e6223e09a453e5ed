package api

import (
	"time"

	"github.com/google/uuid"
)

// AuditEntry is one entry of the audit log (schema AuditEvent): who did
// what to which object, from where.
type AuditEntry struct {
	ID          int64          `json:"id"`
	At          time.Time      `json:"at"`
	ActorID     *uuid.UUID     `json:"actor_id"`
	ActorOrgID  *uuid.UUID     `json:"actor_org_id"`
	Action      string         `json:"action"`
	ObjectType  string         `json:"object_type"`
	ObjectID    string         `json:"object_id"`
	ObjectOrgID *uuid.UUID     `json:"object_org_id"`
	ClientIP    string         `json:"client_ip"`
	RequestID   string         `json:"request_id"`
	Details     map[string]any `json:"details"`
}

// AuditPage is GET /api/v1/audit: entries newest first.
type AuditPage struct {
	Items []AuditEntry `json:"items"`
	// NextCursor fetches the next (older) page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}
