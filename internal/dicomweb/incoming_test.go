package dicomweb_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
)

// TestSiteWideStow pushes a study to /dicomweb/studies as a PACS would
// (no case named), finds it in GET /api/v1/incoming-studies, opens a case
// from it with incoming_study_ids, and retrieves it from that case by
// WADO-RS; pushing it again is a no-op, and another site sees none of it.
func TestSiteWideStow(t *testing.T) {
	t.Parallel()
	b := newAuthzBed(t)
	staff := b.siteA.Tokens[identity.RoleSiteStaff]
	push := func() map[string]json.RawMessage {
		body, ct := stowBody(t, studyFiles...)
		resp, raw := b.do(t, http.MethodPost, "/dicomweb/studies", staff, body, ct)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		var ans map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &ans))
		require.Contains(t, ans, "00081199")
		require.NotContains(t, ans, "00081190", "an incoming study is not retrievable until it is a case's")
		return ans
	}
	push()

	list := func(token string) []map[string]any {
		resp, raw := b.do(t, http.MethodGet, "/api/v1/incoming-studies", token, nil, "")
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		var out struct{ Items []map[string]any }
		require.NoError(t, json.Unmarshal(raw, &out))
		return out.Items
	}
	items := list(staff)
	require.Len(t, items, 1)
	require.Equal(t, "77654033", items[0]["patient_id"])
	require.EqualValues(t, len(studyFiles), items[0]["instances"])
	require.Equal(t, []any{"CR"}, items[0]["modalities"])
	require.Empty(t, list(b.siteB.Tokens[identity.RoleSiteStaff]), "another site sees none of it")
	studyID := items[0]["id"].(string)

	// Not yet retrievable: it is no case's.
	uid := items[0]["study_instance_uid"].(string)
	resp, _ := b.do(t, http.MethodGet, "/dicomweb/studies/"+uid, staff, nil, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Another site cannot make a case of it.
	js, _ := json.Marshal(map[string]any{"incoming_study_ids": []string{studyID}})
	resp, raw := b.do(t, http.MethodPost, "/api/v1/cases/"+b.newCase(t, b.siteB)+"/incoming-studies",
		b.siteB.Tokens[identity.RoleSiteStaff], bytes.NewReader(js), "application/json")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, string(raw))

	// A case made of it.
	js, _ = json.Marshal(map[string]any{
		"referring_physician_id": b.siteA.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
		"priority": "routine", "clinical_question": "Fracture?", "incoming_study_ids": []string{studyID},
		"patient": map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
	})
	resp, raw = b.do(t, http.MethodPost, "/api/v1/cases", staff, bytes.NewReader(js), "application/json")
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))
	var cs map[string]any
	require.NoError(t, json.Unmarshal(raw, &cs))
	caseID := cs["id"].(string)
	require.Empty(t, list(staff), "the study left the incoming list")

	resp, raw = b.do(t, http.MethodGet, "/dicomweb/cases/"+caseID+"/studies/"+uid, staff, nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
	resp, raw = b.do(t, http.MethodGet, "/api/v1/cases/"+caseID+"/files", staff, nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var files struct{ Items []any }
	require.NoError(t, json.Unmarshal(raw, &files))
	require.Len(t, files.Items, len(studyFiles))

	// Pushed again site-wide: a no-op, not a new copy.
	push()
	require.Empty(t, list(staff))
	resp, raw = b.do(t, http.MethodGet, "/api/v1/cases/"+caseID+"/files", staff, nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.Unmarshal(raw, &files))
	require.Len(t, files.Items, len(studyFiles))

	// An unknown incoming study makes no case.
	js, _ = json.Marshal(map[string]any{
		"referring_physician_id": b.siteA.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
		"priority": "routine", "clinical_question": "?", "incoming_study_ids": []string{studyID},
		"patient": map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
	})
	resp, raw = b.do(t, http.MethodPost, "/api/v1/cases", staff, bytes.NewReader(js), "application/json")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "an attached study is no longer incoming: %s", raw)
}
