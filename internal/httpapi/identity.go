package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/logctx"
)

// toOrg is an organisation as the API answers it.
func toOrg(o identity.Org) api.Org {
	return api.Org{ID: o.ID, Kind: o.Kind, Name: o.Name, Slug: o.Slug, Specialties: o.Specialties, CreatedAt: o.CreatedAt}
}

// toUser is a user as the API answers it, without the password hash.
func toUser(u identity.User) api.User {
	return api.User{ID: u.ID, OrgID: u.OrgID, Email: u.Email, Name: u.Name, Roles: u.Roles, Specialties: u.Specialties,
		HasPassword: u.PasswordHash != nil, DisabledAt: u.DisabledAt, CreatedAt: u.CreatedAt}
}

// toToken is an API token as the API answers it, without its secret.
func toToken(t identity.Token) api.Token {
	return api.Token{ID: t.ID, OrgID: t.OrgID, UserID: t.UserID, Name: t.Name, Prefix: t.Prefix, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, LastUsedAt: t.LastUsedAt}
}

// toMe is the signed-in caller as the API answers it.
func toMe(p *identity.Principal) api.Me {
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	return api.Me{UserID: p.UserID, OrgID: p.OrgID, OrgKind: string(p.OrgKind), Email: p.Email, Name: p.Name,
		Roles: roles, Specialties: p.Specialties, CSRFToken: p.CSRFToken}
}

func principal(c *gin.Context) *identity.Principal { return identity.FromContext(c.Request.Context()) }

func (a *API) login(c *gin.Context) {
	var req api.LoginRequest
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
	c.JSON(http.StatusOK, toMe(sess.Principal))
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

func (a *API) me(c *gin.Context) { c.JSON(http.StatusOK, toMe(principal(c))) }

func (a *API) createOrg(c *gin.Context) {
	var req api.CreateOrgRequest
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
	c.JSON(http.StatusCreated, toOrg(org))
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
	c.JSON(http.StatusOK, toOrg(org))
}

func (a *API) listOrgs(c *gin.Context) {
	orgs, err := a.identity.ListOrgs(c.Request.Context(), principal(c), queryString(c, "kind"))
	if err != nil {
		a.fail(c, err)
		return
	}
	out := api.List[api.Org]{Items: make([]api.Org, 0, len(orgs))}
	for _, o := range orgs {
		out.Items = append(out.Items, toOrg(o))
	}
	c.JSON(http.StatusOK, out)
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
	var req api.CreateUserRequest
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
	c.JSON(http.StatusCreated, toUser(u))
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
	c.JSON(http.StatusOK, toUser(u))
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
	out := api.List[api.User]{Items: make([]api.User, 0, len(users))}
	for _, u := range users {
		out.Items = append(out.Items, toUser(u))
	}
	c.JSON(http.StatusOK, out)
}

func (a *API) updateUser(c *gin.Context) {
	id, err := pathUUID(c, "id")
	if err != nil {
		a.fail(c, err)
		return
	}
	var req api.UpdateUserRequest
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
	c.JSON(http.StatusOK, toUser(u))
}

func (a *API) createToken(c *gin.Context) {
	var req api.CreateTokenRequest
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
	out := toToken(tok)
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
	out := api.List[api.Token]{Items: make([]api.Token, 0, len(toks))}
	for _, t := range toks {
		out.Items = append(out.Items, toToken(t))
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
	c.JSON(http.StatusOK, toToken(tok))
}
