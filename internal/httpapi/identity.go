package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/logctx"
)

type orgJSON struct {
	ID          uuid.UUID `json:"id"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Slug        string    `json:"slug"`
	Specialties []string  `json:"specialties"`
	CreatedAt   time.Time `json:"created_at"`
}

func toOrgJSON(o identity.Org) orgJSON {
	return orgJSON{ID: o.ID, Kind: o.Kind, Name: o.Name, Slug: o.Slug, Specialties: o.Specialties, CreatedAt: o.CreatedAt}
}

type userJSON struct {
	ID          uuid.UUID  `json:"id"`
	OrgID       uuid.UUID  `json:"org_id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Roles       []string   `json:"roles"`
	Specialties []string   `json:"specialties"`
	HasPassword bool       `json:"has_password"`
	DisabledAt  *time.Time `json:"disabled_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

func toUserJSON(u identity.User) userJSON {
	return userJSON{ID: u.ID, OrgID: u.OrgID, Email: u.Email, Name: u.Name, Roles: u.Roles, Specialties: u.Specialties,
		HasPassword: u.PasswordHash != nil, DisabledAt: u.DisabledAt, CreatedAt: u.CreatedAt}
}

type tokenJSON struct {
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

func toTokenJSON(t identity.Token) tokenJSON {
	return tokenJSON{ID: t.ID, OrgID: t.OrgID, UserID: t.UserID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, LastUsedAt: t.LastUsedAt}
}

type meJSON struct {
	UserID      uuid.UUID `json:"user_id"`
	OrgID       uuid.UUID `json:"org_id"`
	OrgKind     string    `json:"org_kind"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Specialties []string  `json:"specialties"`
	CSRFToken   string    `json:"csrf_token,omitempty"`
}

func toMeJSON(p *identity.Principal) meJSON {
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	return meJSON{UserID: p.UserID, OrgID: p.OrgID, OrgKind: string(p.OrgKind), Email: p.Email, Name: p.Name,
		Roles: roles, Specialties: p.Specialties, CSRFToken: p.CSRFToken}
}

type listJSON[T any] struct {
	Items []T `json:"items"`
}

func principal(c *gin.Context) *identity.Principal { return identity.FromContext(c.Request.Context()) }

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (a *API) login(c *gin.Context) {
	var req loginRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	sess, err := a.identity.Login(ctx, req.Email, req.Password, c.ClientIP(), logctx.RequestID(ctx))
	if err != nil {
		a.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: edge.SessionCookie, Value: sess.Secret, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	c.JSON(http.StatusOK, toMeJSON(sess.Principal))
}

func (a *API) logout(c *gin.Context) {
	if err := a.identity.Logout(c.Request.Context(), principal(c)); err != nil {
		a.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: edge.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
	c.Status(http.StatusNoContent)
}

func (a *API) me(c *gin.Context) { c.JSON(http.StatusOK, toMeJSON(principal(c))) }

type createOrgRequest struct {
	Kind        string   `json:"kind"`
	Name        string   `json:"name"`
	Slug        string   `json:"slug"`
	Specialties []string `json:"specialties"`
}

func (a *API) createOrg(c *gin.Context) {
	var req createOrgRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	org, err := a.identity.CreateOrg(c.Request.Context(), principal(c), identity.NewOrg{
		Kind: identity.OrgKind(req.Kind), Name: req.Name, Slug: req.Slug, Specialties: req.Specialties})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toOrgJSON(org))
}

func (a *API) getOrg(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	org, err := a.identity.GetOrg(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toOrgJSON(org))
}

func (a *API) listOrgs(c *gin.Context) {
	orgs, err := a.identity.ListOrgs(c.Request.Context(), principal(c), queryString(c, "kind"))
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[orgJSON]{Items: make([]orgJSON, 0, len(orgs))}
	for _, o := range orgs {
		out.Items = append(out.Items, toOrgJSON(o))
	}
	c.JSON(http.StatusOK, out)
}

type createUserRequest struct {
	OrgID       uuid.UUID `json:"org_id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Specialties []string  `json:"specialties"`
	Password    string    `json:"password"`
}

func toRoles(rs []string) []identity.Role {
	if rs == nil {
		return nil
	}
	out := make([]identity.Role, len(rs))
	for i, r := range rs {
		out[i] = identity.Role(r)
	}
	return out
}

func (a *API) createUser(c *gin.Context) {
	var req createUserRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	p := principal(c)
	if req.OrgID == uuid.Nil {
		req.OrgID = p.OrgID
	}
	u, err := a.identity.CreateUser(c.Request.Context(), p, identity.NewUser{OrgID: req.OrgID, Email: req.Email,
		Name: req.Name, Roles: toRoles(req.Roles), Specialties: req.Specialties, Password: req.Password})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, toUserJSON(u))
}

func (a *API) getUser(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	u, err := a.identity.GetUser(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUserJSON(u))
}

func (a *API) listUsers(c *gin.Context) {
	orgID, err := queryUUID(c, "org_id")
	if err != nil {
		a.fail(c, err)
		return
	}
	users, err := a.identity.ListUsers(c.Request.Context(), principal(c), orgID)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[userJSON]{Items: make([]userJSON, 0, len(users))}
	for _, u := range users {
		out.Items = append(out.Items, toUserJSON(u))
	}
	c.JSON(http.StatusOK, out)
}

type updateUserRequest struct {
	Name        *string  `json:"name"`
	Roles       []string `json:"roles"`
	Specialties []string `json:"specialties"`
	Disabled    *bool    `json:"disabled"`
}

func (a *API) updateUser(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req updateUserRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	u, err := a.identity.UpdateUser(c.Request.Context(), principal(c), id, identity.UserChange{
		Name: req.Name, Roles: toRoles(req.Roles), Specialties: req.Specialties, Disabled: req.Disabled})
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toUserJSON(u))
}

type createTokenRequest struct {
	UserID     uuid.UUID `json:"user_id"`
	Name       string    `json:"name"`
	TTLSeconds int64     `json:"ttl_seconds"`
}

func (a *API) createToken(c *gin.Context) {
	var req createTokenRequest
	if err := bindJSON(c, &req); err != nil {
		a.fail(c, err)
		return
	}
	tok, secret, err := a.identity.CreateToken(c.Request.Context(), principal(c), identity.NewToken{
		UserID: req.UserID, Name: req.Name, TTL: time.Duration(req.TTLSeconds) * time.Second})
	if err != nil {
		a.fail(c, err)
		return
	}
	out := toTokenJSON(tok)
	out.Token = secret
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, out)
}

func (a *API) listTokens(c *gin.Context) {
	userID, err := queryUUID(c, "user_id")
	if err != nil {
		a.fail(c, err)
		return
	}
	toks, err := a.identity.ListTokens(c.Request.Context(), principal(c), userID)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := listJSON[tokenJSON]{Items: make([]tokenJSON, 0, len(toks))}
	for _, t := range toks {
		out.Items = append(out.Items, toTokenJSON(t))
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) revokeToken(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	tok, err := a.identity.RevokeToken(c.Request.Context(), principal(c), id)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toTokenJSON(tok))
}
