package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
	"github.com/teleread/teleread/internal/edge"
	"github.com/teleread/teleread/internal/intake"
)

// reply is the answer of a request run under its Idempotency-Key: a JSON
// value or an edge.Problem, with its final request hash ("" keeps the one
// known before) and whether a retry gets it again.
type reply struct {
	status int
	body   any
	hash   string
	keep   bool
}

// encode is r as intake stores it.
func (r reply) encode() (intake.Answer, error) {
	var js []byte
	var err error
	if pr, ok := r.body.(edge.Problem); ok {
		js, err = edge.EncodeProblem(pr)
	} else {
		js, err = json.Marshal(r.body)
	}
	if err != nil {
		return intake.Answer{}, fmt.Errorf("encode answer: %w", err)
	}
	return intake.Answer{Status: r.status, Body: js, Hash: r.hash, Keep: r.keep}, nil
}

// keeper stores r, in tx, as the answer a retry of the running request
// gets (intake.Claim.Store): for a request whose work must not be done
// twice, so that its work and its answer commit together. Without an
// Idempotency-Key it does nothing.
type keeper func(ctx context.Context, tx pgx.Tx, r reply) error

// requestHash is the request hash of a JSON request: the SHA-256 of its
// route and its body as decoded (so that a retry's whitespace or field
// order does not matter).
func requestHash(route string, req any) string {
	js, _ := json.Marshal(req)
	sum := sha256.Sum256(append([]byte(route+"\n"), js...))
	return hex.EncodeToString(sum[:])
}

// idempotent runs a POST under the Idempotency-Key it was sent with, if
// any (intake.Idempotent holds the rules), and writes its answer: the
// run's, or to a retry the stored one marked Idempotent-Replayed. An error
// of run is answered as a problem, and a retry runs again.
func (a *API) idempotent(c *gin.Context, k intake.Keyed, run func() (reply, error)) {
	a.idempotentTx(c, k, func(keeper) (reply, error) { return run() })
}

// idempotentTx is idempotent for a request that stores its answer with
// its work through keep. An error of run after keep committed is answered
// as a problem, and a retry gets the kept answer.
func (a *API) idempotentTx(c *gin.Context, k intake.Keyed, run func(keep keeper) (reply, error)) {
	ctx := c.Request.Context()
	k.Key = c.GetHeader(api.IdempotencyKeyHeader)
	if a.intake == nil {
		if k.Key != "" {
			a.fail(c, apperr.New(apperr.Unavailable, "Idempotency-Key needs file intake, which is not configured on this server"))
			return
		}
		r, err := run(func(context.Context, pgx.Tx, reply) error { return nil })
		if err == nil {
			var ans intake.Answer
			if ans, err = r.encode(); err == nil {
				a.writeAnswer(c, ans)
				return
			}
		}
		a.fail(c, err)
		return
	}
	ans, err := a.intake.Idempotent(ctx, principal(c), k, func(cl *intake.Claim) (intake.Answer, error) {
		r, err := run(func(ctx context.Context, tx pgx.Tx, r reply) error {
			ans, err := r.encode()
			if err != nil {
				return err
			}
			return cl.Store(ctx, tx, ans)
		})
		if err != nil {
			return intake.Answer{}, err
		}
		return r.encode()
	})
	if err != nil {
		a.fail(c, err)
		return
	}
	a.writeAnswer(c, ans)
}

// writeAnswer writes an answer of idempotentTx.
func (a *API) writeAnswer(c *gin.Context, ans intake.Answer) {
	ct := "application/json; charset=utf-8"
	if ans.Status >= 400 {
		ct = edge.ProblemContentType
		c.Header("Cache-Control", "no-store")
		if ans.Status >= 500 {
			a.logger.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "status", ans.Status)
		}
	}
	if ans.Replayed {
		c.Header(api.IdempotentReplayedHeader, "true")
	}
	c.Data(ans.Status, ct, ans.Body)
}
