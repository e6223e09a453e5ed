package cases

import "slices"

// Status is where a case is in its life.
type Status string

// The case states. See docs/architecture.md for the diagram.
const (
	StatusDraft         Status = "draft"
	StatusSubmitted     Status = "submitted"
	StatusRouted        Status = "routed"
	StatusInReview      Status = "in_review"
	StatusInfoRequested Status = "info_requested"
	StatusReported      Status = "reported"
	StatusDelivered     Status = "delivered"
	StatusAcknowledged  Status = "acknowledged"
	StatusCancelled     Status = "cancelled"
)

// allowedFrom is the one table of transitions: for each target state, the
// states a case may move to it from. Move checks it in SQL (CaseMove's
// status = ANY(@from_statuses)); every status change of every package goes
// through Move. in_review → in_review hands a claim over (a reassignment, a
// lapsed lease taken over, a claim renewed by its holder); in_review →
// routed gives a claim back (a release, a lapsed lease, a preliminary
// report waiting for its second read).
var allowedFrom = map[Status][]Status{
	StatusSubmitted:     {StatusDraft, StatusInfoRequested},
	StatusRouted:        {StatusSubmitted, StatusInReview},
	StatusInReview:      {StatusRouted, StatusInReview},
	StatusInfoRequested: {StatusRouted, StatusInReview},
	StatusReported:      {StatusInReview},
	StatusDelivered:     {StatusReported},
	StatusAcknowledged:  {StatusDelivered},
	StatusCancelled:     {StatusDraft, StatusSubmitted, StatusRouted, StatusInfoRequested},
}

// Statuses are every state of a case.
var Statuses = []Status{StatusDraft, StatusSubmitted, StatusRouted, StatusInReview, StatusInfoRequested,
	StatusReported, StatusDelivered, StatusAcknowledged, StatusCancelled}

// Priorities are the priorities of a case, most pressing first; the one
// whitelist (the schema's CHECK says the same).
var Priorities = []string{"stat", "urgent", "routine"}

// ValidPriority reports whether s is one of Priorities.
func ValidPriority(s string) bool { return slices.Contains(Priorities, s) }

// editable reports whether files and details may still change: a draft, or
// a case the reading group sent back for more information.
func editable(s Status) bool { return s == StatusDraft || s == StatusInfoRequested }

func statusStrings(ss []Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
