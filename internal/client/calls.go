package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/teleread/teleread/api"
)

// Me returns who the token belongs to.
func (c *Client) Me(ctx context.Context) (api.Me, error) {
	var out api.Me
	return out, c.call(ctx, opMe, nil, nil, nil, &out, nil)
}

// ListOrgs returns the organisations the caller may see, of one kind ("" for all).
func (c *Client) ListOrgs(ctx context.Context, kind string) ([]api.Org, error) {
	var out api.List[api.Org]
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	return out.Items, c.call(ctx, opListOrgs, nil, q, nil, &out, nil)
}

// CreateCase opens a draft case. Its attempts share one Idempotency-Key,
// so that a retry after a lost answer gets the case the first attempt
// opened, not a second one.
func (c *Client) CreateCase(ctx context.Context, in api.CreateCaseRequest) (api.Case, error) {
	var out api.Case
	return out, c.call(ctx, opCreateCase, nil, nil, in, &out, idempotency(""))
}

// ListCases returns a page of the cases the caller may see, newest first;
// q may hold status, specialty, cursor and limit.
func (c *Client) ListCases(ctx context.Context, q url.Values) (api.CasePage, error) {
	var out api.CasePage
	return out, c.call(ctx, opListCases, nil, q, nil, &out, nil)
}

// Case returns one case.
func (c *Client) Case(ctx context.Context, id uuid.UUID) (api.Case, error) {
	var out api.Case
	return out, c.call(ctx, opGetCase, []string{id.String()}, nil, nil, &out, nil)
}

// SubmitCase sends a draft (or a case sent back for more information) to be read.
func (c *Client) SubmitCase(ctx context.Context, id uuid.UUID) (api.Case, error) {
	var out api.Case
	return out, c.call(ctx, opSubmitCase, []string{id.String()}, nil, nil, &out, nil)
}

// CaseEvents returns the timeline of a case.
func (c *Client) CaseEvents(ctx context.Context, id uuid.UUID) ([]api.CaseEvent, error) {
	var out api.List[api.CaseEvent]
	return out.Items, c.call(ctx, opCaseEvents, []string{id.String()}, nil, nil, &out, nil)
}

// FileOptions describe one file sent with UploadFile.
type FileOptions struct {
	// ContentType is application/dicom, image/jpeg, image/png or
	// image/webp (the server decides from the bytes anyway).
	ContentType string
	// BodySite and Dermoscopic describe a photo.
	BodySite    string
	Dermoscopic *bool
	// IdempotencyKey is sent with every attempt; "" makes a fresh one.
	IdempotencyKey string
}

// UploadFile sends one file as the raw body of POST .../files, streamed
// from body (re-opened for each attempt). A file the server refuses is an
// *Error with Status 422 whose Files carry the reason.
func (c *Client) UploadFile(ctx context.Context, caseID uuid.UUID, filename string, body Body, o FileOptions) (api.UploadAnswer, error) {
	q := url.Values{"filename": {filename}}
	if o.BodySite != "" {
		q.Set("body_site", o.BodySite)
	}
	if o.Dermoscopic != nil {
		q.Set("dermoscopic", strconv.FormatBool(*o.Dermoscopic))
	}
	if o.ContentType != "" {
		body.ContentType = o.ContentType
	}
	if body.ContentType == "" {
		body.ContentType = "application/dicom"
	}
	r := request{op: opUploadFiles, path: opUploadFiles.fill(caseID.String()), query: q, body: &body,
		header: idempotency(o.IdempotencyKey)}
	resp, err := c.send(ctx, r)
	if err != nil {
		return api.UploadAnswer{}, fmt.Errorf("upload %s: %w", filename, err)
	}
	var out api.UploadAnswer
	return out, decode(resp, &out)
}

// Files returns the files of a case.
func (c *Client) Files(ctx context.Context, caseID uuid.UUID) ([]api.File, error) {
	var out api.List[api.File]
	return out.Items, c.call(ctx, opListFiles, []string{caseID.String()}, nil, nil, &out, nil)
}

// Studies returns the DICOM studies of a case.
func (c *Client) Studies(ctx context.Context, caseID uuid.UUID) ([]api.Study, error) {
	var out api.List[api.Study]
	return out.Items, c.call(ctx, opListStudies, []string{caseID.String()}, nil, nil, &out, nil)
}

// File returns one file's metadata.
func (c *Client) File(ctx context.Context, id uuid.UUID) (api.File, error) {
	var out api.File
	return out, c.call(ctx, opGetFile, []string{id.String()}, nil, nil, &out, nil)
}

// Lookup asks which of the SHA-256 values (at most api.MaxLookup) the case
// already holds.
func (c *Client) Lookup(ctx context.Context, caseID uuid.UUID, sums []string) (api.LookupAnswer, error) {
	var out api.LookupAnswer
	return out, c.call(ctx, opLookupFiles, []string{caseID.String()}, nil, api.LookupRequest{SHA256: sums}, &out, nil)
}

// CreateUpload opens a presigned upload; key is its Idempotency-Key ("" for a fresh one).
func (c *Client) CreateUpload(ctx context.Context, caseID uuid.UUID, in api.CreateUploadRequest, key string) (api.Upload, error) {
	var out api.Upload
	return out, c.call(ctx, opCreateUpload, []string{caseID.String()}, nil, in, &out, idempotency(key))
}

// Upload returns a presigned upload: the parts that arrived, and fresh
// URLs for the missing ones (to resume).
func (c *Client) Upload(ctx context.Context, caseID, uploadID uuid.UUID) (api.Upload, error) {
	var out api.Upload
	return out, c.call(ctx, opGetUpload, []string{caseID.String(), uploadID.String()}, nil, nil, &out, nil)
}

// CompleteUpload joins an arrived presigned upload to its case. A file the
// server refuses is an *Error with Status 422 whose Files carry the reason.
func (c *Client) CompleteUpload(ctx context.Context, caseID, uploadID uuid.UUID) (api.UploadAnswer, error) {
	var out api.UploadAnswer
	return out, c.call(ctx, opCompleteUpload, []string{caseID.String(), uploadID.String()}, nil, nil, &out,
		idempotency(""))
}

// PutPresigned sends bytes to a presigned URL (a single-PUT upload or one
// part) and returns the ETag object storage answered.
func (c *Client) PutPresigned(ctx context.Context, rawURL string, body Body) (string, error) {
	body.ContentType = ""
	resp, err := c.send(ctx, request{op: op{Method: http.MethodPut, Status: http.StatusOK}, rawURL: rawURL, body: &body})
	if err != nil {
		return "", fmt.Errorf("PUT presigned: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("ETag"), nil
}

// Worklist returns the caller's worklist; q may hold the filters of the
// spec (specialty, priority, modality, status, overdue, mine, cursor, limit).
func (c *Client) Worklist(ctx context.Context, q url.Values) (api.WorklistPage, error) {
	var out api.WorklistPage
	return out, c.call(ctx, opWorklist, nil, q, nil, &out, nil)
}

// Claim takes a routed case for reading.
func (c *Client) Claim(ctx context.Context, id uuid.UUID) (api.Case, error) {
	var out api.Case
	return out, c.call(ctx, opClaim, []string{id.String()}, nil, nil, &out, nil)
}

// RequestInfo sends a claimed case back to the site with a question.
func (c *Client) RequestInfo(ctx context.Context, id uuid.UUID, message string) (api.Case, error) {
	var out api.Case
	return out, c.call(ctx, opRequestInfo, []string{id.String()}, nil, api.RequestInfoRequest{Message: message}, &out, nil)
}

// SaveReport creates or replaces the draft report of a case.
func (c *Client) SaveReport(ctx context.Context, caseID uuid.UUID, in api.ReportDraftRequest) (api.Report, error) {
	var out api.Report
	return out, c.call(ctx, opSaveReport, []string{caseID.String()}, nil, in, &out, nil)
}

// SignReport signs the draft report of a case.
func (c *Client) SignReport(ctx context.Context, caseID uuid.UUID) (api.Report, error) {
	var out api.Report
	return out, c.call(ctx, opSignReport, []string{caseID.String()}, nil, nil, &out, nil)
}

// Report returns one report.
func (c *Client) Report(ctx context.Context, id uuid.UUID) (api.Report, error) {
	var out api.Report
	return out, c.call(ctx, opGetReport, []string{id.String()}, nil, nil, &out, nil)
}

// Inbox returns the reports delivered to the caller, newest first.
func (c *Client) Inbox(ctx context.Context) ([]api.InboxItem, error) {
	var out api.List[api.InboxItem]
	return out.Items, c.call(ctx, opInbox, nil, nil, nil, &out, nil)
}

// Acknowledge records that the referring physician read a report.
func (c *Client) Acknowledge(ctx context.Context, reportID uuid.UUID) (api.Acknowledgement, error) {
	var out api.Acknowledgement
	return out, c.call(ctx, opAcknowledge, []string{reportID.String()}, nil, nil, &out, nil)
}

// CreateRoutingRule adds a routing rule (platform admins).
func (c *Client) CreateRoutingRule(ctx context.Context, in api.CreateRoutingRuleRequest) (api.RoutingRule, error) {
	var out api.RoutingRule
	return out, c.call(ctx, opCreateRoutingRul, nil, nil, in, &out, nil)
}

// CreateWebhook adds a webhook of the caller's site; the answer carries its secret once.
func (c *Client) CreateWebhook(ctx context.Context, in api.CreateWebhookRequest) (api.Webhook, error) {
	var out api.Webhook
	return out, c.call(ctx, opCreateWebhook, nil, nil, in, &out, nil)
}
