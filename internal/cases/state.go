package cases

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
// states a case may move to it from. Transition checks it in SQL.
var allowedFrom = map[Status][]Status{
	StatusSubmitted:     {StatusDraft, StatusInfoRequested},
	StatusRouted:        {StatusSubmitted},
	StatusInReview:      {StatusRouted},
	StatusInfoRequested: {StatusRouted, StatusInReview},
	StatusReported:      {StatusInReview},
	StatusDelivered:     {StatusReported},
	StatusAcknowledged:  {StatusDelivered},
	StatusCancelled:     {StatusDraft, StatusSubmitted, StatusRouted, StatusInfoRequested},
}

// AllowedFrom returns the states a case may move to `to` from.
func AllowedFrom(to Status) []Status { return allowedFrom[to] }

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
