package edge

import (
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/identity"
)

// Rule says who may call a route.
type Rule struct {
	// Public routes need no authentication (signing in, the sign-in page).
	Public bool
	// Upload routes stream a file body: the upload size limit applies, not
	// the JSON one.
	Upload bool
	// Roles lists the roles of which the caller needs any one.
	Roles []identity.Role
}

// AsUpload returns r as an upload rule.
func (r Rule) AsUpload() Rule { r.Upload = true; return r }

// Policy maps "METHOD /route/template" (gin's full path, e.g.
// "GET /api/v1/cases/:id" or "POST /dicomweb/studies") to its rule. It is
// the one table of who may call what for every edge; object-level access
// (which case, which study) is then decided in SQL by the domain packages.
type Policy map[string]Rule

// Key is the policy key of a route.
func Key(method, route string) string { return method + " " + route }

// Allow adds an edge's rules to the policy. A route named twice is a
// programming error and panics at start-up.
func (e *Edge) Allow(p Policy) {
	for k, r := range p {
		if _, dup := e.policy[k]; dup {
			panic(fmt.Sprintf("edge: route %q has two policy rules", k))
		}
		e.policy[k] = r
	}
}

// Rule returns the rule of a route.
func (e *Edge) Rule(method, route string) (Rule, bool) {
	r, ok := e.policy[Key(method, route)]
	return r, ok
}

// Routes lists every route with a rule (for tests that hold the router,
// the policy and the API contract to each other).
func (e *Edge) Routes() []string {
	out := make([]string, 0, len(e.policy))
	for k := range e.policy {
		out = append(out, k)
	}
	return out
}

// authorize applies the policy: a route without a rule is refused, and a
// caller without one of the rule's roles gets 403.
func (e *Edge) authorize() gin.HandlerFunc {
	return func(c *gin.Context) {
		r, ok := e.Rule(c.Request.Method, c.FullPath())
		if !ok {
			e.logger.ErrorContext(c.Request.Context(), "route has no authorization rule", "route", c.FullPath())
			e.Fail(c, apperr.New(apperr.Forbidden, "this route has no authorization rule"))
			return
		}
		if r.Public {
			c.Next()
			return
		}
		p := identity.FromContext(c.Request.Context())
		if p == nil || !p.HasAny(r.Roles...) {
			e.Fail(c, apperr.New(apperr.Forbidden, "your role may not do this"))
			return
		}
		c.Next()
	}
}
