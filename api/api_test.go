package api_test

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/teleread/teleread/api"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	return doc
}

// TestImports keeps package api a leaf every edge and client can import:
// the standard library and github.com/google/uuid only.
func TestImports(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(p, "/")
			if p != "github.com/google/uuid" && strings.Contains(first, ".") {
				t.Errorf("%s imports %s: package api may import only the standard library and github.com/google/uuid", f, p)
			}
		}
	}
}

// wire names each wire type after the schema of api/openapi.yaml it
// encodes: a component, or the request body ("") or answer (a status) of
// an operation.
var wire = []struct {
	schema       string // a component, or "METHOD path status"
	value        any
	noAdditional bool // every request body refuses unknown members
}{
	{schema: "FileWarning", value: api.Warning{}},
	{schema: "File", value: api.File{}},
	{schema: "FileResult", value: api.FileResult{}},
	{schema: "UploadAnswer", value: api.UploadAnswer{}},
	{schema: "UploadPart", value: api.UploadPart{}},
	{schema: "HeldFile", value: api.HeldFile{}},
	{schema: "LookupAnswer", value: api.LookupAnswer{}},
	{schema: "Upload", value: api.Upload{}},
	{schema: "Study", value: api.Study{}},
	{schema: "IncomingStudy", value: api.IncomingStudy{}},
	{schema: "Diagnosis", value: api.Diagnosis{}},
	{schema: "ReportDraft", value: api.ReportDraftRequest{}, noAdditional: true},
	{schema: "ReportSignature", value: api.Signature{}},
	{schema: "ReportAddendum", value: api.Addendum{}},
	{schema: "Report", value: api.Report{}},
	{schema: "Problem", value: api.Problem{}},
	{schema: "Readiness", value: api.Readiness{}},
	{schema: "Me", value: api.Me{}},
	{schema: "Org", value: api.Org{}},
	{schema: "User", value: api.User{}},
	{schema: "Token", value: api.Token{}},
	{schema: "AuditEvent", value: api.AuditEntry{}},
	{schema: "Patient", value: api.Patient{}},
	{schema: "Lesion", value: api.Lesion{}},
	{schema: "ManifestEntry", value: api.ManifestEntry{}},
	{schema: "Manifest", value: api.Manifest{}},
	{schema: "Case", value: api.Case{}},
	{schema: "CaseEvent", value: api.CaseEvent{}},
	{schema: "WorklistPage", value: api.WorklistPage{}},
	{schema: "RoutingRule", value: api.RoutingRule{}},
	{schema: "GroupSettings", value: api.GroupSettings{}, noAdditional: true},
	{schema: "InboxItem", value: api.InboxItem{}},
	{schema: "Acknowledgement", value: api.Acknowledgement{}},
	{schema: "Delivery", value: api.Delivery{}},
	{schema: "ReportDeliveries", value: api.ReportDeliveries{}},
	{schema: "Webhook", value: api.Webhook{}},
	{schema: "Escalation", value: api.Escalation{}},
	{schema: "Stats", value: api.Stats{}},

	{schema: "GET /healthz 200", value: api.Status{}},
	{schema: "POST /api/v1/cases/{id}/route 202", value: api.Status{}},
	{schema: "GET /api/v1/cases 200", value: api.CasePage{}},
	{schema: "GET /api/v1/audit 200", value: api.AuditPage{}},
	{schema: "GET /api/v1/orgs 200", value: api.List[api.Org]{}},
	{schema: "GET /api/v1/users 200", value: api.List[api.User]{}},
	{schema: "GET /api/v1/tokens 200", value: api.List[api.Token]{}},
	{schema: "GET /api/v1/cases/{id}/events 200", value: api.List[api.CaseEvent]{}},
	{schema: "GET /api/v1/unrouted 200", value: api.List[api.UnroutedCase]{}},
	{schema: "GET /api/v1/routing-rules 200", value: api.List[api.RoutingRule]{}},
	{schema: "GET /api/v1/cases/{id}/files 200", value: api.List[api.File]{}},
	{schema: "GET /api/v1/cases/{id}/studies 200", value: api.List[api.Study]{}},
	{schema: "GET /api/v1/inbox 200", value: api.List[api.InboxItem]{}},
	{schema: "GET /api/v1/webhooks 200", value: api.List[api.Webhook]{}},
	{schema: "GET /api/v1/deliveries/dead 200", value: api.List[api.Delivery]{}},
	{schema: "GET /api/v1/escalations 200", value: api.List[api.Escalation]{}},

	{schema: "POST /api/v1/auth/login", value: api.LoginRequest{}, noAdditional: true},
	{schema: "POST /api/v1/orgs", value: api.CreateOrgRequest{}, noAdditional: true},
	{schema: "POST /api/v1/users", value: api.CreateUserRequest{}, noAdditional: true},
	{schema: "PATCH /api/v1/users/{id}", value: api.UpdateUserRequest{}, noAdditional: true},
	{schema: "POST /api/v1/tokens", value: api.CreateTokenRequest{}, noAdditional: true},
	{schema: "POST /api/v1/cases", value: api.CreateCaseRequest{}, noAdditional: true},
	{schema: "PATCH /api/v1/cases/{id}", value: api.UpdateCaseRequest{}, noAdditional: true},
	{schema: "PUT /api/v1/cases/{id}/manifest", value: api.ManifestRequest{}, noAdditional: true},
	{schema: "POST /api/v1/cases/{id}/cancel", value: api.CancelRequest{}, noAdditional: true},
	{schema: "POST /api/v1/cases/{id}/reassign", value: api.ReassignRequest{}, noAdditional: true},
	{schema: "POST /api/v1/cases/{id}/request-info", value: api.RequestInfoRequest{}, noAdditional: true},
	{schema: "POST /api/v1/routing-rules", value: api.CreateRoutingRuleRequest{}, noAdditional: true},
	{schema: "PATCH /api/v1/routing-rules/{id}", value: api.UpdateRoutingRuleRequest{}, noAdditional: true},
	{schema: "PUT /api/v1/reading-groups/{id}/settings", value: api.GroupSettings{}, noAdditional: true},
	{schema: "POST /api/v1/cases/{id}/uploads", value: api.CreateUploadRequest{}, noAdditional: true},
	{schema: "POST /api/v1/cases/{id}/files/lookup", value: api.LookupRequest{}, noAdditional: true},
	{schema: "POST /api/v1/cases/{id}/incoming-studies", value: api.AttachIncomingRequest{}, noAdditional: true},
	{schema: "PUT /api/v1/cases/{id}/report", value: api.ReportDraftRequest{}, noAdditional: true},
	{schema: "POST /api/v1/cases/{id}/report/addenda", value: api.AddendumRequest{}, noAdditional: true},
	{schema: "POST /api/v1/webhooks", value: api.CreateWebhookRequest{}, noAdditional: true},
}

// lookup finds a wire entry's schema: a component, or an operation's
// request body or the JSON answer of one of its statuses.
func lookup(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	parts := strings.Fields(name)
	if len(parts) == 1 {
		ref := doc.Components.Schemas[name]
		if ref == nil {
			t.Fatalf("api/openapi.yaml has no schema %s", name)
		}
		return ref.Value
	}
	item := doc.Paths.Find(parts[1])
	if item == nil || item.GetOperation(parts[0]) == nil {
		t.Fatalf("api/openapi.yaml has no operation %s %s", parts[0], parts[1])
	}
	op := item.GetOperation(parts[0])
	var content openapi3.Content
	if len(parts) == 2 {
		if op.RequestBody == nil {
			t.Fatalf("%s takes no request body in api/openapi.yaml", name)
		}
		content = op.RequestBody.Value.Content
	} else {
		code, _ := strconv.Atoi(parts[2])
		resp := op.Responses.Status(code)
		if resp == nil {
			t.Fatalf("%s %s answers no %d in api/openapi.yaml", parts[0], parts[1], code)
		}
		content = resp.Value.Content
	}
	mt := content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		t.Fatalf("%s has no application/json schema in api/openapi.yaml", name)
	}
	return mt.Schema.Value
}

// TestWireTypesMatchTheSpec holds every wire type to the schema it
// encodes: the same JSON members, recursively; no member the schema
// requires left out by omitempty; and a request body that refuses
// unknown members where the server refuses them.
func TestWireTypesMatchTheSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	seen := map[string]bool{}
	for _, w := range wire {
		s := lookup(t, doc, w.schema)
		if w.noAdditional {
			if ap := s.AdditionalProperties.Has; ap == nil || *ap {
				t.Errorf("%s: the server refuses unknown members; say additionalProperties: false", w.schema)
			}
		}
		compare(t, w.schema, reflect.TypeOf(w.value), s, seen)
	}
	// Every struct of package api is held to a schema, but for the
	// details of a problem, which the spec leaves free.
	for _, name := range structNames(t) {
		if !seen[name] && name != "VersionConflict" {
			t.Errorf("api.%s is in no entry of the wire table (or nested in one)", name)
		}
	}
}

// structNames lists the struct types declared in package api.
func structNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range parsed.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, sp := range gd.Specs {
				if ts, ok := sp.(*ast.TypeSpec); ok {
					if _, ok := ts.Type.(*ast.StructType); ok {
						out = append(out, ts.Name.Name)
					}
				}
			}
		}
	}
	return out
}

var (
	timeType = reflect.TypeFor[time.Time]()
	uuidType = reflect.TypeFor[uuid.UUID]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// jsonField is one member a struct encodes.
type jsonField struct {
	typ       reflect.Type
	omitempty bool
}

func jsonFields(typ reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{typ: f.Type, omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")}
	}
	return out
}

// properties merges a schema's own properties and required members with
// those of its allOf parts.
func properties(s *openapi3.Schema) (openapi3.Schemas, []string) {
	props, required := openapi3.Schemas{}, slices.Clone(s.Required)
	for _, part := range s.AllOf {
		p, r := properties(part.Value)
		for k, v := range p {
			props[k] = v
		}
		required = append(required, r...)
	}
	for k, v := range s.Properties {
		props[k] = v
	}
	return props, required
}

// omittable reports whether omitempty can drop a value of typ (it never
// drops a struct or an array such as a UUID).
func omittable(typ reflect.Type) bool {
	k := typ.Kind()
	return k != reflect.Struct && k != reflect.Array
}

func compare(t *testing.T, where string, typ reflect.Type, s *openapi3.Schema, seen map[string]bool) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch {
	case typ == timeType || typ == uuidType || typ == rawType:
		return
	case typ.Kind() == reflect.Slice:
		if s.Items != nil {
			compare(t, where+"[]", typ.Elem(), s.Items.Value, seen)
		}
		return
	case typ.Kind() == reflect.Map:
		if s.AdditionalProperties.Schema != nil {
			compare(t, where+"{}", typ.Elem(), s.AdditionalProperties.Schema.Value, seen)
		}
		return
	case typ.Kind() != reflect.Struct:
		return
	}
	name, _, _ := strings.Cut(typ.Name(), "[")
	seen[name] = true
	props, required := properties(s)
	if len(props) == 0 {
		return // a free-form object
	}
	fields := jsonFields(typ)
	var missing, extra []string
	for name := range props {
		if _, ok := fields[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range fields {
		if _, ok := props[name]; !ok {
			extra = append(extra, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("%s: %s has no field for %v", where, typ, missing)
	}
	if len(extra) > 0 {
		t.Errorf("%s: %s encodes %v, which the schema does not name", where, typ, extra)
	}
	for _, name := range required {
		if f, ok := fields[name]; ok && f.omitempty && omittable(f.typ) {
			t.Errorf("%s: %s is required but %s.%s is omitempty", where, name, typ, name)
		}
	}
	for name, f := range fields {
		if p, ok := props[name]; ok {
			compare(t, where+"."+name, f.typ, p.Value, seen)
		}
	}
}

// TestConstantsMatchTheSpec holds the constants of package api to the
// enums of api/openapi.yaml.
func TestConstantsMatchTheSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	component := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	prop := func(s *openapi3.Schema, path ...string) *openapi3.Schema {
		for _, p := range path {
			s = s.Properties[p].Value
		}
		return s
	}
	for _, c := range []struct {
		name   string
		schema *openapi3.Schema
		values []string
	}{
		{"CaseStatuses", component("CaseStatus"), api.CaseStatuses},
		{"Priority*", component("Priority"), []string{api.PriorityStat, api.PriorityUrgent, api.PriorityRoutine}},
		{"Specialty*", component("Specialty"), []string{api.SpecialtyDermatology, api.SpecialtyRadiology}},
		{"Role*", component("Role"), []string{api.RoleSiteStaff, api.RoleReferringPhysician, api.RoleSpecialist,
			api.RoleOrgAdmin, api.RolePlatformAdmin}},
		{"Org*", prop(component("Org"), "kind"), []string{api.OrgSite, api.OrgReadingGroup, api.OrgPlatform}},
		{"File{DICOM,Photo}", prop(component("File"), "kind"), []string{api.FileDICOM, api.FilePhoto}},
		{"Preview*", prop(component("File"), "preview", "status"), []string{api.PreviewPending, api.PreviewDeferred, api.PreviewReady,
			api.PreviewUnavailable, api.PreviewFailed}},
		{"File{Accepted,Rejected}", prop(component("FileResult"), "status"), []string{api.FileAccepted, api.FileRejected}},
		{"Upload*", prop(component("Upload"), "status"), []string{api.UploadPending, api.UploadCompleting,
			api.UploadCompleted, api.UploadFailed, api.UploadExpired}},
		{"Report*", prop(component("Report"), "status"), []string{api.ReportDraft, api.ReportPreliminary, api.ReportFinal}},
		{"System*", prop(component("Diagnosis"), "system"), []string{api.SystemICD10, api.SystemSNOMED, ""}},
		{"Ready*", prop(component("Readiness"), "status"), []string{api.ReadyOK, api.ReadyUnavailable}},
	} {
		var enum []string
		for _, v := range c.schema.Enum {
			enum = append(enum, v.(string))
		}
		if !slices.Equal(enum, c.values) {
			t.Errorf("%s are %q; api/openapi.yaml says %q", c.name, c.values, enum)
		}
	}
}
