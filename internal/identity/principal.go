// Package identity owns organisations, users, API tokens, web sessions and
// roles, and the Principal that every request carries in its context.
package identity

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/audit"
)

// Role is what a user may do.
type Role string

// The roles.
const (
	RoleSiteStaff          Role = "site_staff"
	RoleReferringPhysician Role = "referring_physician"
	RoleSpecialist         Role = "specialist"
	RoleOrgAdmin           Role = "org_admin"
	RolePlatformAdmin      Role = "platform_admin"
)

// Roles lists every role, in a stable order.
var Roles = []Role{RoleSiteStaff, RoleReferringPhysician, RoleSpecialist, RoleOrgAdmin, RolePlatformAdmin}

// OrgKind is the kind of an organisation.
type OrgKind string

// The organisation kinds.
const (
	OrgSite         OrgKind = "site"
	OrgReadingGroup OrgKind = "reading_group"
	OrgPlatform     OrgKind = "platform"
)

// Specialties a reading group or specialist can have.
const (
	SpecialtyDermatology = "dermatology"
	SpecialtyRadiology   = "radiology"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID      uuid.UUID
	OrgID       uuid.UUID
	OrgKind     OrgKind
	Email       string
	Name        string
	Roles       []Role
	Specialties []string
	// TokenID is set when the caller used an API token.
	TokenID uuid.UUID
	// SessionID is set when the caller used a web session; CSRFToken is
	// then the session's CSRF token.
	SessionID uuid.UUID
	CSRFToken string
	// ClientIP and RequestID come from the request, for the audit log.
	ClientIP  string
	RequestID string
}

// Has reports whether p holds role.
func (p *Principal) Has(role Role) bool { return slices.Contains(p.Roles, role) }

// HasAny reports whether p holds one of roles.
func (p *Principal) HasAny(roles ...Role) bool {
	for _, r := range roles {
		if p.Has(r) {
			return true
		}
	}
	return false
}

// IsPlatformAdmin reports whether p may act across organisations.
func (p *Principal) IsPlatformAdmin() bool { return p.Has(RolePlatformAdmin) }

// SeesWholeSite reports whether p sees every case of its site (site staff
// and org admins), not only the cases p referred or created (a referring
// physician).
func (p *Principal) SeesWholeSite() bool { return p.HasAny(RoleSiteStaff, RoleOrgAdmin) }

// Scope is the organisation p's queries are limited to, or nil for a
// platform admin, who sees every organisation.
func (p *Principal) Scope() *uuid.UUID {
	if p.IsPlatformAdmin() {
		return nil
	}
	id := p.OrgID
	return &id
}

// Actor returns p as an audit actor.
func (p *Principal) Actor() audit.Actor {
	u, o := p.UserID, p.OrgID
	return audit.Actor{UserID: &u, OrgID: &o, ClientIP: p.ClientIP, RequestID: p.RequestID}
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
