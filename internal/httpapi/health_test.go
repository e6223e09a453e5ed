package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/identity"
)

// TestReadyzDetails checks that a failing dependency's error, which can
// name hosts and users, reaches only a caller on this machine or a platform
// admin; everyone else learns the status and which dependency failed.
func TestReadyzDetails(t *testing.T) {
	t.Parallel()
	const secret = "dial tcp 10.9.8.7:5432: password authentication failed for user \"teleread\""
	b := setup(t, setupOpts{checks: []httpapi.Check{
		{Name: "postgres", Probe: func(context.Context) error { return errors.New(secret) }},
		{Name: "object_storage", Probe: func(context.Context) error { return nil }},
	}})
	get := func(t *testing.T, hdr map[string]string) (int, string, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, b.srv.URL+"/readyz", nil)
		require.NoError(t, err)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var out map[string]any
		require.NoError(t, json.Unmarshal(raw, &out))
		return resp.StatusCode, string(raw), out
	}
	forwarded := map[string]string{"X-Forwarded-For": "203.0.113.9"}
	bearer := func(tok string) map[string]string {
		return map[string]string{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer " + tok}
	}
	for name, tc := range map[string]struct {
		hdr      map[string]string
		detailed bool
	}{
		"Loopback":      {nil, true},
		"Forwarded":     {forwarded, false},
		"SiteAdmin":     {bearer(b.siteA.Tokens[identity.RoleOrgAdmin]), false},
		"PlatformAdmin": {bearer(b.platform.Tokens[identity.RolePlatformAdmin]), true},
		"BadToken":      {bearer("trt_nope"), false},
	} {
		t.Run(name, func(t *testing.T) {
			status, raw, out := get(t, tc.hdr)
			require.Equal(t, http.StatusServiceUnavailable, status)
			require.Equal(t, "unavailable", out["status"])
			require.Equal(t, []any{"postgres"}, out["failed"])
			checks := out["checks"].(map[string]any)
			pg := checks["postgres"].(map[string]any)
			require.Equal(t, "unavailable", pg["status"])
			require.Equal(t, "ok", checks["object_storage"].(map[string]any)["status"])
			if tc.detailed {
				require.Equal(t, secret, pg["error"])
				require.Contains(t, pg, "latency_ms")
			} else {
				require.NotContains(t, raw, "10.9.8.7")
				require.NotContains(t, pg, "error")
				require.NotContains(t, pg, "latency_ms")
			}
		})
	}
}
