//go:build faults

package faults_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
)

// receiver is a site's EHR: a real HTTP server that checks signatures and
// counts deliveries by their delivery id. While down it answers 503.
type receiver struct {
	mu     sync.Mutex
	secret string
	down   bool
	// got counts accepted deliveries per Teleread-Delivery id; refused
	// counts the requests answered while down.
	got     map[string]int
	refused int
	bad     int
}

func newReceiver(t *testing.T) (*receiver, string) {
	r := &receiver{got: map[string]int{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/ehr"
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		r.refused++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(req.Header.Get("Teleread-Timestamp") + "." + string(body)))
	if !hmac.Equal([]byte("v1="+hex.EncodeToString(mac.Sum(nil))), []byte(req.Header.Get("Teleread-Signature"))) {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.got[req.Header.Get("Teleread-Delivery")]++
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setDown(v bool) {
	r.mu.Lock()
	r.down = v
	r.mu.Unlock()
}

// counts returns a copy of the deliveries per id.
func (r *receiver) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// hook registers a webhook of the demo site pointing at url.
func (d *drill) hook(t *testing.T, base string, r *receiver, url string) {
	t.Helper()
	h, err := d.api(t, base, adminEmail).CreateWebhook(context.Background(), api.CreateWebhookRequest{URL: url})
	require.NoError(t, err)
	r.mu.Lock()
	r.secret = h.Secret
	r.mu.Unlock()
}

// signedCase drives a radiology case through the loop up to a signed
// report: upload, submit, routed, claimed, signed. It returns the case and
// the report.
func (d *drill) signedCase(t *testing.T, base string, critical bool) (uuid.UUID, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	caseID := d.newCase(t, base, critical)
	a := d.rawUpload(t, base, caseID, "study.dcm", dicom(64<<10))
	require.Equal(t, http.StatusCreated, a.status, a.String())
	staff, spec := d.api(t, base, staffEmail), d.api(t, base, radEmail)
	_, err := staff.SubmitCase(ctx, caseID)
	require.NoError(t, err)
	eventually(t, time.Minute, "routing", func() bool {
		c, err := staff.Case(ctx, caseID)
		return err == nil && c.Status == "routed"
	})
	_, err = spec.Claim(ctx, caseID)
	require.NoError(t, err)
	_, err = spec.SaveReport(ctx, caseID, api.ReportDraftRequest{Findings: "Undisplaced fracture of the distal radius.",
		Impression: "Distal radius fracture.", Critical: critical,
		Diagnoses: []api.Diagnosis{{Text: "Fracture of lower end of radius", System: "ICD-10", Code: "S52.5"}}})
	require.NoError(t, err)
	rep, err := spec.SignReport(ctx, caseID)
	require.NoError(t, err)
	return caseID, rep.ID
}
