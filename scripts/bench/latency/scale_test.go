package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// squash collapses whitespace, to compare SQL text.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestWorklistSQLInStep fails when the worklist's query in
// internal/worklist changes and the copy here does not.
func TestWorklistSQLInStep(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "internal", "worklist", "worklist.go"))
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)sql := `(SELECT c\\.id.*?WHERE )` \\+").FindSubmatch(src)
	require.NotNil(t, m, "the page query of worklist.List")
	sql, _, _ := worklistSQL("g", variants[0])
	require.True(t, strings.HasPrefix(squash(sql), squash(string(m[1]))), "worklistSQL's SELECT differs from worklist.List's")
	for _, frag := range []string{
		`"c.reading_group_id = $1", "c.status IN ('routed', 'in_review')"`,
		`add("c.priority = ?", *q.Priority)`,
		`WHERE st.case_id = c.id AND ds.modality = ?)`,
		`"c.due_at < now()"`,
		`ORDER BY c.priority_rank, c.due_at, c.id LIMIT $%d`,
		`q.Limit = 50`,
	} {
		require.Contains(t, squash(string(src)), squash(frag))
	}

	queries, err := os.ReadFile(filepath.Join("..", "..", "..", "internal", "worklist", "worklist.sql"))
	require.NoError(t, err)
	counts := strings.ReplaceAll(squash(countsSQL), "$1", "@reading_group_id")
	require.Contains(t, squash(string(queries)), counts)
}

func TestWorklistSQLArgs(t *testing.T) {
	t.Parallel()
	for _, v := range variants {
		sql, args, types := worklistSQL("g", v)
		require.Len(t, types, len(args), v.Name)
		for i := range args {
			require.Contains(t, sql, "$"+string(rune('1'+i)), v.Name)
		}
		require.NotContains(t, sql, "$"+string(rune('1'+len(args))), v.Name)
	}
}
