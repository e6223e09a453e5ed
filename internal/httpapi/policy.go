package httpapi

import (
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
)

var (
	everyone = edge.Rule{Roles: identity.Roles}
	admins   = edge.Rule{Roles: []identity.Role{identity.RoleOrgAdmin, identity.RolePlatformAdmin}}
	platform = edge.Rule{Roles: []identity.Role{identity.RolePlatformAdmin}}
	// siteAuthors write cases: site staff and referring physicians.
	siteAuthors = edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff, identity.RoleReferringPhysician}}
	siteUpload  = siteAuthors.AsUpload()
	specialists = edge.Rule{Roles: []identity.Role{identity.RoleSpecialist}}
	readers     = edge.Rule{Roles: []identity.Role{identity.RoleSpecialist, identity.RoleOrgAdmin}}
	referrers   = edge.Rule{Roles: []identity.Role{identity.RoleReferringPhysician}}
	siteReaders = edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin}}
	canceller   = edge.Rule{Roles: []identity.Role{identity.RoleSiteStaff, identity.RoleReferringPhysician, identity.RoleOrgAdmin}}
)

// policy is the REST API's part of the edge's policy table, keyed by
// method and full route template. Every route under /api/v1 must have a
// rule: the edge refuses a route without one, and TestRouteRoleMatrix
// fails for it. Object-level access (which case, which user) is then
// decided in SQL by the domain packages: another tenant's object is "not
// found".
var policy = edge.Policy{
	"POST /api/v1/auth/login":  {Public: true},
	"POST /api/v1/auth/logout": everyone,
	"GET /api/v1/me":           everyone,

	"GET /api/v1/orgs":     admins,
	"POST /api/v1/orgs":    platform,
	"GET /api/v1/orgs/:id": admins,

	"GET /api/v1/users":       admins,
	"POST /api/v1/users":      admins,
	"GET /api/v1/users/:id":   admins,
	"PATCH /api/v1/users/:id": admins,

	"GET /api/v1/tokens":        everyone,
	"POST /api/v1/tokens":       everyone,
	"DELETE /api/v1/tokens/:id": everyone,

	"GET /api/v1/audit": admins,

	"POST /api/v1/cases":             siteAuthors,
	"GET /api/v1/cases":              everyone,
	"GET /api/v1/cases/:id":          everyone,
	"PATCH /api/v1/cases/:id":        siteAuthors,
	"GET /api/v1/cases/:id/events":   everyone,
	"PUT /api/v1/cases/:id/manifest": siteAuthors,
	"GET /api/v1/cases/:id/manifest": everyone,
	"POST /api/v1/cases/:id/submit":  siteAuthors,
	"POST /api/v1/cases/:id/cancel":  canceller,

	// Files (intake).
	"POST /api/v1/cases/:id/files":                       siteUpload,
	"GET /api/v1/cases/:id/files":                        everyone,
	"POST /api/v1/cases/:id/files/lookup":                siteAuthors,
	"GET /api/v1/cases/:id/studies":                      everyone,
	"POST /api/v1/cases/:id/incoming-studies":            siteAuthors,
	"GET /api/v1/incoming-studies":                       siteReaders,
	"POST /api/v1/cases/:id/uploads":                     siteAuthors,
	"GET /api/v1/cases/:id/uploads/:upload_id":           siteAuthors,
	"POST /api/v1/cases/:id/uploads/:upload_id/complete": siteAuthors,
	"GET /api/v1/files/:id":                              everyone,
	"GET /api/v1/files/:id/content":                      everyone,
	"GET /api/v1/files/:id/preview":                      everyone,
	"GET /api/v1/files/:id/thumbnail":                    everyone,

	// Worklist and routing.
	"GET /api/v1/worklist":                    specialists,
	"POST /api/v1/cases/:id/claim":            specialists,
	"POST /api/v1/cases/:id/release":          readers,
	"POST /api/v1/cases/:id/reassign":         admins,
	"POST /api/v1/cases/:id/request-info":     specialists,
	"POST /api/v1/cases/:id/route":            platform,
	"GET /api/v1/unrouted":                    platform,
	"GET /api/v1/routing-rules":               platform,
	"POST /api/v1/routing-rules":              platform,
	"PATCH /api/v1/routing-rules/:id":         platform,
	"DELETE /api/v1/routing-rules/:id":        platform,
	"GET /api/v1/reading-groups/:id/settings": admins,
	"PUT /api/v1/reading-groups/:id/settings": admins,

	// Reports (handlers in reports.go).
	"GET /api/v1/cases/:id/report":          everyone,
	"PUT /api/v1/cases/:id/report":          specialists,
	"POST /api/v1/cases/:id/report/sign":    specialists,
	"POST /api/v1/cases/:id/report/addenda": specialists,
	"GET /api/v1/reports/:id":               everyone,
	"GET /api/v1/reports/:id/pdf":           everyone,
	"GET /api/v1/reports/:id/fhir":          everyone,

	// Delivery back to the referrer (handlers in delivery.go).
	"GET /api/v1/inbox":                    siteReaders,
	"POST /api/v1/reports/:id/acknowledge": referrers,
	"GET /api/v1/reports/:id/deliveries":   admins,
	"GET /api/v1/webhooks":                 admins,
	"POST /api/v1/webhooks":                admins,
	"DELETE /api/v1/webhooks/:id":          admins,
	"GET /api/v1/deliveries/dead":          admins,
	"POST /api/v1/deliveries/:id/replay":   admins,
	"GET /api/v1/escalations":              admins,
	"GET /api/v1/stats":                    admins,
}
