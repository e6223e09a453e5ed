package httpapi

import "github.com/teleread/teleread/internal/identity"

// rule says who may call a route. Every route under /api/v1 must have one:
// the authorize middleware refuses a route without a rule, and
// TestRouteRoleMatrix fails for it.
type rule struct {
	public bool            // no authentication (sign-in itself)
	roles  []identity.Role // any of these roles may call it
}

var (
	everyone = rule{roles: identity.Roles}
	admins   = rule{roles: []identity.Role{identity.RoleOrgAdmin, identity.RolePlatformAdmin}}
	platform = rule{roles: []identity.Role{identity.RolePlatformAdmin}}
)

// policy is the one table of who may call what, keyed by method and route
// template. Object-level access (which case, which user) is then decided in
// SQL by the domain packages: another tenant's object is "not found".
var policy = map[string]rule{
	"POST /api/v1/auth/login":  {public: true},
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
}
