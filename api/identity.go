package api

import (
	"time"

	"github.com/google/uuid"
)

// The roles of a user (schema Role).
const (
	RoleSiteStaff          = "site_staff"
	RoleReferringPhysician = "referring_physician"
	RoleSpecialist         = "specialist"
	RoleOrgAdmin           = "org_admin"
	RolePlatformAdmin      = "platform_admin"
)

// The kinds of organisation (Org.Kind, Me.OrgKind).
const (
	OrgSite         = "site"
	OrgReadingGroup = "reading_group"
	OrgPlatform     = "platform"
)

// Org is an organisation (schema Org): a site that refers cases, a reading
// group that reports them, or the platform.
type Org struct {
	ID          uuid.UUID `json:"id"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Slug        string    `json:"slug"`
	Specialties []string  `json:"specialties"`
	CreatedAt   time.Time `json:"created_at"`
}

// User is a user of an organisation (schema User).
type User struct {
	ID          uuid.UUID `json:"id"`
	OrgID       uuid.UUID `json:"org_id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Specialties []string  `json:"specialties"`
	// HasPassword is false for a user who signs in by token only.
	HasPassword bool       `json:"has_password"`
	DisabledAt  *time.Time `json:"disabled_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Token is an API token (schema Token); Prefix identifies it in lists.
type Token struct {
	ID         uuid.UUID  `json:"id"`
	OrgID      uuid.UUID  `json:"org_id"`
	UserID     uuid.UUID  `json:"user_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	// Token is the secret, present only in the answer that creates it.
	Token string `json:"token,omitempty"`
}

// Me is the signed-in caller, GET /api/v1/me and the answer of a login
// (schema Me).
type Me struct {
	UserID      uuid.UUID `json:"user_id"`
	OrgID       uuid.UUID `json:"org_id"`
	OrgKind     string    `json:"org_kind"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Specialties []string  `json:"specialties"`
	// CSRFToken, for a session signed in by cookie, goes in the
	// X-CSRF-Token header of each unsafe request.
	CSRFToken string `json:"csrf_token,omitempty"`
}

// LoginRequest is the body of POST /api/v1/auth/login, which sets the
// session cookie and answers Me.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// CreateOrgRequest is the body of POST /api/v1/orgs.
type CreateOrgRequest struct {
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Slug        string   `json:"slug"`
	Specialties []string `json:"specialties"`
}

// CreateUserRequest is the body of POST /api/v1/users; a zero OrgID is the
// caller's organisation, and an empty Password makes a token-only user.
type CreateUserRequest struct {
	OrgID       uuid.UUID `json:"org_id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Specialties []string  `json:"specialties"`
	Password    string    `json:"password"`
}

// UpdateUserRequest is the body of PATCH /api/v1/users/{id}: absent (null)
// members are left as they are.
type UpdateUserRequest struct {
	Name        *string  `json:"name"`
	Roles       []string `json:"roles"`
	Specialties []string `json:"specialties"`
	Disabled    *bool    `json:"disabled"`
}

// CreateTokenRequest is the body of POST /api/v1/tokens, which answers the
// Token with its secret; TTLSeconds 0 is the server's default lifetime.
type CreateTokenRequest struct {
	UserID     uuid.UUID `json:"user_id"`
	Name       string    `json:"name"`
	TTLSeconds int64     `json:"ttl_seconds"`
}
