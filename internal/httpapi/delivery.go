package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
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
	out := api.List[api.InboxItem]{Items: make([]api.InboxItem, len(items))}
	for i, it := range items {
		out.Items[i] = toInboxItem(it)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// toInboxItem is a delivered report as the referrer's inbox lists it.
func toInboxItem(it delivery.InboxItem) api.InboxItem {
	return api.InboxItem{ReportID: it.ReportID, CaseID: it.CaseID, PatientName: it.PatientName,
		Priority: it.Priority, Specialty: it.Specialty, Status: it.Status, LastEvent: it.LastEvent,
		Critical: it.Critical, Unread: it.Unread, Reminder: it.RemindedAt != nil && it.AcknowledgedAt == nil,
		DeliveredAt: it.DeliveredAt, UpdatedAt: it.UpdatedAt, OpenedAt: it.OpenedAt,
		AcknowledgedAt: it.AcknowledgedAt, AcknowledgedBy: it.AcknowledgedBy, RemindedAt: it.RemindedAt}
}

// toAcknowledgement is a report's acknowledgement as the API answers it.
func toAcknowledgement(ack delivery.Acknowledgement) api.Acknowledgement {
	return api.Acknowledgement{ReportID: ack.ReportID, CaseID: ack.CaseID, ReportStatus: ack.ReportStatus,
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
	c.JSON(http.StatusOK, toAcknowledgement(ack))
}

// toDelivery is a delivery and its attempts as the API answers it.
func toDelivery(d delivery.Delivery) api.Delivery {
	out := api.Delivery{ID: d.ID, ReportID: d.ReportID, CaseID: d.CaseID, SiteOrgID: d.SiteOrgID, Event: d.Event,
		AddendumID: d.AddendumID, Critical: d.Critical, Channel: d.Channel, WebhookID: d.WebhookID,
		WebhookURL: d.WebhookURL, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError,
		CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt, DeadAt: d.DeadAt, Replays: d.Replays}
	for _, at := range d.History {
		out.History = append(out.History, api.DeliveryAttempt{At: at.At, DurationMS: at.Duration.Milliseconds(),
			StatusCode: at.StatusCode, Error: at.Error})
	}
	return out
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
	c.JSON(http.StatusOK, toReportDeliveries(rd))
}

// toReportDeliveries is where a report went, as the API answers it.
func toReportDeliveries(rd delivery.ReportDeliveries) api.ReportDeliveries {
	out := api.ReportDeliveries{ReportID: rd.ReportID, Status: rd.Status, OpenedAt: rd.OpenedAt,
		Items: make([]api.Delivery, len(rd.Deliveries))}
	if rd.Acknowledgement != nil {
		ack := toAcknowledgement(*rd.Acknowledgement)
		out.Acknowledgement = &ack
	}
	for i, d := range rd.Deliveries {
		out.Items[i] = toDelivery(d)
	}
	return out
}

// toWebhook is a webhook as the API answers it, without its secret.
func toWebhook(w delivery.Webhook) api.Webhook {
	return api.Webhook{ID: w.ID, OrgID: w.OrgID, URL: w.URL, Description: w.Description, Enabled: w.DisabledAt == nil,
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
	out := api.List[api.Webhook]{Items: make([]api.Webhook, len(hooks))}
	for i, w := range hooks {
		out.Items[i] = toWebhook(w)
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) createWebhook(c *gin.Context) {
	var req api.CreateWebhookRequest
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
	out := toWebhook(w)
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
	c.JSON(http.StatusOK, toWebhook(w))
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
	out := api.List[api.Delivery]{Items: make([]api.Delivery, len(dead))}
	for i, d := range dead {
		out.Items[i] = toDelivery(d)
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
	c.JSON(http.StatusAccepted, toDelivery(d))
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
	out := api.List[api.Escalation]{Items: make([]api.Escalation, len(list))}
	for i, e := range list {
		out.Items[i] = toEscalation(e)
	}
	c.JSON(http.StatusOK, out)
}

// toEscalation is an escalation as the API answers it.
func toEscalation(e delivery.Escalation) api.Escalation {
	return api.Escalation{ID: e.ID, Kind: e.Kind, CaseID: e.CaseID, ReportID: e.ReportID,
		ReportStatus: e.ReportStatus, Level: e.Level, TargetOrgID: e.TargetOrgID, TargetRole: e.TargetRole,
		TargetUserID: e.TargetUserID, Details: e.Details, CreatedAt: e.CreatedAt}
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
	c.JSON(http.StatusOK, toStats(st))
}

// toStats is the case statistics as the API answers them, durations in
// seconds.
func toStats(st delivery.Stats) api.Stats {
	out := api.Stats{Since: st.Since.UTC(), ByStatus: st.ByStatus, Steps: make([]api.StatsStep, len(st.Steps))}
	for i, s := range st.Steps {
		out.Steps[i] = api.StatsStep{From: s.From, To: s.To, Count: s.Count}
		if s.P50 != nil {
			p50, p90 := s.P50.Seconds(), s.P90.Seconds()
			out.Steps[i].P50Seconds, out.Steps[i].P90Seconds = &p50, &p90
		}
	}
	return out
}
