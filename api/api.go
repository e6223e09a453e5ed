// Package api holds Teleread's REST contract, api/openapi.yaml, embedded so
// the server can serve it and the tests can hold the router to it.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3 document of the REST API.
//
//go:embed openapi.yaml
var OpenAPI []byte
