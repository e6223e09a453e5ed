// Package delivery carries signed reports back to the site: the referring
// physician's inbox and the site's signed webhooks, with acknowledgements,
// dead letters and replay, escalation of what is late, and flow statistics.
// It knows nothing about HTTP, and reads report content only through
// ReportSource.
package delivery

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/delivery/deliverydb"
	"github.com/teleread/teleread/internal/identity"
)

// The events a delivery carries.
const (
	EventPreliminary = "report.preliminary"
	EventFinal       = "report.final"
	EventAddendum    = "report.addendum"
)

// The channels a report travels by.
const (
	ChannelInbox   = "inbox"
	ChannelWebhook = "webhook"
)

// Notice tells delivery that a report was signed (preliminary or final) or
// amended, so it can be delivered.
type Notice struct {
	ReportID, CaseID, SiteOrgID uuid.UUID
	Event                       string // "report.preliminary", "report.final", "report.addendum"
	AddendumID                  *uuid.UUID
	Critical                    bool
}

// ReportSource renders a report for webhooks; reports.Service implements it
// and the app wiring injects it into NewService.
type ReportSource interface {
	WebhookPayload(ctx context.Context, reportID uuid.UUID, event string) ([]byte, error)
}

// Options tune a Service. The zero value is production's defaults.
type Options struct {
	// AllowPrivateWebhooks lets webhook URLs point at loopback, private and
	// link-local addresses (tests, single-host installs); off, such URLs are
	// refused when a webhook is created and connections to such addresses
	// are refused when a delivery is made.
	AllowPrivateWebhooks bool
	// HTTPClient posts webhooks; nil means a client with a 10 s timeout that
	// follows no redirects and uses no proxy.
	HTTPClient *http.Client
	// ObserveStep, if set, is called with a step of the case flow and its
	// duration when delivery completes one (delivered→acknowledged); it keeps
	// this package free of a metrics library.
	ObserveStep func(from, to string, d time.Duration)
	// Secrets seals webhook signing secrets at rest (secrets.go); nil
	// means a random key held by this process only (tests): the server
	// passes the keyring of TELEREAD_SECRET_KEY.
	Secrets *Keyring
}

// Service manages deliveries, webhooks, the inbox, acknowledgements,
// escalations and statistics.
type Service struct {
	pool    *pgxpool.Pool
	jobs    cases.JobInserter
	reports ReportSource
	opts    Options
	client  *http.Client
	keys    *Keyring
	q       *deliverydb.Queries
}

// NewService returns a Service. jobs enqueues delivery jobs (replays);
// reports renders webhook payloads.
func NewService(pool *pgxpool.Pool, jobs cases.JobInserter, reports ReportSource, opts Options) *Service {
	s := &Service{pool: pool, jobs: jobs, reports: reports, opts: opts, client: opts.HTTPClient, keys: opts.Secrets,
		q: deliverydb.New()}
	if s.keys == nil {
		s.keys = ephemeralKeyring()
	}
	if s.client == nil {
		s.client = newWebhookClient(opts.AllowPrivateWebhooks)
	}
	return s
}

// Enqueue records the deliveries of a signed report (the referring
// physician's inbox, and every enabled webhook of the site) and inserts their
// River jobs in tx.
func Enqueue(ctx context.Context, tx pgx.Tx, jobs cases.JobInserter, n Notice) error {
	return enqueue(ctx, tx, jobs, n)
}

// MarkOpened records the first time the case's referring physician viewed a
// delivered report (idempotent; no-op for other viewers). It is Opener's
// MarkOpened.
func (s *Service) MarkOpened(ctx context.Context, p *identity.Principal, reportID uuid.UUID) error {
	return NewOpener(s.pool).MarkOpened(ctx, p, reportID)
}

// Opener records that referring physicians opened delivered reports. It
// needs only the database, so that reports, which delivery renders webhooks
// through, can receive it in its constructor: neither service needs the
// other to exist first.
type Opener struct {
	pool *pgxpool.Pool
	q    *deliverydb.Queries
}

// NewOpener returns an Opener on pool.
func NewOpener(pool *pgxpool.Pool) *Opener {
	return &Opener{pool: pool, q: deliverydb.New()}
}

func (s *Service) observe(from, to string, d time.Duration) {
	if s.opts.ObserveStep != nil && d >= 0 {
		s.opts.ObserveStep(from, to, d)
	}
}

// reportStatusOf maps an event to the report state it delivers.
func reportStatusOf(event string) string {
	if event == EventPreliminary {
		return "preliminary"
	}
	return "final"
}
