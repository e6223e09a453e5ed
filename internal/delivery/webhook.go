package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/delivery/deliverydb"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/postgres"
)

// Webhook is a site's endpoint for signed reports. The secret is never
// part of it: CreateWebhook returns it once.
type Webhook struct {
	ID          uuid.UUID
	OrgID       uuid.UUID
	URL         string
	Description string
	CreatedBy   *uuid.UUID
	CreatedAt   time.Time
	DisabledAt  *time.Time
}

func toWebhook(w deliverydb.Webhook) Webhook {
	return Webhook{ID: w.ID, OrgID: w.OrgID, URL: w.Url, Description: w.Description, CreatedBy: w.CreatedBy,
		CreatedAt: w.CreatedAt, DisabledAt: w.DisabledAt}
}

// NewWebhook is the input of CreateWebhook.
type NewWebhook struct {
	// OrgID is the site; required for platform admins, and for site admins
	// either empty or their own site.
	OrgID       *uuid.UUID
	URL         string
	Description string
}

// CreateWebhook registers a webhook for a site and returns it with its
// signing secret, which is shown this once.
func (s *Service) CreateWebhook(ctx context.Context, p *identity.Principal, in NewWebhook) (Webhook, string, error) {
	org, err := s.webhookOrg(ctx, p, in.OrgID)
	if err != nil {
		return Webhook{}, "", err
	}
	fields := map[string]string{}
	u, msg := s.checkURL(ctx, in.URL)
	if msg != "" {
		fields["url"] = msg
	}
	in.Description = strings.TrimSpace(in.Description)
	if len(in.Description) > 500 {
		fields["description"] = "must be at most 500 characters"
	}
	if len(fields) > 0 {
		return Webhook{}, "", apperr.InvalidFields(fields)
	}
	secret, err := newSecret()
	if err != nil {
		return Webhook{}, "", err
	}
	sealed, err := s.keys.Seal(secret)
	if errors.Is(err, ErrNoSecretKey) {
		return Webhook{}, "", apperr.New(apperr.Conflict, "webhooks cannot be created: their signing secrets are "+
			"encrypted at rest and TELEREAD_SECRET_KEY is not set (docs/operations.md, \"Secrets\")")
	}
	if err != nil {
		return Webhook{}, "", err
	}
	var w deliverydb.Webhook
	err = postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		by := p.UserID
		w, err = s.q.WebhookInsert(ctx, tx, deliverydb.WebhookInsertParams{OrgID: org, Url: u, Description: in.Description,
			Secret: sealed, CreatedBy: &by})
		if err != nil {
			return postgres.Translate(err, "webhook")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "webhook.create", ObjectType: "webhook",
			ObjectID: w.ID.String(), ObjectOrgID: &org, Details: map[string]any{"url": redactURL(u)}})
	})
	if err != nil {
		return Webhook{}, "", err
	}
	return toWebhook(w), secret, nil
}

// ListWebhooks returns a site's webhooks, enabled and disabled: a site
// admin's own, or for a platform admin those of org (every site's when nil).
func (s *Service) ListWebhooks(ctx context.Context, p *identity.Principal, org *uuid.UUID) ([]Webhook, error) {
	if !p.IsPlatformAdmin() {
		if _, err := s.webhookOrg(ctx, p, nil); err != nil {
			return nil, err
		}
	}
	rows, err := s.q.WebhookList(ctx, s.pool, deliverydb.WebhookListParams{Platform: p.IsPlatformAdmin(),
		OrgID: p.OrgID, FilterOrgID: org})
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	out := make([]Webhook, len(rows))
	for i, w := range rows {
		out[i] = toWebhook(w)
	}
	return out, nil
}

// DisableWebhook turns a webhook off: no new deliveries are made to it, and
// queued ones are dead-lettered. Idempotent. Another site's webhook is
// NotFound.
func (s *Service) DisableWebhook(ctx context.Context, p *identity.Principal, id uuid.UUID) (Webhook, error) {
	if !p.IsPlatformAdmin() {
		if _, err := s.webhookOrg(ctx, p, nil); err != nil {
			return Webhook{}, apperr.New(apperr.NotFound, "webhook not found")
		}
	}
	var w deliverydb.Webhook
	err := postgres.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		by := p.UserID
		w, err = s.q.WebhookDisable(ctx, tx, deliverydb.WebhookDisableParams{ID: id, Platform: p.IsPlatformAdmin(),
			OrgID: p.OrgID, DisabledBy: &by})
		if err != nil {
			return postgres.Translate(err, "webhook")
		}
		return audit.Record(ctx, tx, audit.Event{Actor: p.Actor(), Action: "webhook.disable", ObjectType: "webhook",
			ObjectID: w.ID.String(), ObjectOrgID: &w.OrgID})
	})
	return toWebhook(w), err
}

// webhookOrg returns the site whose webhooks p manages: a site admin's own
// site, or for a platform admin the site named by org.
func (s *Service) webhookOrg(ctx context.Context, p *identity.Principal, org *uuid.UUID) (uuid.UUID, error) {
	if p.IsPlatformAdmin() {
		if org == nil {
			return uuid.Nil, apperr.InvalidFields(map[string]string{"org_id": "is required for platform admins"})
		}
		kind, err := s.q.OrgKind(ctx, s.pool, deliverydb.OrgKindParams{ID: *org, Platform: p.IsPlatformAdmin(), OrgID: p.OrgID})
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && kind != string(identity.OrgSite)) {
			return uuid.Nil, apperr.InvalidFields(map[string]string{"org_id": "must be a site"})
		}
		if err != nil {
			return uuid.Nil, fmt.Errorf("webhook org: %w", err)
		}
		return *org, nil
	}
	if p.OrgKind != identity.OrgSite || !p.Has(identity.RoleOrgAdmin) {
		return uuid.Nil, apperr.New(apperr.Forbidden, "webhooks belong to sites and are managed by their admins")
	}
	if org != nil && *org != p.OrgID {
		return uuid.Nil, apperr.New(apperr.NotFound, "site not found")
	}
	return p.OrgID, nil
}

// newSecret returns a webhook signing secret: 32 random bytes.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Sign returns the Teleread-Signature header value for body sent at the
// unix time ts: "v1=" and the hex HMAC-SHA256, keyed by the webhook secret,
// of the timestamp, a dot and the body.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// checkURL validates a webhook URL: absolute http or https, no credentials,
// and, unless private addresses are allowed, a host that resolves only to
// public addresses. It returns the URL to store, or why it is refused.
func (s *Service) checkURL(ctx context.Context, raw string) (string, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > 2048 {
		return "", "is required (at most 2048 characters)"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", "must be an absolute http or https URL"
	}
	if u.User != nil {
		return "", "must not carry credentials; the signature authenticates Teleread"
	}
	if u.Fragment != "" {
		return "", "must not have a fragment"
	}
	if s.opts.AllowPrivateWebhooks {
		return u.String(), ""
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(ip) {
			return "", "must not point at a loopback, private or link-local address"
		}
		return u.String(), ""
	}
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "", "must not point at a loopback, private or link-local address"
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return "", "has a host name that does not resolve"
	}
	for _, a := range addrs {
		if !publicAddr(a) {
			return "", "must not point at a loopback, private or link-local address"
		}
	}
	return u.String(), ""
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach private IPv4
}

// publicAddr reports whether a is an address on the public internet.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// newWebhookClient returns the HTTP client of webhook deliveries: a 10 s
// timeout, no redirects followed (a 3xx is a failed attempt), no proxy,
// and, unless private addresses are allowed, a dialer that refuses them, so
// that a host re-pointed after its webhook was created still cannot reach
// the internal network.
func newWebhookClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !publicAddr(ap.Addr()) {
				return fmt.Errorf("webhook to %s refused: not a public address", address)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          50,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
