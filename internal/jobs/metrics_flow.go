package jobs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FlowMetrics are the durations along the case flow (submitted → routed →
// claimed → signed → delivered → acknowledged) as seen by the workers.
type FlowMetrics struct {
	step *prometheus.HistogramVec
}

// NewFlowMetrics registers the flow histogram on reg (nil: not exported).
func NewFlowMetrics(reg prometheus.Registerer) *FlowMetrics {
	m := &FlowMetrics{step: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "teleread_case_step_seconds",
		Help:    "Time between two steps of a case, observed when the later step happens.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 72 * 3600},
	}, []string{"from", "to"})}
	if reg != nil {
		reg.MustRegister(m.step)
	}
	return m
}

func (m *FlowMetrics) observe(from, to string, d time.Duration) {
	if m == nil {
		return
	}
	m.step.WithLabelValues(from, to).Observe(d.Seconds())
}
