package uploader_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/app"
	"github.com/teleread/teleread/internal/identity"
)

// TestNewDermatologyCaseWithPhotos creates a case from the flags, sends a
// photo with its body site (and skips a text file), and submits.
func TestNewDermatologyCaseWithPhotos(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	photo, err := os.ReadFile(filepath.Join("..", "intake", "testdata", "retina.jpg"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lesion.jpg"), photo, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("itchy"), 0o644))
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(b.token+"\n"), 0o600))

	var out, errOut bytes.Buffer
	err = app.Run(context.Background(), []string{"upload", "--server", b.srv.URL, "--token-file", tokenFile,
		"--new-case", "--specialty", "dermatology", "--priority", "urgent",
		"--referring", b.site.Users[identity.RoleReferringPhysician].ID.String(), "--patient-name", "Jane Doe",
		"--patient-mrn", "MRN-7", "--patient-birth-date", "1970-02-03", "--patient-sex", "F",
		"--question", "Melanoma?", "--body-site", "left forearm", "--json", "--submit", "--state-dir", t.TempDir(), dir},
		func(string) string { return "" }, &out, &errOut, "test")
	require.NoError(t, err, "%s%s", out.String(), errOut.String())
	var caseID uuid.UUID
	events := map[string]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		events[e["event"].(string)]++
		id, err := uuid.Parse(e["case_id"].(string))
		require.NoError(t, err, sc.Text())
		caseID = id
	}
	require.Equal(t, map[string]int{"started": 1, "sent": 1, "skipped": 1, "summary": 1}, events)
	cs, err := b.client.Case(context.Background(), caseID)
	require.NoError(t, err)
	require.Equal(t, "dermatology", cs.Specialty)
	require.Equal(t, "submitted", cs.Status)
	files, err := b.client.Files(context.Background(), caseID)
	require.NoError(t, err)
	require.Len(t, files, 1)
	require.Equal(t, "photo", files[0].Kind)
	require.NotNil(t, files[0].BodySite)
	require.Equal(t, "left forearm", *files[0].BodySite)
}
