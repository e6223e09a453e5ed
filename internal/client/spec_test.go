package client

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/api"
)

// TestRoutesMatchTheSpec holds the client to api/openapi.yaml: every
// operation it calls is in the spec with the method, path and success
// status it expects, and every member of the answer it decodes is a
// property of the answer's schema (recursively), so the two cannot drift.
func TestRoutesMatchTheSpec(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	for _, o := range ops {
		name := o.Method + " " + o.Path
		item := doc.Paths.Find(o.Path)
		require.NotNil(t, item, "%s: no such path in api/openapi.yaml", name)
		spec := item.GetOperation(o.Method)
		require.NotNil(t, spec, "%s: no such operation in api/openapi.yaml", name)
		for _, status := range []int{o.Status, o.Also} {
			if status == 0 {
				continue
			}
			resp := spec.Responses.Status(status)
			require.NotNil(t, resp, "%s: the spec answers no %d", name, status)
			if o.Answer == nil {
				continue
			}
			mt := resp.Value.Content.Get("application/json")
			require.True(t, mt != nil && mt.Schema != nil, "%s %d: no application/json answer in the spec", name, status)
			compareFields(t, name, reflect.TypeOf(o.Answer), mt.Schema.Value)
		}
	}
}

var opaque = map[reflect.Type]bool{reflect.TypeOf(time.Time{}): true, reflect.TypeOf(uuid.UUID{}): true,
	reflect.TypeOf(json.RawMessage{}): true}

// compareFields checks that every JSON member of t is a property of s.
func compareFields(t *testing.T, where string, typ reflect.Type, s *openapi3.Schema) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if opaque[typ] || s == nil {
		return
	}
	switch typ.Kind() {
	case reflect.Slice, reflect.Array:
		if s.Items != nil {
			compareFields(t, where+"[]", typ.Elem(), s.Items.Value)
		}
	case reflect.Map:
		if s.AdditionalProperties.Schema != nil {
			compareFields(t, where+"{}", typ.Elem(), s.AdditionalProperties.Schema.Value)
		}
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			prop, ok := s.Properties[name]
			if !ok && len(s.AllOf) > 0 {
				for _, sub := range s.AllOf {
					if p, found := sub.Value.Properties[name]; found {
						prop, ok = p, true
					}
				}
			}
			require.True(t, ok, "%s: the client decodes %q, which the schema does not have", where, name)
			compareFields(t, where+"."+name, f.Type, prop.Value)
		}
	}
}

func TestFill(t *testing.T) {
	t.Parallel()
	require.Equal(t, "/api/v1/cases/a/uploads/b%2Fc", opGetUpload.fill("a", "b/c"))
}
