package delivery

import (
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ in, want string }{
		"Plain":       {"https://ehr.example/hooks/teleread", "https://ehr.example/hooks/teleread"},
		"QueryToken":  {"https://ehr.example/h?token=s3cret&site=7", "https://ehr.example/h?token=REDACTED&site=REDACTED"},
		"BareQuery":   {"https://ehr.example/h?s3cret", "https://ehr.example/h?REDACTED"},
		"UserInfo":    {"https://bob:s3cret@ehr.example:8443/h", "https://REDACTED@ehr.example:8443/h"},
		"Fragment":    {"https://ehr.example/h#s3cret", "https://ehr.example/h#REDACTED"},
		"EscapedPath": {"https://ehr.example/a%20b?k=v", "https://ehr.example/a%20b?k=REDACTED"},
		"Unparseable": {"https://ehr.example/%zz?token=s3cret", "REDACTED"},
		"NoHost":      {"s3cret", "REDACTED"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, redactURL(tc.in))
		})
	}
}

func TestRedactErr(t *testing.T) {
	t.Parallel()
	raw := "http://127.0.0.1:1/h?token=s3cret"
	base := errors.New("connection refused")

	t.Run("URLError", func(t *testing.T) {
		t.Parallel()
		err := redactErr(&url.Error{Op: "Post", URL: raw, Err: base}, raw)
		require.Equal(t, `Post "http://127.0.0.1:1/h?token=REDACTED": connection refused`, err.Error())
		require.ErrorIs(t, err, base)
	})
	t.Run("Wrapped", func(t *testing.T) {
		t.Parallel()
		err := redactErr(fmt.Errorf("request to %s: %w", raw, base), raw)
		require.NotContains(t, err.Error(), "s3cret")
		require.Contains(t, err.Error(), "http://127.0.0.1:1/h?token=REDACTED")
		require.ErrorIs(t, err, base)
	})
	t.Run("Nil", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, redactErr(nil, raw))
	})
}
