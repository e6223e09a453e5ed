package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// MetricsCollector exports River's job counts by queue, kind and state,
// read from river_job when /metrics is scraped.
type MetricsCollector struct {
	pool   *pgxpool.Pool
	jobs   *prometheus.Desc
	errors *prometheus.Desc
}

// NewMetricsCollector returns a collector over pool.
func NewMetricsCollector(pool *pgxpool.Pool) *MetricsCollector {
	return &MetricsCollector{
		pool: pool,
		jobs: prometheus.NewDesc("teleread_river_jobs",
			"River jobs by queue, kind and state.", []string{"queue", "kind", "state"}, nil),
		errors: prometheus.NewDesc("teleread_river_jobs_scrape_error",
			"1 when the River job counts could not be read.", nil, nil),
	}
}

// Describe sends the descriptors.
func (m *MetricsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.jobs
	ch <- m.errors
}

// Collect counts jobs. A failure is reported as a metric, not a scrape error,
// so that the other series stay available while PostgreSQL is down.
func (m *MetricsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	failed := 0.0
	rows, err := m.pool.Query(ctx,
		`SELECT queue, kind, state::text, count(*) FROM river_job GROUP BY queue, kind, state`)
	if err == nil {
		for rows.Next() {
			var queue, kind, state string
			var n int64
			if err = rows.Scan(&queue, &kind, &state, &n); err != nil {
				break
			}
			ch <- prometheus.MustNewConstMetric(m.jobs, prometheus.GaugeValue, float64(n), queue, kind, state)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(m.errors, prometheus.GaugeValue, failed)
}
