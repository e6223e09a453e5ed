package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFilesLookup(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	caseID := b.newCase(t)
	ct := testfile(t, "CT_small.dcm")
	resp, body := b.upload(t, b.staffA, caseID, nil, filePart("ct.dcm", ct))
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	fileID := results(t, body)["ct.dcm"]["file"].(map[string]any)["id"]
	path := "/api/v1/cases/" + caseID + "/files/lookup"
	absent := strings.Repeat("ab", 32)

	t.Run("HeldAndMissing", func(t *testing.T) {
		resp, got := b.call(t, http.MethodPost, path, b.gpA, map[string]any{
			"sha256": []string{strings.ToUpper(sha256hex(ct)), absent, absent}})
		require.Equal(t, http.StatusOK, resp.StatusCode, got)
		require.Equal(t, []any{map[string]any{"sha256": sha256hex(ct), "file_id": fileID}}, got["held"])
		require.Equal(t, []any{absent}, got["missing"])
	})
	t.Run("OtherTenantIsNotFound", func(t *testing.T) {
		resp, got := b.call(t, http.MethodPost, path, b.staffB, map[string]any{"sha256": []string{sha256hex(ct)}})
		require.Equal(t, http.StatusNotFound, resp.StatusCode, got)
	})
	t.Run("AdminIsForbidden", func(t *testing.T) {
		resp, got := b.call(t, http.MethodPost, path, b.siteA.Tokens["org_admin"], map[string]any{"sha256": []string{absent}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, got)
	})
	t.Run("Invalid", func(t *testing.T) {
		for name, v := range map[string]any{"empty": []string{}, "notHex": []string{"xyz"},
			"tooMany": make([]string, 1001)} {
			resp, got := b.call(t, http.MethodPost, path, b.staffA, map[string]any{"sha256": v})
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %v", name, got)
		}
	})
}
