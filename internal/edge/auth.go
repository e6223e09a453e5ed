package edge

import (
	"crypto/subtle"
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/logctx"
)

// SessionCookie is the name of the web session cookie.
const SessionCookie = "teleread_session"

// CSRFHeader carries the session's CSRF token on state-changing requests
// made with a session cookie.
const CSRFHeader = "X-CSRF-Token"

// CSRFField is the form field that carries the CSRF token in an
// urlencoded form post (the web pages' plain forms).
const CSRFField = "csrf_token"

// maxCSRFForm bounds the urlencoded form body read to find the CSRF token.
// Larger forms, and every multipart body, must send the header.
const maxCSRFForm = 64 << 10

// credentials reads the request's credentials: a bearer token, HTTP Basic
// whose password is a token (the user name is ignored: DICOMweb peers and
// PACS send whatever they are configured with), or the session cookie.
// No credentials at all is (nil, nil).
func (e *Edge) credentials(c *gin.Context) (*identity.Principal, error) {
	ctx := c.Request.Context()
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, value, _ := strings.Cut(h, " ")
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(scheme, "Bearer") && value != "":
			return e.identity.AuthenticateToken(ctx, value)
		case strings.EqualFold(scheme, "Basic") && value != "":
			raw, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				return nil, apperr.New(apperr.Unauthorized, "malformed Basic credentials: expected base64 of `user:token`")
			}
			_, token, ok := strings.Cut(string(raw), ":")
			if !ok || token == "" {
				return nil, apperr.New(apperr.Unauthorized, "Basic credentials need an API token as the password")
			}
			return e.identity.AuthenticateToken(ctx, token)
		default:
			return nil, apperr.New(apperr.Unauthorized, "malformed Authorization header: expected `Bearer <token>` or Basic with a token as password")
		}
	}
	if cookie, err := c.Cookie(SessionCookie); err == nil && cookie != "" {
		return e.identity.AuthenticateSession(ctx, cookie)
	}
	return nil, nil
}

// authenticate puts the caller's principal in the request context. Routes
// whose rule is public pass without one; any other request without valid
// credentials is a 401.
func (e *Edge) authenticate(o GuardOptions) gin.HandlerFunc {
	return func(c *gin.Context) {
		if r, ok := e.Rule(c.Request.Method, c.FullPath()); ok && r.Public {
			c.Next()
			return
		}
		p, err := e.credentials(c)
		if err == nil && p == nil {
			err = apperr.New(apperr.Unauthorized, "authentication required: send `Authorization: Bearer <token>` or sign in")
		}
		if err != nil {
			c.Writer.Header().Add("WWW-Authenticate", `Bearer realm="teleread"`)
			if o.BasicChallenge {
				c.Writer.Header().Add("WWW-Authenticate", `Basic realm="teleread", charset="UTF-8"`)
			}
			e.Fail(c, err)
			return
		}
		e.attach(c, p)
		c.Next()
	}
}

func (e *Edge) attach(c *gin.Context, p *identity.Principal) {
	ctx := c.Request.Context()
	p.ClientIP = c.ClientIP()
	p.RequestID = logctx.RequestID(ctx)
	c.Request = c.Request.WithContext(identity.WithPrincipal(ctx, p))
}

// Identify authenticates the request when it carries credentials, for
// unguarded routes that show more to a known caller (/readyz). Missing or
// bad credentials are no principal, not an error.
func (e *Edge) Identify(c *gin.Context) *identity.Principal {
	p, err := e.credentials(c)
	if err != nil || p == nil {
		return nil
	}
	e.attach(c, p)
	return p
}

// csrf refuses state-changing requests authenticated by a session cookie
// unless they carry the session's CSRF token: in the X-CSRF-Token header,
// or in the csrf_token field of an urlencoded form body of at most 64 KiB.
// A multipart body is never parsed here: without the header it is refused
// before any of it is read. Bearer and Basic requests are not sent by
// browsers on their own, so they need none.
func (e *Edge) csrf() gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		p := identity.FromContext(c.Request.Context())
		if p == nil || p.SessionID == uuid.Nil {
			c.Next()
			return
		}
		got := c.GetHeader(CSRFHeader)
		if got == "" {
			got = formToken(c)
		}
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRFToken)) != 1 {
			c.Header("Connection", "close") // the unread body is not drained
			e.Fail(c, apperr.New(apperr.Forbidden, "missing or wrong CSRF token (send the X-CSRF-Token header)"))
			return
		}
		c.Next()
	}
}

// formToken reads the CSRF field of an urlencoded form body of bounded
// size and leaves the parsed form for the handler (c.PostForm). Any other
// body is left unread.
func formToken(c *gin.Context) string {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return ""
	}
	if c.Request.ContentLength > maxCSRFForm {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxCSRFForm+1))
	if err != nil || len(body) > maxCSRFForm {
		return ""
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	all := url.Values{}
	for k, v := range form {
		all[k] = v
	}
	for k, v := range c.Request.URL.Query() {
		all[k] = append(all[k], v...)
	}
	c.Request.PostForm, c.Request.Form = form, all
	return form.Get(CSRFField)
}
