package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/testenv"
)

type seedDoc struct {
	URL   string `json:"url"`
	Users []struct {
		Role     string `json:"role"`
		Email    string `json:"email"`
		Password string `json:"password"`
		Token    string `json:"token"`
	} `json:"users"`
}

func seedDemo(t *testing.T, getenv func(string) string) seedDoc {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, app.Run(context.Background(), []string{"seed", "--demo"}, getenv, &out, io.Discard, "test"))
	var doc seedDoc
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc), out.String())
	return doc
}

// TestSeedDemoPrintsWorkingTokens seeds twice (as `make run` does on every
// start) and signs in with every printed token and password.
func TestSeedDemoPrintsWorkingTokens(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	first := seedDemo(t, env.Getenv(nil))
	doc := seedDemo(t, env.Getenv(nil))
	require.Len(t, doc.Users, 6)
	roles := map[string]bool{}
	for _, u := range doc.Users {
		roles[u.Role] = true
	}
	for _, r := range []string{"site_staff", "referring_physician", "specialist", "org_admin", "platform_admin"} {
		require.True(t, roles[r], r)
	}
	srv := startServe(t, env.Getenv(nil), "--workers=false")
	for i, u := range doc.Users {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+u.Token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var me map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&me))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, u.Email)
		require.Equal(t, u.Email, me["email"])

		// The earlier run's token was replaced.
		req.Header.Set("Authorization", "Bearer "+first.Users[i].Token)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	body, _ := json.Marshal(map[string]string{"email": doc.Users[0].Email, "password": doc.Users[0].Password})
	resp, err := http.Post(srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestSeedDemoWork checks that the demo is walkable at once: routing
// rules for the demo reading groups and example cases in each state, made
// once however often seed runs, and on each role's first page.
func TestSeedDemoWork(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	seedDemo(t, env.Getenv(nil))
	doc := seedDemo(t, env.Getenv(nil))
	ctx := context.Background()
	var rules int
	require.NoError(t, env.Pool.QueryRow(ctx, "SELECT count(*) FROM routing_rules WHERE name LIKE 'Demo:%'").Scan(&rules))
	require.Equal(t, 2, rules)
	statuses := map[string]int{}
	rows, err := env.Pool.Query(ctx, "SELECT status, count(*) FROM cases WHERE patient_mrn LIKE 'DEMO-%' GROUP BY status")
	require.NoError(t, err)
	for rows.Next() {
		var st string
		var n int
		require.NoError(t, rows.Scan(&st, &n))
		statuses[st] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int{"draft": 1, "routed": 2, "in_review": 1, "info_requested": 1, "delivered": 1,
		"acknowledged": 1}, statuses)

	srv := startServe(t, env.Getenv(nil), "--workers=false")
	home := map[string]string{"site_staff": "Ben Routed", "referring_physician": "Eva Delivered", "specialist": "Worklist"}
	for _, u := range doc.Users {
		want, ok := home[u.Role]
		if !ok {
			continue
		}
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar}
		resp, err := client.PostForm(srv.URL+"/login", url.Values{"email": {u.Email}, "password": {u.Password}})
		require.NoError(t, err)
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, u.Email)
		require.Contains(t, string(page), want, u.Email)
	}
}

func TestAuditVerifyCommandCatchesTampering(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	seedDemo(t, env.Getenv(nil))
	var out bytes.Buffer
	require.NoError(t, app.Run(context.Background(), []string{"audit", "verify"}, env.Getenv(nil), &out, io.Discard, "test"))
	ctx := context.Background()
	var events int
	require.NoError(t, env.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_events").Scan(&events))
	require.Greater(t, events, 6, "the demo's users, tokens and example cases are audited")
	require.Contains(t, out.String(), fmt.Sprintf("audit log intact: %d events", events))

	conn, err := env.Pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SET session_replication_role = replica")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "UPDATE audit_events SET object_id = 'someone-else' WHERE chain_seq = 3")
	require.NoError(t, err)
	conn.Release()

	out.Reset()
	err = app.Run(context.Background(), []string{"audit", "verify"}, env.Getenv(nil), &out, io.Discard, "test")
	require.ErrorContains(t, err, "verification failed")
	require.Contains(t, out.String(), "BROKEN chain platform at seq 3")
	require.Equal(t, 1, app.ExitCode(err))
}
