package commands_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
)

// typeCommand reports whether a golden's command is one of the type
// commands this file checks.
func typeCommand(cmd string) bool {
	for _, p := range []string{"struct ", "union ", "whatis ", "p "} {
		if strings.HasPrefix(cmd, p) {
			return true
		}
	}
	return false
}

// knownDiffs lists commands whose output kcrash knowingly does not
// reproduce, with the reason; they are run but not compared.
var knownDiffs = map[string]string{
	// crash's getopt drops a lone "-" argument, so gdb sees "... * 2 1"
	// and fails; kcrash evaluates the expression.
	"p ((struct task_struct *)0xffff8f0641162800)->pid * 2 - 1": "crash drops a lone '-' argument",
}

// field is one comparable piece of a command's output: a "name = value"
// line keyed by its path in the printed value, or any other line keyed
// by its text.
type field struct{ key, val string }

var valueNumber = regexp.MustCompile(`\$[0-9]+ =`)

// parseFields splits crash-style output into fields. Nested values
// ("tasks = {") push their name onto the path, "}" pops it; elements of
// an array of structs ("{{", "}, {") get [i]. Repeated keys are
// numbered, so every field is compared once.
func parseFields(out string) []field {
	var fields []field
	var path []string
	elem := []int{}
	seen := map[string]int{}
	add := func(key, val string) {
		seen[key]++
		if n := seen[key]; n > 1 {
			key = fmt.Sprintf("%s#%d", key, n)
		}
		fields = append(fields, field{key, val})
	}
	push := func(name string, opens int) {
		for i := range opens {
			if i == 0 {
				path = append(path, name)
			} else {
				path = append(path, "[0]")
			}
			elem = append(elem, 0)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		t := valueNumber.ReplaceAllString(strings.TrimSpace(line), "$$N =")
		if t == "" {
			continue
		}
		prefix := strings.Join(path, ".")
		if strings.HasPrefix(t, "}") {
			closes := len(t) - len(strings.TrimLeft(t, "}"))
			rest := strings.TrimLeft(t, "}")
			opens := strings.Count(rest, "{")
			if closes > len(path) {
				closes = len(path)
			}
			last := 0
			if len(elem) > 0 {
				last = elem[len(elem)-1]
			}
			path, elem = path[:len(path)-closes], elem[:len(elem)-closes]
			if opens > 0 && !strings.Contains(rest, "=") {
				path = append(path, fmt.Sprintf("[%d]", last+1))
				elem = append(elem, last+1)
				continue
			}
			if opens == 0 && len(strings.TrimSpace(strings.Trim(rest, ",;"))) > 0 {
				add(prefix+"|"+t, t) // "} name;" closing a ptype member
			}
			continue
		}
		name, val, ok := strings.Cut(t, " = ")
		if ok && !strings.ContainsAny(name, "\"'") {
			val = strings.TrimSuffix(val, ",")
			if opens := len(val) - len(strings.TrimRight(val, "{")); opens > 0 && strings.TrimRight(val, "{") == "" {
				push(name, opens)
				continue
			}
			add(prefix+"."+name, val)
			continue
		}
		if t == "{" {
			push("{anon}", 1)
			continue
		}
		add(prefix+"|"+t, t)
	}
	return fields
}

// compareFields reports every field crash printed that kcrash got wrong
// or left out, and every field kcrash added.
func compareFields(want, got []field) (compared, equal int, problems []string) {
	gotMap := map[string]string{}
	for _, f := range got {
		gotMap[f.key] = f.val
	}
	wantKeys := map[string]bool{}
	for _, f := range want {
		wantKeys[f.key] = true
		compared++
		g, ok := gotMap[f.key]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s (crash: %s)", f.key, short(f.val)))
		case g != f.val:
			problems = append(problems, fmt.Sprintf("%s: kcrash %s, crash %s", f.key, short(g), short(f.val)))
		default:
			equal++
		}
	}
	for _, f := range got {
		if !wantKeys[f.key] {
			problems = append(problems, fmt.Sprintf("extra %s = %s", f.key, short(f.val)))
		}
	}
	return compared, equal, problems
}

// typeGoldenSet is one dump's goldens for the type commands.
type typeGoldenSet struct {
	scenario, dump string
	goldens        []coretest.Golden
}

// ownTypeGoldens loads commands/testdata/types/<scenario>_<dump>/,
// recorded by record.sh, when they were recorded from the dump the
// corpus holds now (meta.txt has its sha256).
func ownTypeGoldens(t *testing.T) []typeGoldenSet {
	dirs, _ := filepath.Glob("testdata/types/*/index.tsv")
	var sets []typeGoldenSet
	for _, idx := range dirs {
		dir := filepath.Dir(idx)
		scenario, dump, ok := strings.Cut(filepath.Base(dir), "_")
		if !ok {
			continue
		}
		p := filepath.Join(coretest.Root(t), scenario, dump)
		if _, err := os.Stat(p); err != nil {
			if _, err := os.Stat(p + ".zst"); err != nil {
				t.Logf("%s: no %s/%s in the corpus; skipped", dir, scenario, dump)
				continue
			}
			p = coretest.Path(t, scenario+"/"+dump) // decompressed once into the cache
		}
		meta, err := os.ReadFile(filepath.Join(dir, "meta.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if sum, err := coretest.FileSHA256(p); err != nil || sum != strings.TrimSpace(string(meta)) {
			t.Logf("%s: recorded from another build of %s/%s; skipped (re-run record.sh)", dir, scenario, dump)
			continue
		}
		f, err := os.Open(idx)
		if err != nil {
			t.Fatal(err)
		}
		var gs []coretest.Golden
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			file, cmd, ok := strings.Cut(sc.Text(), "\t")
			if !ok {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			gs = append(gs, coretest.Golden{Command: cmd, Output: string(b), File: filepath.Join(dir, file)})
		}
		f.Close()
		sets = append(sets, typeGoldenSet{scenario, dump, gs})
	}
	return sets
}

// TestTypeCommandsGoldens runs every struct/union/whatis/p command crash
// was recorded with (the corpus goldens and commands/testdata/types) and
// compares the outputs field by field. Where crash failed, kcrash must
// fail too.
func TestTypeCommandsGoldens(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the corpus")
	}
	sets := ownTypeGoldens(t)
	if metas, _ := filepath.Glob(filepath.Join(coretest.Root(t), "*", "meta.json")); len(metas) == 0 && len(sets) > 0 {
		t.Logf("no committed corpus under %s: only commands/testdata/types", coretest.Root(t))
	} else {
		sets = append(sets, corpusTypeGoldens(t)...)
	}
	runTypeGoldens(t, sets)
}

func corpusTypeGoldens(t *testing.T) []typeGoldenSet {
	var sets []typeGoldenSet
	for _, sc := range coretest.Scenarios(t) {
		for _, dump := range coretest.Dumps(t, sc) {
			if _, err := os.Stat(filepath.Join(coretest.Root(t), sc, "oracle", "crash", dump, "index.tsv")); err != nil {
				continue
			}
			sets = append(sets, typeGoldenSet{sc, dump, coretest.Goldens(t, sc, dump)})
		}
	}
	return sets
}

func runTypeGoldens(t *testing.T, sets []typeGoldenSet) {
	type tally struct{ cmds, compared, equal int }
	totals := map[string]*tally{}
	for _, set := range sets {
		var k *analyze.Kernel
		for _, g := range set.goldens {
			if !typeCommand(g.Command) {
				continue
			}
			if k == nil {
				k = openKernelVmlinux(t, set.scenario, set.dump)
			}
			verb := strings.Fields(g.Command)[0]
			if totals[verb] == nil {
				totals[verb] = &tally{}
			}
			tl := totals[verb]
			tl.cmds++
			out, errOut, failed := runCmd(k, set.dump, g.Command)
			if reason, ok := knownDiffs[g.Command]; ok {
				t.Logf("%s: %q not compared: %s", g.File, g.Command, reason)
				continue
			}
			if crashFailed(g.Output) {
				tl.compared++
				if failed == 0 {
					t.Errorf("%s: %q: crash failed (%s) but kcrash printed:\n%s", g.File, g.Command, firstLine(g.Output), out)
				} else {
					tl.equal++
				}
				continue
			}
			if failed != 0 {
				t.Errorf("%s: %q failed: %s", g.File, g.Command, errOut)
				continue
			}
			c, e, problems := compareFields(parseFields(g.Output), parseFields(out))
			tl.compared += c
			tl.equal += e
			for _, p := range problems {
				t.Errorf("%s: %q: %s", g.File, g.Command, p)
			}
		}
	}
	var verbs []string
	for v := range totals {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	for _, v := range verbs {
		tl := totals[v]
		t.Logf("%-7s %3d commands, %5d fields compared, %5d equal", v, tl.cmds, tl.compared, tl.equal)
	}
	if len(totals) == 0 {
		t.Skip("no goldens for the type commands")
	}
}

// crashFailed recognises crash's error outputs.
func crashFailed(out string) bool {
	first := firstLine(out)
	for _, s := range []string{"invalid data structure", "gdb request failed", "cannot resolve", "not supported",
		"symbol not found", "invalid option", "Usage:", "No symbol"} {
		if strings.Contains(first, s) {
			return true
		}
	}
	return out == ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// short keeps a long value readable in a failure message.
func short(s string) string {
	if len(s) > 160 {
		return s[:80] + " … " + s[len(s)-60:]
	}
	return s
}

// TestTypeCommandsNeedVmlinux: without the vmlinux there are no types,
// and every type command says so instead of guessing.
func TestTypeCommandsNeedVmlinux(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the corpus")
	}
	k := openKernel(t, "qemu-4l", "vmcore.elf")
	for _, cmd := range []string{"p jiffies", "struct task_struct", "union sigval", "whatis linux_banner", "p current_task:a"} {
		out, errOut, failed := runCmd(k, "vmcore.elf", cmd)
		if failed == 0 || out != "" || !strings.Contains(errOut, "vmlinux") {
			t.Errorf("%q without the vmlinux: out %q, err %q", cmd, out, errOut)
		}
	}
}
