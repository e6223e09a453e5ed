package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/delivery"
)

// deliveryRoutes registers the delivery routes: the inbox and
// acknowledgements, webhooks, deliveries and dead letters, escalations and
// statistics.
func (a *API) deliveryRoutes(g *gin.RouterGroup) {
	g.GET("/inbox", a.inbox)
	g.POST("/reports/:id/acknowledge", a.acknowledgeReport)
	g.GET("/reports/:id/deliveries", a.reportDeliveries)
	g.GET("/webhooks", a.listWebhooks)
	g.POST("/webhooks", a.createWebhook)
	g.DELETE("/webhooks/:id", a.disableWebhook)
	g.GET("/deliveries/dead", a.deadDeliveries)
	g.POST("/deliveries/:id/replay", a.replayDelivery)
	g.GET("/escalations", a.listEscalations)
	g.GET("/stats", a.stats)
}

type inboxItemJSON struct {
	ReportID       uuid.UUID  `json:"report_id"`
	CaseID         uuid.UUID  `json:"case_id"`
	PatientName    string     `json:"patient_name"`
	Priority       string     `json:"priority"`
	Specialty      string     `json:"specialty"`
	Status         string     `json:"status"`
	LastEvent      string     `json:"last_event"`
	Critical       bool       `json:"critical"`
	Unread         bool       `json:"unread"`
	Reminder       bool       `json:"reminder"`
	DeliveredAt    time.Time  `json:"delivered_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	OpenedAt       *time.Time `json:"opened_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy *uuid.UUID `json:"acknowledged_by"`
	RemindedAt     *time.Time `json:"reminded_at,omitempty"`
}

func (a *API) inbox(c *gin.Context) {
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		a.fail(c, err)
		return
	}
	items, err := a.delivery.Inbox(c.Request.Context(), principal(c),
		delivery.InboxQuery{UnreadOnly: c.Query("unread") == "true", Limit: limit})
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[inboxItemJSON]{Items: make([]inboxItemJSON, len(items))}
	for i, it := range items {
		out.Items[i] = inboxItemJSON{ReportID: it.ReportID, CaseID: it.CaseID, PatientName: it.PatientName,
			Priority: it.Priority, Specialty: it.Specialty, Status: it.Status, LastEvent: it.LastEvent,
			Critical: it.Critical, Unread: it.Unread, Reminder: it.RemindedAt != nil && it.AcknowledgedAt == nil,
			DeliveredAt: it.DeliveredAt, UpdatedAt: it.UpdatedAt, OpenedAt: it.OpenedAt,
			AcknowledgedAt: it.AcknowledgedAt, AcknowledgedBy: it.AcknowledgedBy, RemindedAt: it.RemindedAt}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

type acknowledgementJSON struct {
	ReportID     uuid.UUID `json:"report_id"`
	CaseID       uuid.UUID `json:"case_id,omitempty"`
	ReportStatus string    `json:"report_status"`
	By           uuid.UUID `json:"acknowledged_by"`
	At           time.Time `json:"acknowledged_at"`
	CaseStatus   string    `json:"case_status,omitempty"`
}

func toAcknowledgementJSON(ack delivery.Acknowledgement) acknowledgementJSON {
	return acknowledgementJSON{ReportID: ack.ReportID, CaseID: ack.CaseID, ReportStatus: ack.ReportStatus,
		By: ack.By, At: ack.At, CaseStatus: ack.CaseStatus}
}

func (a *API) acknowledgeReport(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	ack, err := a.delivery.Acknowledge(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toAcknowledgementJSON(ack))
}

type attemptJSON struct {
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	StatusCode *int      `json:"status_code"`
	Error      string    `json:"error,omitempty"`
}

type deliveryJSON struct {
	ID          uuid.UUID     `json:"id"`
	ReportID    uuid.UUID     `json:"report_id"`
	CaseID      uuid.UUID     `json:"case_id"`
	SiteOrgID   uuid.UUID     `json:"site_org_id"`
	Event       string        `json:"event"`
	AddendumID  *uuid.UUID    `json:"addendum_id,omitempty"`
	Critical    bool          `json:"critical"`
	Channel     string        `json:"channel"`
	WebhookID   *uuid.UUID    `json:"webhook_id,omitempty"`
	WebhookURL  string        `json:"webhook_url,omitempty"`
	Status      string        `json:"status"`
	Attempts    int           `json:"attempts"`
	LastError   string        `json:"last_error,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	DeliveredAt *time.Time    `json:"delivered_at"`
	DeadAt      *time.Time    `json:"dead_at,omitempty"`
	Replays     int           `json:"replays"`
	History     []attemptJSON `json:"history,omitempty"`
}

func toDeliveryJSON(d delivery.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, ReportID: d.ReportID, CaseID: d.CaseID, SiteOrgID: d.SiteOrgID, Event: d.Event,
		AddendumID: d.AddendumID, Critical: d.Critical, Channel: d.Channel, WebhookID: d.WebhookID,
		WebhookURL: d.WebhookURL, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError,
		CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt, DeadAt: d.DeadAt, Replays: d.Replays}
	for _, at := range d.History {
		out.History = append(out.History, attemptJSON{At: at.At, DurationMS: at.Duration.Milliseconds(),
			StatusCode: at.StatusCode, Error: at.Error})
	}
	return out
}

type reportDeliveriesJSON struct {
	ReportID        uuid.UUID            `json:"report_id"`
	Status          string               `json:"status,omitempty"`
	OpenedAt        *time.Time           `json:"opened_at"`
	Acknowledgement *acknowledgementJSON `json:"acknowledgement"`
	Items           []deliveryJSON       `json:"items"`
}

func (a *API) reportDeliveries(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	rd, err := a.delivery.ReportDeliveries(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := reportDeliveriesJSON{ReportID: rd.ReportID, Status: rd.Status, OpenedAt: rd.OpenedAt,
		Items: make([]deliveryJSON, len(rd.Deliveries))}
	if rd.Acknowledgement != nil {
		ack := toAcknowledgementJSON(*rd.Acknowledgement)
		out.Acknowledgement = &ack
	}
	for i, d := range rd.Deliveries {
		out.Items[i] = toDeliveryJSON(d)
	}
	c.JSON(http.StatusOK, out)
}

type webhookJSON struct {
	ID          uuid.UUID  `json:"id"`
	OrgID       uuid.UUID  `json:"org_id"`
	URL         string     `json:"url"`
	Description string     `json:"description"`
	Enabled     bool       `json:"enabled"`
	CreatedBy   *uuid.UUID `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	DisabledAt  *time.Time `json:"disabled_at"`
	// Secret is present only in the answer to its creation.
	Secret string `json:"secret,omitempty"`
}

func toWebhookJSON(w delivery.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, OrgID: w.OrgID, URL: w.URL, Description: w.Description, Enabled: w.DisabledAt == nil,
		CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt, DisabledAt: w.DisabledAt}
}

func (a *API) listWebhooks(c *gin.Context) {
	org, err := queryUUID(c, "org_id")
	if err != nil {
		a.fail(c, err)
		return
	}
	hooks, err := a.delivery.ListWebhooks(c.Request.Context(), principal(c), org)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[webhookJSON]{Items: make([]webhookJSON, len(hooks))}
	for i, w := range hooks {
		out.Items[i] = toWebhookJSON(w)
	}
	c.JSON(http.StatusOK, out)
}

type createWebhookRequest struct {
	OrgID       *uuid.UUID `json:"org_id"`
	URL         string     `json:"url"`
	Description string     `json:"description"`
}

func (a *API) createWebhook(c *gin.Context) {
	var req createWebhookRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	w, secret, err := a.delivery.CreateWebhook(c.Request.Context(), principal(c),
		delivery.NewWebhook{OrgID: req.OrgID, URL: req.URL, Description: req.Description})
	if err != nil {
		a.fail(c, err)
		return
	}
	out := toWebhookJSON(w)
	out.Secret = secret
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, out)
}

func (a *API) disableWebhook(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	w, err := a.delivery.DisableWebhook(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toWebhookJSON(w))
}

func (a *API) deadDeliveries(c *gin.Context) {
	org, err := queryUUID(c, "org_id")
	if err != nil {
		a.fail(c, err)
		return
	}
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		a.fail(c, err)
		return
	}
	dead, err := a.delivery.DeadLetters(c.Request.Context(), principal(c), org, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[deliveryJSON]{Items: make([]deliveryJSON, len(dead))}
	for i, d := range dead {
		out.Items[i] = toDeliveryJSON(d)
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) replayDelivery(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	d, err := a.delivery.Replay(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, toDeliveryJSON(d))
}

type escalationJSON struct {
	ID           uuid.UUID      `json:"id"`
	Kind         string         `json:"kind"`
	CaseID       uuid.UUID      `json:"case_id"`
	ReportID     *uuid.UUID     `json:"report_id,omitempty"`
	ReportStatus *string        `json:"report_status,omitempty"`
	Level        int            `json:"level"`
	TargetOrgID  uuid.UUID      `json:"target_org_id"`
	TargetRole   string         `json:"target_role"`
	TargetUserID *uuid.UUID     `json:"target_user_id,omitempty"`
	Details      map[string]any `json:"details"`
	CreatedAt    time.Time      `json:"created_at"`
}

func (a *API) listEscalations(c *gin.Context) {
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		a.fail(c, err)
		return
	}
	list, err := a.delivery.Escalations(c.Request.Context(), principal(c),
		delivery.EscalationQuery{Kind: queryString(c, "kind"), Limit: limit})
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[escalationJSON]{Items: make([]escalationJSON, len(list))}
	for i, e := range list {
		out.Items[i] = escalationJSON{ID: e.ID, Kind: e.Kind, CaseID: e.CaseID, ReportID: e.ReportID,
			ReportStatus: e.ReportStatus, Level: e.Level, TargetOrgID: e.TargetOrgID, TargetRole: e.TargetRole,
			TargetUserID: e.TargetUserID, Details: e.Details, CreatedAt: e.CreatedAt}
	}
	c.JSON(http.StatusOK, out)
}

type stepJSON struct {
	From       string   `json:"from"`
	To         string   `json:"to"`
	Count      int      `json:"count"`
	P50Seconds *float64 `json:"p50_seconds"`
	P90Seconds *float64 `json:"p90_seconds"`
}

type statsJSON struct {
	Since    time.Time      `json:"since"`
	ByStatus map[string]int `json:"cases_by_status"`
	Steps    []stepJSON     `json:"steps"`
}

func (a *API) stats(c *gin.Context) {
	since, err := queryTime(c, "since")
	if err != nil {
		a.fail(c, err)
		return
	}
	if since == nil {
		t := time.Now().Add(-7 * 24 * time.Hour)
		since = &t
	} else if since.After(time.Now()) {
		a.fail(c, apperr.InvalidFields(map[string]string{"since": "must not be in the future"}))
		return
	}
	st, err := a.delivery.Stats(c.Request.Context(), principal(c), *since)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := statsJSON{Since: st.Since.UTC(), ByStatus: st.ByStatus, Steps: make([]stepJSON, len(st.Steps))}
	for i, s := range st.Steps {
		out.Steps[i] = stepJSON{From: s.From, To: s.To, Count: s.Count}
		if s.P50 != nil {
			p50, p90 := s.P50.Seconds(), s.P90.Seconds()
			out.Steps[i].P50Seconds, out.Steps[i].P90Seconds = &p50, &p90
		}
	}
	c.JSON(http.StatusOK, out)
}
