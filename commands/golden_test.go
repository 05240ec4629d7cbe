package commands_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
)

// exactGoldens lists the command prefixes whose output must equal the
// crash utility's golden byte for byte on every corpus dump. A command
// joins the list when it is implemented; nothing here is skipped.
var exactGoldens = []string{"log", "ps", "mod", "kmem", "task"}

func exact(cmd string) bool {
	for _, p := range exactGoldens {
		if cmd == p || strings.HasPrefix(cmd, p+" ") {
			return true
		}
	}
	return false
}

func TestExactGoldens(t *testing.T) {
	seen := map[string]int{}
	for _, sc := range coretest.Scenarios(t) {
		for _, dump := range coretest.Dumps(t, sc) {
			goldens := coretest.Goldens(t, sc, dump)
			k := openKernelVmlinux(t, sc, dump)
			for _, g := range goldens {
				if !exact(g.Command) {
					continue
				}
				seen[strings.Fields(g.Command)[0]]++
				out, errOut, failed := runCmd(k, dump, g.Command)
				if failed > 0 {
					t.Errorf("%s/%s: %s failed: %s", sc, dump, g.Command, errOut)
					continue
				}
				if out != g.Output {
					t.Errorf("%s/%s: %s differs from %s:\n%s", sc, dump, g.Command, g.File, firstDiff(out, g.Output))
				}
			}
		}
	}
	for _, p := range exactGoldens {
		if seen[p] == 0 {
			t.Errorf("no golden exercised %q", p)
		}
	}
}

// firstDiff shows the first differing line of two outputs.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n  kcrash: " + gl + "\n  crash:  " + wl
		}
	}
	return "(equal lines, different bytes)"
}
