package archtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// tenantTables are the tables of migrations/ whose rows belong to one
// organisation (a site, a reading group): directly by an org column (users,
// api_tokens, sessions, cases, files, dicom_*, uploads, idempotency_keys,
// reading_group_settings, routing_rules, webhooks, deliveries, inbox_items,
// escalations, audit_events, audit_reads, incoming_studies,
// incoming_instances), through their case or report (case_events,
// case_manifest_entries, reports, report_*, delivery_attempts,
// acknowledgements), or being the organisation (orgs). A statement that
// reads, changes or locks them takes the caller's scope.
var tenantTables = []string{
	"orgs", "users", "api_tokens", "sessions",
	"audit_events", "audit_reads",
	"cases", "case_events", "case_manifest_entries", "files", "dicom_studies", "dicom_series",
	"dicom_instances", "uploads", "idempotency_keys", "staged_objects", "incoming_studies", "incoming_instances", "photo_studies", "photo_instances",
	"reading_group_settings", "routing_rules",
	"reports", "report_versions", "report_signatures", "report_addenda",
	"webhooks", "deliveries", "delivery_attempts", "inbox_items", "acknowledgements", "escalations",
}

// otherTables are the tables that belong to no tenant: login_failures is
// keyed by e-mail and client address, before anyone is signed in.
var otherTables = []string{"login_failures"}

// scopeParams are the parameters that carry the caller's scope: the
// caller's organisation (as such, as a site or as a reading group) and
// platform, the explicit flag of platform admins.
var scopeParams = []string{"org_id", "site_org_id", "reading_group_id", "platform"}

// scopeAllowed lists queries that run without a caller's scope and cannot
// say so in their file, each with its reason. Prefer a comment line
// "-- scope: worker — <reason>" directly above the query's "-- name:" line.
var scopeAllowed = map[string]string{}

// workerRe is the comment that marks a query run by a job or before there is
// a caller; the reason is required.
var workerRe = regexp.MustCompile(`^--\s*scope:\s*worker\s*(—|–|-{1,2}|:)\s*\S`)

var (
	nameRe    = regexp.MustCompile(`^--\s*name:\s*(\w+)\s+:\w+`)
	tableRe   = regexp.MustCompile(`(?i)\b(?:FROM|JOIN|UPDATE|INTO)\s+(?:ONLY\s+)?([a-z_][a-z0-9_]*)`)
	whereRe   = regexp.MustCompile(`(?i)\bWHERE\b`)
	readRe    = regexp.MustCompile(`(?i)\b(SELECT|UPDATE|DELETE|WHERE)\b`)
	insertRe  = regexp.MustCompile(`(?i)^\s*INSERT\b`)
	upsertRe  = regexp.MustCompile(`(?is)\bON\s+CONFLICT\s*\(([^)]*)\)\s*DO\s+UPDATE\b`)
	plainRe   = regexp.MustCompile(`(?i)\b(SELECT|DELETE|WHERE)\b`)
	fromRe    = regexp.MustCompile(`(?i)\b(FROM|JOIN)\b`)
	commentRe = regexp.MustCompile(`--[^\n]*`)
	// nullScopeRe is "a NULL scope means every tenant": an optional
	// parameter that, when NULL, drops the comparison of an organisation
	// column.
	nullScopeRe = regexp.MustCompile(`(?i)(?:sqlc\.narg\(\s*'?(\w+)'?\s*\)|@(\w+))(?:::\w+)?\s+IS\s+NULL\s+OR\s+(?:\w+\.)?(\w+)\s*=`)
)

// query is one named query of a .sql file.
type query struct {
	file   string
	name   string
	worker bool   // marked "-- scope: worker — reason" above its name
	body   string // the statement, comments removed
}

// scopeParamIn reports whether the text mentions one of scopeParams as a
// query parameter.
func scopeParamIn(s string) bool {
	for _, p := range scopeParams {
		re := regexp.MustCompile(`(@` + p + `\b|sqlc\.n?arg\(\s*'?` + p + `'?\s*\))`)
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// tablesOf returns the tenant tables the statement names.
func tablesOf(body string) []string {
	var out []string
	for _, m := range tableRe.FindAllStringSubmatch(body, -1) {
		t := strings.ToLower(m[1])
		if slices.Contains(tenantTables, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// problems returns why q breaks the scope rule, or nothing.
func problems(q query) []string {
	var out []string
	for _, m := range nullScopeRe.FindAllStringSubmatch(q.body, -1) {
		param, col := m[1]+m[2], strings.ToLower(m[3])
		if param == "scope" || strings.HasSuffix(col, "org_id") || col == "reading_group_id" {
			out = append(out, fmt.Sprintf("NULL %s means every tenant (%s IS NULL OR %s = …): use @platform::boolean and @org_id",
				param, param, col))
		}
	}
	tables := tablesOf(q.body)
	if len(tables) == 0 || q.worker {
		return out
	}
	if _, ok := scopeAllowed[q.name]; ok {
		return out
	}
	// An INSERT of given values reads and locks nothing; its organisation is
	// the caller's choice, checked in Go. So does an upsert whose conflict
	// key holds the organisation: the row it updates has the same one.
	if insertRe.MatchString(q.body) && !readRe.MatchString(q.body) {
		return out
	}
	if insertRe.MatchString(q.body) && !plainRe.MatchString(q.body) {
		if m := upsertRe.FindStringSubmatch(q.body); m != nil && orgKey(m[1]) {
			return out
		}
	}
	// So does an INSERT … SELECT of given values that reads no table (rows
	// from unnest of array parameters) and updates nothing on conflict.
	if insertRe.MatchString(q.body) && !fromRe.MatchString(q.body) && !upsertRe.MatchString(q.body) {
		return out
	}
	loc := whereRe.FindStringIndex(q.body)
	if loc == nil || !scopeParamIn(q.body[loc[0]:]) {
		out = append(out, fmt.Sprintf("touches %s without a scope parameter (@%s) in its WHERE; "+
			"add one, or mark a job's query with \"-- scope: worker — <reason>\" above its name",
			strings.Join(tables, ", "), strings.Join(scopeParams, ", @")))
	}
	return out
}

// orgKey reports whether a comma-separated column list names an
// organisation column.
func orgKey(cols string) bool {
	for _, c := range strings.Split(cols, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		if strings.HasSuffix(c, "org_id") || c == "reading_group_id" {
			return true
		}
	}
	return false
}

// parseQueries splits a sqlc query file into its named queries.
func parseQueries(file, text string) []query {
	lines := strings.Split(text, "\n")
	var out []query
	cur := -1
	var body []string
	flush := func() {
		if cur >= 0 {
			out[cur].body = commentRe.ReplaceAllString(strings.Join(body, "\n"), "")
		}
		body = nil
	}
	for i, l := range lines {
		m := nameRe.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			body = append(body, l)
			continue
		}
		flush()
		worker := i > 0 && workerRe.MatchString(strings.TrimSpace(lines[i-1]))
		out = append(out, query{file: file, name: m[1], worker: worker})
		cur = len(out) - 1
	}
	flush()
	return out
}

// queryFiles returns the query files sqlc.yaml configures, relative to root.
func queryFiles(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "sqlc.yaml"))
	require.NoError(t, err)
	var cfg struct {
		SQL []struct {
			// Queries is a file, or a list of files.
			Queries any `yaml:"queries"`
		} `yaml:"sql"`
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg), "sqlc.yaml")
	var out []string
	for _, s := range cfg.SQL {
		switch q := s.Queries.(type) {
		case string:
			out = append(out, q)
		case []any:
			for _, f := range q {
				out = append(out, fmt.Sprint(f))
			}
		}
	}
	require.NotEmpty(t, out, "no queries: entries in sqlc.yaml")
	return out
}

// TestQueriesScoped fails when a query on a tenant table lacks the caller's
// scope in its WHERE, or lets a NULL scope mean every tenant (issue 9,
// part 4; docs/security.md).
func TestQueriesScoped(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)

	t.Run("TablesClassified", func(t *testing.T) {
		t.Parallel()
		// Every table of the migrations is either a tenant table or listed
		// as belonging to none, so a new table cannot slip past the rule.
		files, err := filepath.Glob(filepath.Join(root, "migrations", "*.sql"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		createRe := regexp.MustCompile(`(?i)CREATE TABLE\s+(?:IF NOT EXISTS\s+)?([a-z_][a-z0-9_]*)`)
		seen := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			for _, m := range createRe.FindAllStringSubmatch(string(b), -1) {
				seen++
				tbl := strings.ToLower(m[1])
				if !slices.Contains(tenantTables, tbl) && !slices.Contains(otherTables, tbl) {
					t.Errorf("%s: table %s is neither in tenantTables nor in otherTables", filepath.Base(f), tbl)
				}
			}
		}
		require.GreaterOrEqual(t, seen, len(tenantTables), "fewer tables in migrations/ than listed")
	})

	t.Run("RuleSeesKnownCases", func(t *testing.T) {
		t.Parallel()
		// The rule, applied to known shapes, says what it should, so that a
		// broken parser cannot make the test pass on nothing.
		src := `-- name: Good :one
SELECT * FROM cases WHERE id = @id AND (@platform::boolean OR site_org_id = @org_id);

-- name: Unscoped :one
-- A comment mentioning @org_id does not count.
SELECT * FROM cases c JOIN reports r ON r.case_id = c.id WHERE r.id = @id FOR UPDATE;

-- name: NullMeansAll :many
SELECT * FROM webhooks WHERE org_id = @org_id OR (sqlc.narg(scope)::uuid IS NULL OR org_id = sqlc.narg(scope)::uuid);

-- scope: worker — the job names the row.
-- name: Worker :exec
UPDATE deliveries SET status = 'dead' WHERE id = @id;

-- name: Insert :one
INSERT INTO webhooks (org_id, url) VALUES (@org_id, @url) RETURNING *;

-- name: NotTenant :exec
DELETE FROM login_failures WHERE email = @email;

-- name: UpsertOrgKey :one
INSERT INTO dicom_studies (org_id, uid) VALUES (@org_id, @uid)
ON CONFLICT (org_id, uid) DO UPDATE SET uid = EXCLUDED.uid RETURNING *;

-- name: UpsertOtherKey :one
INSERT INTO inbox_items (report_id, site_org_id) VALUES (@report_id, @site_org_id)
ON CONFLICT (report_id) DO UPDATE SET site_org_id = EXCLUDED.site_org_id RETURNING *;

-- name: InsertMany :exec
INSERT INTO audit_reads (chain, object_id) SELECT unnest(@chains::text[]), unnest(@ids::text[]);

-- name: InsertSelect :exec
INSERT INTO audit_reads (chain, object_id) SELECT chain, object_id FROM audit_reads WHERE id = @id;
`
		qs := parseQueries("planted.sql", src)
		require.Len(t, qs, 10)
		got := map[string]int{}
		for _, q := range qs {
			got[q.name] = len(problems(q))
		}
		require.Equal(t, map[string]int{"Good": 0, "Unscoped": 1, "NullMeansAll": 1, "Worker": 0, "Insert": 0,
			"NotTenant": 0, "UpsertOrgKey": 0, "UpsertOtherKey": 1, "InsertMany": 0, "InsertSelect": 1}, got)
	})

	t.Run("Queries", func(t *testing.T) {
		t.Parallel()
		var all []query
		for _, f := range queryFiles(t, root) {
			b, err := os.ReadFile(filepath.Join(root, f))
			require.NoError(t, err)
			qs := parseQueries(f, string(b))
			require.NotEmpty(t, qs, "%s has no -- name: queries", f)
			all = append(all, qs...)
		}
		names := map[string]bool{}
		for _, q := range all {
			names[q.name] = true
			for _, p := range problems(q) {
				t.Errorf("%s: %s %s", q.file, q.name, p)
			}
		}
		for name, reason := range scopeAllowed {
			require.NotEmpty(t, reason, "scopeAllowed[%s] needs a reason", name)
			require.True(t, names[name], "scopeAllowed names %s, which no query file has", name)
		}
		// Known queries are seen and classified.
		require.True(t, names["OrgGet"] && names["DeliveryLockVisible"], "identity or delivery queries not read")
	})
}
