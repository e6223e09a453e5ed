package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/teleread/teleread"

// importRule forbids the imports matching one of forbid in every directory
// not under one of allowed (directories are slash paths from the module
// root, matched with their subdirectories).
type importRule struct {
	name    string
	forbid  []string
	allowed []string
	// only, if set, limits the rule to these directories.
	only []string
}

// edges are the packages that speak a wire protocol; gin lives there only.
var edges = []string{"internal/httpapi", "internal/edge", "internal/dicomweb", "internal/web"}

// domain packages never import an edge or the wiring in app.
var domain = []string{"internal/identity", "internal/cases", "internal/worklist", "internal/reports",
	"internal/delivery", "internal/intake", "internal/audit", "internal/blob", "internal/dicomfile",
	"internal/photo", "internal/jobs", "internal/postgres", "internal/config", "internal/apperr"}

var rules = []importRule{
	{name: "gin only in the edges", forbid: []string{"github.com/gin-gonic/gin"},
		allowed: append([]string{"scripts/bench"}, edges...)},
	{name: "minio-go only in internal/blob", forbid: []string{"github.com/minio/minio-go"},
		allowed: []string{"internal/blob", "scripts/bench"}},
	{name: "suyashkumar/dicom only in internal/dicomfile", forbid: []string{"github.com/suyashkumar/dicom"},
		allowed: []string{"internal/dicomfile"}},
	{name: "domain packages import no edge and not app",
		forbid: append([]string{module + "/internal/app"}, prefixed(module+"/", edges)...), only: domain},
}

func prefixed(prefix string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = prefix + s
	}
	return out
}

// under reports whether the slash path p is dir or inside it.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// fileImport is one import of one Go file.
type fileImport struct {
	file string // slash path from the module root
	path string
}

// moduleRoot returns the directory of go.mod, two levels above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "archtest must sit two levels below the module root")
	return root
}

// moduleImports parses the import block of every Go file of the module,
// tests included, skipping testdata, vendor, hidden and tool directories.
func moduleImports(t *testing.T) []fileImport {
	t.Helper()
	root := moduleRoot(t)
	var out []fileImport
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "vendor" || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			out = append(out, fileImport{file: filepath.ToSlash(rel), path: ip})
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// violations returns, for each rule, the imports that break it.
func violations(imports []fileImport) map[string][]fileImport {
	out := map[string][]fileImport{}
	for _, imp := range imports {
		dir := path.Dir(imp.file)
		for _, r := range rules {
			if r.only != nil && !under(dir, r.only) {
				continue
			}
			if under(dir, r.allowed) {
				continue
			}
			for _, f := range r.forbid {
				if imp.path == f || strings.HasPrefix(imp.path, f+"/") {
					out[r.name] = append(out[r.name], imp)
				}
			}
		}
	}
	return out
}

// TestImports fails when a library is imported outside its package or a
// domain package imports an edge (docs/architecture.md, STYLE.md habit 15).
func TestImports(t *testing.T) {
	t.Parallel()
	imports := moduleImports(t)

	t.Run("SeesKnownImports", func(t *testing.T) {
		t.Parallel()
		// The rules must see the imports they are about, so that a broken
		// walk cannot make TestImports pass on nothing.
		want := []fileImport{
			{file: "internal/httpapi", path: "github.com/gin-gonic/gin"},
			{file: "internal/blob", path: "github.com/minio/minio-go/v7"},
			{file: "internal/dicomfile", path: "github.com/suyashkumar/dicom"},
			{file: "internal/delivery", path: module + "/internal/identity"},
		}
		for _, w := range want {
			found := false
			for _, imp := range imports {
				if path.Dir(imp.file) == w.file && imp.path == w.path {
					found = true
					break
				}
			}
			require.True(t, found, "the walk did not see %s importing %s", w.file, w.path)
		}
		// And each rule, applied to a planted import, reports it.
		planted := []fileImport{
			{file: "internal/cases/x.go", path: "github.com/gin-gonic/gin"},
			{file: "internal/intake/x.go", path: "github.com/minio/minio-go/v7"},
			{file: "internal/photo/x.go", path: "github.com/suyashkumar/dicom/pkg/tag"},
			{file: "internal/reports/x.go", path: module + "/internal/httpapi"},
		}
		got := violations(planted)
		for _, r := range rules {
			require.Len(t, got[r.name], 1, "rule %q did not catch its planted import", r.name)
		}
		require.Empty(t, violations([]fileImport{
			{file: "internal/httpapi/x.go", path: "github.com/gin-gonic/gin"},
			{file: "internal/app/x.go", path: module + "/internal/httpapi"},
		}), "allowed imports were reported")
	})

	t.Run("Rules", func(t *testing.T) {
		t.Parallel()
		for name, bad := range violations(imports) {
			for _, imp := range bad {
				t.Errorf("%s: %s imports %q", name, imp.file, imp.path)
			}
		}
	})
}
