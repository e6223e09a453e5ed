package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/teleread/teleread/internal/delivery"
)

// DeliverWorker makes one delivery of a signed report: to the inbox, or to
// a site's webhook. A failed webhook attempt returns its error so that River
// retries with back-off; the last failed attempt dead-letters the delivery.
type DeliverWorker struct {
	river.WorkerDefaults[delivery.DeliverArgs]
	delivery *delivery.Service
	logger   *slog.Logger
	metrics  *FlowMetrics
}

// Timeout bounds one attempt: the webhook client gives up after 10 s.
func (w *DeliverWorker) Timeout(*river.Job[delivery.DeliverArgs]) time.Duration { return time.Minute }

// Work makes the delivery; delivering a delivered delivery is a no-op.
func (w *DeliverWorker) Work(ctx context.Context, job *river.Job[delivery.DeliverArgs]) error {
	out, err := w.delivery.Deliver(ctx, job.Args.DeliveryID, job.Attempt, job.MaxAttempts)
	if out.CaseDelivered {
		w.metrics.observe("signed", "delivered", out.SignedToDelivered)
	}
	if out.Dead && w.logger != nil {
		w.logger.WarnContext(ctx, "delivery dead-lettered", "delivery_id", job.Args.DeliveryID.String(),
			"attempts", job.Attempt)
	}
	return err
}

// Observer returns a function that records a step of the case flow, for
// services that observe steps themselves (delivery: delivered →
// acknowledged) without depending on Prometheus.
func (m *FlowMetrics) Observer() func(from, to string, d time.Duration) {
	return m.observe
}
