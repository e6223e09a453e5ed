package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/audit"
	"github.com/teleread/teleread/internal/delivery"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/worklist"
)

// adminPages are the pages of organisation and platform admins: users and
// tokens, reading groups' service levels, routing rules, webhooks and their
// deliveries, the unrouted list, the audit log and turnaround. What each
// admin sees and may change is decided by the domain (platform admins:
// everything; an org admin: their organisation).
var adminPages = pageSet{
	{method: http.MethodGet, path: "/admin", rule: admins, handle: (*Web).adminHome},
	{method: http.MethodGet, path: "/admin/users", rule: admins, handle: (*Web).adminUsers},
	{method: http.MethodPost, path: "/admin/users", rule: admins, handle: (*Web).adminCreateUser},
	{method: http.MethodPost, path: "/admin/users/:id/tokens", rule: admins, handle: (*Web).adminCreateToken},
	{method: http.MethodPost, path: "/admin/tokens/:id/revoke", rule: admins, handle: (*Web).adminRevokeToken},
	{method: http.MethodGet, path: "/admin/groups", rule: admins, handle: (*Web).adminGroups},
	{method: http.MethodPost, path: "/admin/groups/:id/settings", rule: admins, handle: (*Web).adminPutSettings},
	{method: http.MethodGet, path: "/admin/rules", rule: platformAdmins, handle: (*Web).adminRules},
	{method: http.MethodPost, path: "/admin/rules", rule: platformAdmins, handle: (*Web).adminCreateRule},
	{method: http.MethodPost, path: "/admin/rules/:id", rule: platformAdmins, handle: (*Web).adminUpdateRule},
	{method: http.MethodPost, path: "/admin/rules/:id/delete", rule: platformAdmins, handle: (*Web).adminDeleteRule},
	{method: http.MethodGet, path: "/admin/webhooks", rule: admins, handle: (*Web).adminWebhooks},
	{method: http.MethodPost, path: "/admin/webhooks", rule: admins, handle: (*Web).adminCreateWebhook},
	{method: http.MethodPost, path: "/admin/webhooks/:id/disable", rule: admins, handle: (*Web).adminDisableWebhook},
	{method: http.MethodGet, path: "/admin/webhooks/:id/deliveries", rule: admins, handle: (*Web).adminWebhookDeliveries},
	{method: http.MethodGet, path: "/admin/reports/:id/deliveries", rule: admins, handle: (*Web).adminDeliveries},
	{method: http.MethodPost, path: "/admin/deliveries/:id/replay", rule: admins, handle: (*Web).adminReplay},
	{method: http.MethodGet, path: "/admin/unrouted", rule: platformAdmins, handle: (*Web).adminUnrouted},
	{method: http.MethodPost, path: "/admin/unrouted/:id/route", rule: platformAdmins, handle: (*Web).adminRoute},
	{method: http.MethodGet, path: "/admin/audit", rule: admins, handle: (*Web).adminAudit},
	{method: http.MethodGet, path: "/admin/turnaround", rule: admins, handle: (*Web).adminTurnaround},
}

// adminSections are the admin pages' own navigation.
var adminSections = []NavItem{{Label: "Users and tokens", Href: "/admin/users"},
	{Label: "Reading groups", Href: "/admin/groups"}, {Label: "Routing rules", Href: "/admin/rules"},
	{Label: "Webhooks", Href: "/admin/webhooks"}, {Label: "Unrouted cases", Href: "/admin/unrouted"},
	{Label: "Audit log", Href: "/admin/audit"}, {Label: "Turnaround", Href: "/admin/turnaround"}}

// adminView is what every admin page gets: its section navigation, the
// organisations' names, and the page's own data.
type adminView struct {
	Sections []NavItem
	Orgs     map[uuid.UUID]string
	Page     any
}

func (w *Web) admin(c *gin.Context, name string, page any) {
	// Only the sections the caller's role may open (routing rules and the
	// unrouted list are the platform's).
	p := principal(c)
	secs := make([]NavItem, 0, len(adminSections))
	for _, s := range adminSections {
		if r, ok := w.edge.Rule(http.MethodGet, s.Href); !ok || !p.HasAny(r.Roles...) {
			continue
		}
		s.Current = strings.HasPrefix(c.Request.URL.Path, s.Href)
		secs = append(secs, s)
	}
	v := adminView{Sections: secs, Orgs: map[uuid.UUID]string{}, Page: page}
	if orgs, err := w.identity.ListOrgs(c.Request.Context(), p, nil); err == nil {
		for _, o := range orgs {
			v.Orgs[o.ID] = o.Name
		}
	}
	w.render(c, http.StatusOK, name, v)
}

func (w *Web) adminHome(c *gin.Context) { w.admin(c, "admin_home", nil) }

// usersView is the users page's data. NewSecret is a token just made,
// shown this once.
type usersView struct {
	Users     []identity.User
	Tokens    map[uuid.UUID][]identity.Token
	Roles     []identity.Role
	NewSecret string
	NewFor    string
}

func (w *Web) adminUsers(c *gin.Context) { w.usersPage(c, "", "") }

func (w *Web) usersPage(c *gin.Context, secret, owner string) {
	ctx, p := c.Request.Context(), principal(c)
	users, err := w.identity.ListUsers(ctx, p, nil)
	if err != nil {
		w.fail(c, err)
		return
	}
	toks, err := w.identity.ListTokens(ctx, p, nil)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := usersView{Users: users, Tokens: map[uuid.UUID][]identity.Token{}, Roles: identity.Roles, NewSecret: secret, NewFor: owner}
	for _, t := range toks {
		v.Tokens[t.UserID] = append(v.Tokens[t.UserID], t)
	}
	w.admin(c, "admin_users", v)
}

func (w *Web) adminCreateUser(c *gin.Context) {
	p := principal(c)
	org := p.OrgID
	if s := c.PostForm("org_id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			w.fail(c, apperr.InvalidFields(map[string]string{"org_id": "is not an organisation"}))
			return
		}
		org = id
	}
	var roles []identity.Role
	for _, r := range c.PostFormArray("roles") {
		roles = append(roles, identity.Role(r))
	}
	in := identity.NewUser{OrgID: org, Email: strings.TrimSpace(c.PostForm("email")), Name: strings.TrimSpace(c.PostForm("name")),
		Roles: roles, Specialties: fieldsOf(c.PostForm("specialties")), Password: c.PostForm("password")}
	if _, err := w.identity.CreateUser(c.Request.Context(), p, in); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/users", "User "+in.Email+" created.")
}

// fieldsOf splits a comma or space separated list.
func fieldsOf(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

func (w *Web) adminCreateToken(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	days, _ := strconv.Atoi(c.PostForm("days"))
	tok, secret, err := w.identity.CreateToken(c.Request.Context(), principal(c), identity.NewToken{UserID: id,
		Name: strings.TrimSpace(c.PostForm("name")), TTL: time.Duration(days) * 24 * time.Hour})
	if err != nil {
		w.fail(c, err)
		return
	}
	// The secret is shown on this answer only: it is stored as a hash.
	w.usersPage(c, secret, tok.Name)
}

func (w *Web) adminRevokeToken(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if _, err := w.identity.RevokeToken(c.Request.Context(), principal(c), id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/users", "The token is revoked: it no longer signs anyone in.")
}

// groupView is a reading group with its service levels (in hours and
// minutes for the form).
type groupView struct {
	Org      identity.Org
	Settings worklist.Settings
	Err      string
	// The service levels in the form's units.
	StatH, UrgentH, RoutineH, LeaseM, AckM string
}

func (w *Web) adminGroups(c *gin.Context) {
	ctx, p := c.Request.Context(), principal(c)
	kind := string(identity.OrgReadingGroup)
	orgs, err := w.identity.ListOrgs(ctx, p, &kind)
	if err != nil {
		w.fail(c, err)
		return
	}
	var out []groupView
	for _, o := range orgs {
		g := groupView{Org: o}
		if g.Settings, err = w.worklist.GetSettings(ctx, p, o.ID); err != nil {
			g.Err = why(err)
		}
		num := func(d, unit time.Duration) string { return strconv.FormatFloat(float64(d)/float64(unit), 'f', -1, 64) }
		st := g.Settings
		g.StatH, g.UrgentH, g.RoutineH = num(st.SlaStat, time.Hour), num(st.SlaUrgent, time.Hour), num(st.SlaRoutine, time.Hour)
		g.LeaseM, g.AckM = num(st.ClaimLease, time.Minute), num(st.CriticalAckWithin, time.Minute)
		out = append(out, g)
	}
	w.admin(c, "admin_groups", out)
}

func (w *Web) adminPutSettings(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	fields := map[string]string{}
	dur := func(name string, unit time.Duration) time.Duration {
		n, err := strconv.ParseFloat(strings.TrimSpace(c.PostForm(name)), 64)
		if err != nil || n < 0 {
			fields[name] = "must be a number"
		}
		return time.Duration(n * float64(unit))
	}
	in := worklist.Settings{OrgID: id, SlaStat: dur("sla_stat", time.Hour), SlaUrgent: dur("sla_urgent", time.Hour),
		SlaRoutine: dur("sla_routine", time.Hour), ClaimLease: dur("claim_lease", time.Minute),
		CriticalAckWithin: dur("critical_ack", time.Minute), RequireSecondRead: c.PostForm("second_read") == "1"}
	if len(fields) > 0 {
		w.fail(c, apperr.InvalidFields(fields))
		return
	}
	if _, err := w.worklist.PutSettings(c.Request.Context(), principal(c), in); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/groups", "Service levels saved.")
}

// rulesView is the routing rules page's data.
type rulesView struct {
	Rules  []worklist.Rule
	Groups []identity.Org
	Sites  []identity.Org
}

func (w *Web) adminRules(c *gin.Context) {
	ctx, p := c.Request.Context(), principal(c)
	rules, err := w.worklist.ListRules(ctx, p)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := rulesView{Rules: rules}
	orgs, err := w.identity.ListOrgs(ctx, p, nil)
	if err != nil {
		w.fail(c, err)
		return
	}
	for _, o := range orgs {
		switch identity.OrgKind(o.Kind) {
		case identity.OrgReadingGroup:
			v.Groups = append(v.Groups, o)
		case identity.OrgSite:
			v.Sites = append(v.Sites, o)
		}
	}
	w.admin(c, "admin_rules", v)
}

func (w *Web) adminCreateRule(c *gin.Context) {
	group, err := uuid.Parse(c.PostForm("reading_group_id"))
	if err != nil {
		w.fail(c, apperr.InvalidFields(map[string]string{"reading_group_id": "choose a reading group"}))
		return
	}
	pos, _ := strconv.Atoi(c.PostForm("position"))
	if pos == 0 {
		pos = 100
	}
	in := worklist.NewRule{Position: int32(pos), Name: strings.TrimSpace(c.PostForm("name")),
		Specialty: strings.TrimSpace(c.PostForm("specialty")), Modality: strings.TrimSpace(c.PostForm("modality")),
		BodySite: strings.TrimSpace(c.PostForm("body_site")), ReadingGroupID: group, IsDefault: c.PostForm("is_default") == "1"}
	if s := c.PostForm("site_org_id"); s != "" {
		if id, err := uuid.Parse(s); err == nil {
			in.SiteOrgID = &id
		}
	}
	if _, err := w.worklist.CreateRule(c.Request.Context(), principal(c), in); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/rules", "Rule "+in.Name+" added.")
}

func (w *Web) adminUpdateRule(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	var ch worklist.RuleChange
	if s := strings.TrimSpace(c.PostForm("name")); s != "" {
		ch.Name = &s
	}
	if n, err := strconv.Atoi(c.PostForm("position")); err == nil {
		pos := int32(n)
		ch.Position = &pos
	}
	if g, err := uuid.Parse(c.PostForm("reading_group_id")); err == nil {
		ch.ReadingGroupID = &g
	}
	enabled := c.PostForm("enabled") == "1"
	ch.Enabled = &enabled
	if _, err := w.worklist.UpdateRule(c.Request.Context(), principal(c), id, ch); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/rules", "Rule saved.")
}

func (w *Web) adminDeleteRule(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if err := w.worklist.DeleteRule(c.Request.Context(), principal(c), id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/rules", "Rule deleted.")
}

// webhooksView is the webhooks page's data. Why says why there are none
// to manage (webhooks belong to sites).
type webhooksView struct {
	Webhooks  []delivery.Webhook
	Dead      []delivery.Delivery
	Why       string
	NewSecret string
	Sites     []identity.Org
	Platform  bool
}

func (w *Web) adminWebhooks(c *gin.Context) { w.webhooksPage(c, "") }

func (w *Web) webhooksPage(c *gin.Context, secret string) {
	ctx, p := c.Request.Context(), principal(c)
	v := webhooksView{NewSecret: secret, Platform: p.IsPlatformAdmin()}
	hooks, err := w.delivery.ListWebhooks(ctx, p, nil)
	if err != nil {
		if e, ok := apperr.As(err); !ok || (e.Code != apperr.Forbidden && e.Code != apperr.Invalid) {
			w.fail(c, err)
			return
		}
		v.Why = why(err)
	}
	v.Webhooks = hooks
	if v.Dead, err = w.delivery.DeadLetters(ctx, p, nil, 100); err != nil {
		w.fail(c, err)
		return
	}
	if v.Platform {
		kind := string(identity.OrgSite)
		if v.Sites, err = w.identity.ListOrgs(ctx, p, &kind); err != nil {
			w.fail(c, err)
			return
		}
	}
	w.admin(c, "admin_webhooks", v)
}

func (w *Web) adminCreateWebhook(c *gin.Context) {
	in := delivery.NewWebhook{URL: strings.TrimSpace(c.PostForm("url")), Description: strings.TrimSpace(c.PostForm("description"))}
	if id, err := uuid.Parse(c.PostForm("org_id")); err == nil {
		in.OrgID = &id
	}
	_, secret, err := w.delivery.CreateWebhook(c.Request.Context(), principal(c), in)
	if err != nil {
		w.fail(c, err)
		return
	}
	w.webhooksPage(c, secret)
}

func (w *Web) adminDisableWebhook(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if _, err := w.delivery.DisableWebhook(c.Request.Context(), principal(c), id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/webhooks", "Webhook disabled: no more reports are sent to it.")
}

// webhookDeliveriesView is a webhook's page: the webhook and a page of its
// deliveries, the state they are filtered by, and the links to the older
// page and back to the newest.
type webhookDeliveriesView struct {
	delivery.WebhookDeliveries
	Status string
	States []string
	Older  string
	Newest string
}

func (w *Web) adminWebhookDeliveries(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	q := delivery.WebhookDeliveryQuery{Status: strings.TrimSpace(c.Query("status")), Limit: 50}
	if s := c.Query("before"); s != "" {
		cur, err := delivery.ParseDeliveryCursor(s)
		if err != nil {
			w.fail(c, err)
			return
		}
		q.Before = &cur
	}
	wd, err := w.delivery.WebhookDeliveries(c.Request.Context(), principal(c), id, q)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := webhookDeliveriesView{WebhookDeliveries: wd, Status: q.Status, States: delivery.States}
	page := url.Values{}
	if q.Status != "" {
		page.Set("status", q.Status)
	}
	base := "/admin/webhooks/" + id.String() + "/deliveries"
	if q.Before != nil {
		v.Newest = base
		if len(page) > 0 {
			v.Newest += "?" + page.Encode()
		}
	}
	if wd.Next != nil {
		page.Set("before", wd.Next.String())
		v.Older = base + "?" + page.Encode()
	}
	w.admin(c, "admin_webhook_deliveries", v)
}

func (w *Web) adminDeliveries(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	rd, err := w.delivery.ReportDeliveries(c.Request.Context(), principal(c), id)
	if err != nil {
		w.fail(c, err)
		return
	}
	w.admin(c, "admin_deliveries", rd)
}

func (w *Web) adminReplay(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	d, err := w.delivery.Replay(c.Request.Context(), principal(c), id)
	if err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/reports/"+d.ReportID.String()+"/deliveries", "Replay queued: the delivery is tried again.")
}

func (w *Web) adminUnrouted(c *gin.Context) {
	list, err := w.worklist.Unrouted(c.Request.Context(), principal(c))
	if err != nil {
		w.fail(c, err)
		return
	}
	w.admin(c, "admin_unrouted", struct {
		Items    []worklist.Unrouted
		CanRoute bool
	}{list, principal(c).IsPlatformAdmin() && w.jobs != nil})
}

func (w *Web) adminRoute(c *gin.Context) {
	id, err := pathID(c, "id")
	if err != nil {
		w.fail(c, err)
		return
	}
	if w.jobs == nil {
		w.fail(c, apperr.New(apperr.Unavailable, "routing again is not configured on this server"))
		return
	}
	if err := w.worklist.Reroute(c.Request.Context(), principal(c), w.jobs, id); err != nil {
		w.fail(c, err)
		return
	}
	w.redirect(c, "/admin/unrouted", "Routing queued: the case goes to the first rule that matches it now.")
}

// auditView is the audit search's data.
type auditView struct {
	Entries []audit.Entry
	Query   map[string]string
	More    string
}

func (w *Web) adminAudit(c *gin.Context) {
	p := principal(c)
	q := map[string]string{}
	for _, k := range []string{"action", "object_type", "object_id", "actor_id", "since", "until", "before"} {
		if v := strings.TrimSpace(c.Query(k)); v != "" {
			q[k] = v
		}
	}
	f := audit.Filter{Platform: p.IsPlatformAdmin(), OrgID: p.OrgID, Limit: 100}
	opt := func(k string) *string {
		if v, ok := q[k]; ok {
			return &v
		}
		return nil
	}
	f.Action, f.ObjectType, f.ObjectID = opt("action"), opt("object_type"), opt("object_id")
	fields := map[string]string{}
	if s, ok := q["actor_id"]; ok {
		if id, err := uuid.Parse(s); err == nil {
			f.ActorID = &id
		} else {
			fields["actor_id"] = "must be a user id"
		}
	}
	loc := zone(c)
	for k, dst := range map[string]**time.Time{"since": &f.Since, "until": &f.Until} {
		if s, ok := q[k]; ok {
			t, err := time.ParseInLocation("2006-01-02T15:04", s, loc)
			if err != nil {
				t, err = time.ParseInLocation(time.DateOnly, s, loc)
			}
			if err != nil {
				fields[k] = "must be a date (2026-01-31) or a date and time"
				continue
			}
			*dst = &t
		}
	}
	if s, ok := q["before"]; ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			f.BeforeID = &n
		}
	}
	if len(fields) > 0 {
		w.fail(c, apperr.InvalidFields(fields))
		return
	}
	entries, err := audit.List(c.Request.Context(), w.pool, f)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := auditView{Entries: entries, Query: q}
	if len(entries) == f.Limit {
		next := c.Request.URL.Query()
		next.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		v.More = "/admin/audit?" + next.Encode()
	}
	w.admin(c, "admin_audit", v)
}

// turnaroundView is the turnaround page's data: the period, a chart per
// reading group, and the breaches.
type turnaroundView struct {
	From, To string
	Charts   []template.HTML
	Counts   template.HTML
	Report   worklist.Turnaround
	Stages   []string
	Breaches []breachRow
}

// breachRow is an SLA breach and how late it is in words.
type breachRow struct {
	worklist.Breach
	LateText string
}

func (w *Web) adminTurnaround(c *gin.Context) {
	loc := zone(c)
	now := time.Now().In(loc)
	to := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	from := to.AddDate(0, 0, -30)
	fields := map[string]string{}
	for k, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if s := c.Query(k); s != "" {
			t, err := time.ParseInLocation(time.DateOnly, s, loc)
			if err != nil {
				fields[k] = "must be a date such as 2026-01-31"
				continue
			}
			*dst = t
		}
	}
	if len(fields) > 0 {
		w.fail(c, apperr.InvalidFields(fields))
		return
	}
	// "to" is a day shown inclusive: the period ends at the end of it.
	shownTo := to
	if c.Query("to") != "" {
		to = to.AddDate(0, 0, 1)
	} else {
		shownTo = to.AddDate(0, 0, -1)
	}
	rep, err := w.worklist.Turnaround(c.Request.Context(), principal(c), from, to)
	if err != nil {
		w.fail(c, err)
		return
	}
	v := turnaroundView{From: from.Format(time.DateOnly), To: shownTo.Format(time.DateOnly), Report: rep,
		Stages: worklist.Stages}
	v.Charts, v.Counts = turnaroundCharts(rep)
	for _, b := range rep.Breaches {
		v.Breaches = append(v.Breaches, breachRow{Breach: b, LateText: humanDuration(b.Late)})
	}
	w.admin(c, "admin_turnaround", v)
}

// stageNames are the stages as the charts say them.
var stageNames = map[string]string{"routed": "submitted → routed", "claimed": "routed → claimed",
	"signed": "claimed → signed", "acknowledged": "signed → acknowledged"}

// turnaroundCharts draws a box chart of the stage times per reading group
// (a row per site and stage, coloured by stage) and a bar chart of the
// breaches per reading group.
func turnaroundCharts(rep worklist.Turnaround) ([]template.HTML, template.HTML) {
	var charts []template.HTML
	var order []string
	byGroup := map[string][]worklist.StageTimes{}
	for _, t := range rep.Times {
		if _, ok := byGroup[t.ReadingGroup]; !ok {
			order = append(order, t.ReadingGroup)
		}
		byGroup[t.ReadingGroup] = append(byGroup[t.ReadingGroup], t)
	}
	stageIndex := map[string]int{}
	for i, s := range worklist.Stages {
		stageIndex[s] = i
	}
	for _, g := range order {
		var rows []boxRow
		var colour []int
		for _, t := range byGroup[g] {
			rows = append(rows, boxRow{Label: t.Site + ": " + stageNames[t.Stage], Min: t.Min, P25: t.P25, P50: t.P50,
				P75: t.P75, Max: t.Max, Count: t.Count})
			colour = append(colour, stageIndex[t.Stage])
		}
		charts = append(charts, boxChart("Stage times, "+g, rows, colour))
	}
	var counts template.HTML
	if len(rep.Breaches) > 0 {
		n := map[string]int{}
		var names []string
		for _, b := range rep.Breaches {
			if n[b.ReadingGroup] == 0 {
				names = append(names, b.ReadingGroup)
			}
			n[b.ReadingGroup]++
		}
		vals := make([]int, len(names))
		for i, g := range names {
			vals[i] = n[g]
		}
		counts = barChart("SLA breaches per reading group", names, vals)
	}
	return charts, counts
}

// why is an error's reason for a person: the domain's message, never an
// internal error's.
func why(err error) string {
	if e, ok := apperr.As(err); ok && e.Code != apperr.Internal {
		return e.Message
	}
	return "an internal error occurred"
}
