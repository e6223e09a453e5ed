package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/apperr"
)

// reportDraftSeeds are report draft bodies as the tests and the web editor
// send them, and broken ones.
var reportDraftSeeds = []string{
	`{"findings":"Asymmetric macule, 8 mm, irregular border, blue-white veil.","impression":"Melanoma?",` +
		`"recommendations":"Excision biopsy within 2 weeks.","follow_up_interval":"P3M","critical":true,"diagnoses":[` +
		`{"text":"Suspected melanoma of trunk","system":"ICD-10","code":"C43.5"},` +
		`{"text":"Malignant melanoma","system":"SNOMED-CT","code":"372244006"},` +
		`{"text":"Seborrhoeic keratoses nearby","system":"","code":""}]}`,
	`{"findings":"f","diagnoses":[{"text":"x","system":"ICD-10","code":"melanoma"}]}`,
	`{}`, ``, `null`, `[]`, `{"findings":1}`, `{"findngs":"typo"}`, `{"critical":"yes"}`, `{"a":1}{"b":2}`,
	`{"findings":"\ud800"}`, `{"diagnoses":[null,{}]}`, `{"findings":"` + string(bytes.Repeat([]byte("x"), 2000)) + `"}`,
}

// FuzzBindReportDraft binds arbitrary bodies as PUT /cases/{id}/report
// does, under a 1 KiB body limit. A refusal must be an apperr of a code the
// mapper answers with a 4xx (invalid, too large, unsupported) and a
// message; an accepted body must survive a round trip through JSON
// unchanged, so what is saved is what was sent.
func FuzzBindReportDraft(f *testing.F) {
	for _, s := range reportDraftSeeds {
		f.Add("application/json", []byte(s))
	}
	f.Add("application/merge-patch+json; charset=utf-8", []byte(reportDraftSeeds[0]))
	f.Add("text/plain", []byte(`{}`))
	gin.SetMode(gin.TestMode)
	const limit = 1 << 10
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req, err := bindDraft(contentType, body, limit)
		if err != nil {
			e, ok := apperr.As(err)
			if !ok || e.Message == "" {
				t.Fatalf("refusal is not an apperr with a message: %v", err)
			}
			switch e.Code {
			case apperr.Invalid, apperr.TooLarge, apperr.Unsupported:
			default:
				t.Fatalf("refusal with code %s: %v", e.Code, err)
			}
			if e.Code == apperr.TooLarge && len(body) <= limit {
				t.Fatalf("%d bytes called too large", len(body))
			}
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := bindDraft("application/json", again, int64(len(again)))
		if err != nil {
			t.Fatalf("re-encoded draft %s refused: %v", again, err)
		}
		if !reflect.DeepEqual(req, back) {
			t.Fatalf("round trip changed the draft:\n%+v\n%+v", req, back)
		}
	})
}

// bindDraft runs bindJSON on body behind a MaxBytesReader, as the router's
// body limit does.
func bindDraft(contentType string, body []byte, limit int64) (api.ReportDraftRequest, error) {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodPut, "/api/v1/cases/x/report", bytes.NewReader(body))
	c.Request.Header.Set("Content-Type", contentType)
	c.Request.Body = http.MaxBytesReader(w, c.Request.Body, limit)
	var req api.ReportDraftRequest
	err := bindJSON(c, &req)
	return req, err
}
