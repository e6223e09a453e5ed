package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/identity"
)

// TestCreateCaseIdempotency: POST /api/v1/cases with an Idempotency-Key
// opens one case however often it is retried (the clinical-loop drill
// found a second draft when a server died between committing a case and
// answering); the answer is stored with the case, so that is so even
// then. A refused request does not use its key up; the key sent with
// another body is refused; without a key each request is a new case.
func TestCreateCaseIdempotency(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	newCase := func(question string) map[string]any {
		return map[string]any{
			"referring_physician_id": b.siteA.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
			"priority": "routine", "clinical_question": question,
			"patient": map[string]any{"name": "Archibald Doe", "birth_date": "1950-01-01", "sex": "M", "mrn": "77654033"},
		}
	}
	cases := func() int { return b.count(t, "SELECT count(*) FROM cases WHERE site_org_id = $1", b.siteA.Org.ID) }
	key := map[string]string{"Idempotency-Key": "case-" + uuid.NewString()}

	resp, first := b.callWith(t, http.MethodPost, "/api/v1/cases", b.staffA, newCase("Fracture?"), key)
	require.Equal(t, http.StatusCreated, resp.StatusCode, first)
	require.Equal(t, "/api/v1/cases/"+first["id"].(string), resp.Header.Get("Location"))
	require.Empty(t, resp.Header.Get("Idempotent-Replayed"))
	var stored *int32
	require.NoError(t, b.env.Pool.QueryRow(t.Context(), `SELECT status_code FROM idempotency_keys WHERE org_id = $1 AND key = $2`,
		b.siteA.Org.ID, key["Idempotency-Key"]).Scan(&stored))
	require.NotNil(t, stored)
	require.EqualValues(t, http.StatusCreated, *stored)

	resp, again := b.callWith(t, http.MethodPost, "/api/v1/cases", b.staffA, newCase("Fracture?"), key)
	require.Equal(t, http.StatusCreated, resp.StatusCode, again)
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first, again, "the first answer is replayed")
	require.Equal(t, 1, cases())
	require.Equal(t, 1, b.count(t, "SELECT count(*) FROM audit_events WHERE action = 'case.create'"))

	resp, other := b.callWith(t, http.MethodPost, "/api/v1/cases", b.staffA, newCase("Something else?"), key)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, other)
	require.Contains(t, other["detail"], "Idempotency-Key")
	require.Equal(t, 1, cases())

	// The key is the organisation's: another site's request with it is its own.
	resp, body := b.callWith(t, http.MethodPost, "/api/v1/cases", b.staffB, map[string]any{
		"referring_physician_id": b.siteB.Users[identity.RoleReferringPhysician].ID, "specialty": "radiology",
		"priority": "routine", "clinical_question": "Fracture?",
		"patient": map[string]any{"name": "Bea Doe", "birth_date": "1960-01-01", "sex": "F", "mrn": "1"},
	}, key)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.Empty(t, resp.Header.Get("Idempotent-Replayed"))
	require.NotEqual(t, first["id"], body["id"])

	// Refused (400): the key stays free for the corrected request.
	bad := map[string]string{"Idempotency-Key": "case-" + uuid.NewString()}
	invalid := newCase("Fracture?")
	invalid["specialty"] = "cardiology"
	resp, body = b.callWith(t, http.MethodPost, "/api/v1/cases", b.staffA, invalid, bad)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	resp, body = b.callWith(t, http.MethodPost, "/api/v1/cases", b.staffA, newCase("Fracture?"), bad)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.Equal(t, 2, cases())

	// Without a key, each request opens a case.
	for range 2 {
		resp, body = b.callWith(t, http.MethodPost, "/api/v1/cases", b.staffA, newCase("Fracture?"), nil)
		require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	}
	require.Equal(t, 4, cases())
}
