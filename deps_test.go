package kcrash_test

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedImports lists, for each package of the module, the module
// packages it may import. Dependencies point one way:
// cmd → commands → analyze → symbols, vmcore.
var allowedImports = map[string][]string{
	"cmd/kcrash": {"commands", "analyze", "vmcore", "symbols"},
	"commands":   {"analyze", "vmcore", "symbols"},
	"analyze":    {"vmcore", "symbols"},
	"symbols":    {},
	"vmcore":     {},
}

func TestImportDirection(t *testing.T) {
	const mod = "github.com/kcrash/kcrash"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		if pkg == "" || strings.HasPrefix(pkg, "internal/") {
			continue
		}
		allowed, known := allowedImports[pkg]
		if !known {
			t.Errorf("package %s is not in the import whitelist: add it to allowedImports", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ok := strings.CutPrefix(imp, mod+"/")
			if !ok || strings.HasPrefix(dep, "internal/") {
				continue
			}
			ok = false
			for _, a := range allowed {
				ok = ok || a == dep
			}
			if !ok {
				t.Errorf("%s imports %s: dependencies must point cmd → commands → analyze → symbols, vmcore", pkg, dep)
			}
		}
	}
}
