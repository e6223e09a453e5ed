package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
	"github.com/teleread/teleread/internal/dicomweb"
	"github.com/teleread/teleread/internal/httpapi"
	"github.com/teleread/teleread/internal/web"
	"github.com/teleread/teleread/internal/web/viewer"
)

var (
	specOnce   sync.Once
	specDoc    *openapi3.T
	specRouter routers.Router
	specErr    error
)

// spec loads and validates api/openapi.yaml once per test binary.
func spec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		specDoc, specErr = loader.LoadFromData(api.OpenAPI)
		if specErr != nil {
			return
		}
		if specErr = specDoc.Validate(context.Background()); specErr != nil {
			return
		}
		specRouter, specErr = gorillamux.NewRouter(specDoc)
	})
	require.NoError(t, specErr, "api/openapi.yaml")
	return specDoc, specRouter
}

// TestEveryRouteIsInTheSpec holds the router and the contract to each
// other: every registered REST route has an operation in api/openapi.yaml,
// and every operation in the spec is served.
func TestEveryRouteIsInTheSpec(t *testing.T) {
	t.Parallel()
	doc, _ := spec(t)
	engine := httpapi.New(httpapi.Deps{Logger: nil, Registry: prometheus.NewRegistry()})
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		if strings.HasPrefix(r.Path, dicomweb.Prefix+"/") {
			continue // DICOMweb is PS3.18's contract, stated in docs/dicomweb.md
		}
		if web.Serves(r.Method, r.Path) {
			continue // the web pages are no part of the REST contract
		}
		if strings.HasPrefix(r.Path, viewer.Prefix+"/") {
			continue // the OHIF viewer's files (docs/operations.md, "Viewer")
		}
		path := openapiPath(r.Path)
		served[r.Method+" "+path] = true
		item := doc.Paths.Find(path)
		require.NotNil(t, item, "route %s %s is not in api/openapi.yaml", r.Method, r.Path)
		require.NotNil(t, item.GetOperation(r.Method), "route %s %s has no %s operation in api/openapi.yaml", r.Method, r.Path, r.Method)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			require.True(t, served[method+" "+path], "api/openapi.yaml documents %s %s, which is not served", method, path)
		}
	}
}

// openapiPath turns gin's /cases/:id into OpenAPI's /cases/{id}.
func openapiPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// validateResponse checks an answer the tests received against the spec.
// Routes not in the spec fail TestEveryRouteIsInTheSpec instead.
func validateResponse(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	_, router := spec(t)
	u := *req.URL
	u.Scheme, u.Host = "", ""
	r2 := req.Clone(context.Background())
	r2.URL = &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	route, params, err := router.FindRoute(r2)
	if err != nil {
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s answered %d, which does not match api/openapi.yaml: %v\nbody: %.500s",
			req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}
