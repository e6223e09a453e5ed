package api

// The states of Readiness and of each ReadinessCheck.
const (
	ReadyOK          = "ok"
	ReadyUnavailable = "unavailable"
)

// ReadinessCheck is the state of one dependency in a Readiness answer.
// Error and LatencyMS are given only to a caller on the server's own
// machine or a platform admin.
type ReadinessCheck struct {
	Status    string   `json:"status"`
	Error     string   `json:"error,omitempty"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
}

// Readiness is the answer of /readyz (schema Readiness): 200 when every
// dependency answers, 503 naming in Failed those that did not.
type Readiness struct {
	Status string                    `json:"status"`
	Failed []string                  `json:"failed,omitempty"`
	Checks map[string]ReadinessCheck `json:"checks"`
}
