package client

import (
	"net/url"
	"strings"

	"github.com/teleread/teleread/api"
)

// op is an operation of api/openapi.yaml the client calls: its method,
// path template, success status and the wire type of its answer (nil for
// none). TestRoutesMatchTheSpec holds every op to the spec.
type op struct {
	Method, Path string
	Status       int
	Answer       any
	// Also is another success status (PUT of a report: 201 new, 200 saved).
	Also int
}

func (o op) ok(status int) bool { return status == o.Status || (o.Also != 0 && status == o.Also) }

// fill puts the path parameters, in order, into the template.
func (o op) fill(args ...string) string {
	parts := strings.Split(o.Path, "/")
	i := 0
	for j, s := range parts {
		if strings.HasPrefix(s, "{") && i < len(args) {
			parts[j] = url.PathEscape(args[i])
			i++
		}
	}
	return strings.Join(parts, "/")
}

// The operations, one per method of Client.
var (
	opMe               = op{"GET", "/api/v1/me", 200, api.Me{}, 0}
	opListOrgs         = op{"GET", "/api/v1/orgs", 200, api.List[api.Org]{}, 0}
	opCreateCase       = op{"POST", "/api/v1/cases", 201, api.Case{}, 0}
	opListCases        = op{"GET", "/api/v1/cases", 200, api.CasePage{}, 0}
	opGetCase          = op{"GET", "/api/v1/cases/{id}", 200, api.Case{}, 0}
	opSubmitCase       = op{"POST", "/api/v1/cases/{id}/submit", 200, api.Case{}, 0}
	opCaseEvents       = op{"GET", "/api/v1/cases/{id}/events", 200, api.List[api.CaseEvent]{}, 0}
	opUploadFiles      = op{"POST", "/api/v1/cases/{id}/files", 201, api.UploadAnswer{}, 0}
	opListFiles        = op{"GET", "/api/v1/cases/{id}/files", 200, api.List[api.File]{}, 0}
	opLookupFiles      = op{"POST", "/api/v1/cases/{id}/files/lookup", 200, api.LookupAnswer{}, 0}
	opListStudies      = op{"GET", "/api/v1/cases/{id}/studies", 200, api.List[api.Study]{}, 0}
	opGetFile          = op{"GET", "/api/v1/files/{id}", 200, api.File{}, 0}
	opCreateUpload     = op{"POST", "/api/v1/cases/{id}/uploads", 201, api.Upload{}, 0}
	opGetUpload        = op{"GET", "/api/v1/cases/{id}/uploads/{upload_id}", 200, api.Upload{}, 0}
	opCompleteUpload   = op{"POST", "/api/v1/cases/{id}/uploads/{upload_id}/complete", 201, api.UploadAnswer{}, 0}
	opWorklist         = op{"GET", "/api/v1/worklist", 200, api.WorklistPage{}, 0}
	opClaim            = op{"POST", "/api/v1/cases/{id}/claim", 200, api.Case{}, 0}
	opRequestInfo      = op{"POST", "/api/v1/cases/{id}/request-info", 200, api.Case{}, 0}
	opSaveReport       = op{"PUT", "/api/v1/cases/{id}/report", 201, api.Report{}, 200}
	opSignReport       = op{"POST", "/api/v1/cases/{id}/report/sign", 200, api.Report{}, 0}
	opGetReport        = op{"GET", "/api/v1/reports/{id}", 200, api.Report{}, 0}
	opInbox            = op{"GET", "/api/v1/inbox", 200, api.List[api.InboxItem]{}, 0}
	opAcknowledge      = op{"POST", "/api/v1/reports/{id}/acknowledge", 200, api.Acknowledgement{}, 0}
	opCreateRoutingRul = op{"POST", "/api/v1/routing-rules", 201, api.RoutingRule{}, 0}
	opCreateWebhook    = op{"POST", "/api/v1/webhooks", 201, api.Webhook{}, 0}
)

// ops lists every operation, for TestRoutesMatchTheSpec.
var ops = []op{opMe, opListOrgs, opCreateCase, opListCases, opGetCase, opSubmitCase, opCaseEvents, opUploadFiles,
	opListFiles, opLookupFiles, opListStudies, opGetFile, opCreateUpload, opGetUpload, opCompleteUpload, opWorklist,
	opClaim, opRequestInfo, opSaveReport, opSignReport, opGetReport, opInbox, opAcknowledge, opCreateRoutingRul,
	opCreateWebhook}
