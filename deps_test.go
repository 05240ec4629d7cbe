package kcrash_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// allowedImports lists, for each package of the module, the module
// packages it may import. Dependencies point one way:
// cmd → commands → analyze → symbols, vmcore.
var allowedImports = map[string][]string{
	"cmd/kcrash":     {"commands", "commands/shell", "analyze", "vmcore", "symbols"},
	"commands":       {"analyze", "vmcore", "symbols"},
	"commands/shell": {"commands"},
	"analyze":        {"vmcore", "symbols"},
	"symbols":        {},
	"vmcore":         {},
}

// TestImportDirection parses every Go file itself (rather than asking
// go list) so that the test cache sees the files and reruns the test
// when an import changes.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/kcrash/kcrash/"
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if pkg == "." || strings.HasPrefix(pkg, "internal/") {
			return nil
		}
		allowed, known := allowedImports[pkg]
		if !known {
			t.Errorf("package %s is not in the import whitelist: add it to allowedImports", pkg)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			dep, ok := strings.CutPrefix(p, mod)
			if !ok || strings.HasPrefix(dep, "internal/") {
				continue
			}
			ok = dep == pkg // an external test package imports its own
			for _, a := range allowed {
				ok = ok || a == dep
			}
			if !ok {
				t.Errorf("%s imports %s: dependencies must point cmd → commands → analyze → symbols, vmcore", path, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
