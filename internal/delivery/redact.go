package delivery

import (
	"errors"
	"net/url"
	"strings"
)

// redacted replaces what a webhook URL may carry as a secret.
const redacted = "REDACTED"

// redactURL returns a webhook URL fit for logs, attempt records and the
// audit log: scheme, host and path are kept; user information, every query
// value and the fragment become REDACTED, since receivers often put an
// access token there.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return redacted
	}
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteString("://")
	if u.User != nil {
		b.WriteString(redacted + "@")
	}
	b.WriteString(u.Host)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteByte('?')
		for i, part := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			if key, _, ok := strings.Cut(part, "="); ok {
				b.WriteString(key + "=" + redacted)
			} else if part != "" {
				// A bare value ("?abc123") may be the token itself.
				b.WriteString(redacted)
			}
		}
	}
	if u.Fragment != "" || u.RawFragment != "" {
		b.WriteString("#" + redacted)
	}
	return b.String()
}

// redactedError is an error whose text had a webhook URL redacted; it
// still unwraps to the original, for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with every occurrence of the webhook URL raw in its
// text redacted. net/http's errors (*url.Error) quote the full URL,
// query token included.
func redactErr(err error, raw string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactURL(ue.URL)
	}
	msg := err.Error()
	if raw == "" || !strings.Contains(msg, raw) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(msg, raw, redactURL(raw)), err: err}
}
