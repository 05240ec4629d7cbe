package commands_test

import (
	"encoding/json"
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

// The kernel-model commands (ps, sys, mod, kmem -i) are compared with the
// crash utility's goldens field by field, so a failure names the task,
// the key or the line that differs, and rows one side lacks are listed.

// psRow is one line of ps's default output.
type psRow struct {
	active                         bool
	pid, ppid, cpu, task, st, comm string
	pctMem, vsz, rss               string
}

var psLine = regexp.MustCompile(`^([> -]) +(\d+) +(\d+) +(\d+|\?) +([0-9a-f]+) +([A-Z?]{2,4}) +([\d.]+) +(\d+) +(\d+)  (.*)$`)

const psHeader = "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM"

// parsePs returns the rows of ps output keyed by TASK (and, since ps
// with several operands may list a task twice, by occurrence), in order.
func parsePs(t *testing.T, out string) (keys []string, rows map[string]psRow) {
	rows = map[string]psRow{}
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l == psHeader || l == "" {
			continue
		}
		m := psLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("unparsable ps line %q", l)
			continue
		}
		r := psRow{active: m[1] == ">", pid: m[2], ppid: m[3], cpu: m[4], task: m[5], st: m[6],
			pctMem: m[7], vsz: m[8], rss: m[9], comm: m[10]}
		seen[r.task]++
		key := fmt.Sprintf("%s#%d", r.task, seen[r.task])
		keys = append(keys, key)
		rows[key] = r
	}
	return keys, rows
}

func comparePsRows(t *testing.T, where string, got, want string) (compared int) {
	t.Helper()
	gk, g := parsePs(t, got)
	wk, w := parsePs(t, want)
	for _, k := range wk {
		wr := w[k]
		gr, ok := g[k]
		if !ok {
			t.Errorf("%s: missing row for task %s (pid %s %s)", where, wr.task, wr.pid, wr.comm)
			continue
		}
		compared++
		for _, f := range []struct{ name, got, want string }{
			{"active marker", fmt.Sprint(gr.active), fmt.Sprint(wr.active)},
			{"PID", gr.pid, wr.pid}, {"PPID", gr.ppid, wr.ppid}, {"CPU", gr.cpu, wr.cpu},
			{"ST", gr.st, wr.st}, {"%MEM", gr.pctMem, wr.pctMem}, {"VSZ", gr.vsz, wr.vsz},
			{"RSS", gr.rss, wr.rss}, {"COMM", gr.comm, wr.comm},
		} {
			if f.got != f.want {
				t.Errorf("%s: task %s %s: %s = %q, crash %q", where, wr.task, wr.comm, f.name, f.got, f.want)
			}
		}
	}
	for _, k := range gk {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: extra row for task %s (pid %s %s)", where, g[k].task, g[k].pid, g[k].comm)
		}
	}
	if strings.Join(gk, ",") != strings.Join(wk, ",") && len(gk) == len(wk) {
		t.Errorf("%s: rows in a different order", where)
	}
	return compared
}

// forGoldens runs check on every golden whose command satisfies match,
// and fails if none did.
func forGoldens(t *testing.T, match func(cmd string) bool, check func(t *testing.T, where, cmd, got, want string)) {
	n := 0
	for _, sc := range coretest.Scenarios(t) {
		for _, dump := range coretest.Dumps(t, sc) {
			var gs []coretest.Golden
			for _, g := range coretest.Goldens(t, sc, dump) {
				if match(g.Command) {
					gs = append(gs, g)
				}
			}
			if len(gs) == 0 {
				continue
			}
			k := openKernelVmlinux(t, sc, dump)
			for _, g := range gs {
				n++
				out, errOut, failed := runCmd(k, dump, g.Command)
				where := sc + "/" + dump + ": " + g.Command
				if failed > 0 {
					t.Errorf("%s failed: %s", where, errOut)
					continue
				}
				check(t, where, g.Command, out, g.Output)
			}
		}
	}
	if n == 0 {
		t.Error("no golden exercised the command")
	}
}

func TestPsGoldensFieldByField(t *testing.T) {
	rows := 0
	forGoldens(t, func(cmd string) bool {
		return cmd == "ps" || cmd == "ps -G" || cmd == "ps -k" || cmd == "ps -u" || cmd == "ps -A" || cmd == "foreach ps"
	}, func(t *testing.T, where, _, got, want string) {
		rows += comparePsRows(t, where, got, want)
	})
	t.Logf("%d ps rows compared field by field", rows)
}

var sysLine = regexp.MustCompile(`^ *([A-Z][A-Z ]*[A-Z]): (.*)$`)

func parseSys(out string) (keys []string, vals map[string]string) {
	vals = map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if m := sysLine.FindStringSubmatch(l); m != nil {
			keys = append(keys, m[1])
			vals[m[1]] = m[2]
		}
	}
	return keys, vals
}

// pathTags drops the file name from a KERNEL or DUMPFILE value, keeping
// what crash appends ("  [TAINTED]", "  [PARTIAL DUMP]").
func pathTags(v string) string {
	if i := strings.Index(v, "  ["); i >= 0 {
		return v[i:]
	}
	return ""
}

func TestSysGoldensFieldByField(t *testing.T) {
	forGoldens(t, func(cmd string) bool { return cmd == "sys" }, func(t *testing.T, where, _, got, want string) {
		gk, g := parseSys(got)
		wk, w := parseSys(want)
		for _, k := range wk {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s: missing %s", where, k)
				continue
			}
			wv := w[k]
			if k == "KERNEL" || k == "DUMPFILE" {
				gv, wv = pathTags(gv), pathTags(wv)
			}
			if gv != wv {
				t.Errorf("%s: %s = %q, crash %q", where, k, gv, wv)
			}
		}
		for _, k := range gk {
			if _, ok := w[k]; !ok {
				t.Errorf("%s: extra %s", where, k)
			}
		}
	})
}

// compareLines reports every line that differs, keyed by its first
// field, and the lines one side lacks.
func compareLines(t *testing.T, where, got, want string) {
	t.Helper()
	g := strings.Split(strings.TrimRight(got, "\n"), "\n")
	w := strings.Split(strings.TrimRight(want, "\n"), "\n")
	for i := range max(len(g), len(w)) {
		switch {
		case i >= len(g):
			t.Errorf("%s: missing line %q", where, w[i])
		case i >= len(w):
			t.Errorf("%s: extra line %q", where, g[i])
		case g[i] != w[i]:
			t.Errorf("%s: line %d:\n  kcrash %q\n  crash  %q", where, i+1, g[i], w[i])
		}
	}
}

func TestModGoldens(t *testing.T) {
	forGoldens(t, func(cmd string) bool { return cmd == "mod" }, func(t *testing.T, where, _, got, want string) {
		compareLines(t, where, got, want)
	})
}

func TestKmemInfoGoldens(t *testing.T) {
	forGoldens(t, func(cmd string) bool { return cmd == "kmem -i" }, func(t *testing.T, where, _, got, want string) {
		compareLines(t, where, got, want)
	})
}

// TestPsFilters checks the selections against plain ps on every dump:
// -k and -u split the table, -G keeps the group leaders, and pid, name
// and task operands pick their rows.
func TestPsFilters(t *testing.T) {
	forGoldens(t, func(cmd string) bool { return cmd == "ps" }, func(t *testing.T, where, _, got, _ string) {
		_, all := parsePs(t, got)
		k := openKernelFromWhere(t, where)
		for _, tc := range []struct {
			args string
			keep func(psRow) bool
		}{
			{"-k", func(r psRow) bool { return strings.HasPrefix(r.comm, "[") }},
			{"-u", func(r psRow) bool { return !strings.HasPrefix(r.comm, "[") }},
			{"1", func(r psRow) bool { return r.pid == "1" }},
			{"0", func(r psRow) bool { return r.pid == "0" }},
			{"init", func(r psRow) bool { return r.comm == "init" }},
		} {
			out, errOut, failed := runCmd(k, "", "ps "+tc.args)
			if failed > 0 {
				t.Errorf("%s: ps %s: %s", where, tc.args, errOut)
				continue
			}
			_, rows := parsePs(t, out)
			var want []string
			for key, r := range all {
				if tc.keep(r) {
					want = append(want, key)
				}
			}
			var have []string
			for key := range rows {
				have = append(have, key)
			}
			sort.Strings(want)
			sort.Strings(have)
			if strings.Join(want, " ") != strings.Join(have, " ") {
				t.Errorf("%s: ps %s lists %v, want %v", where, tc.args, have, want)
			}
		}
	})
}

// openKernelFromWhere reopens the dump named in a forGoldens location.
func openKernelFromWhere(t *testing.T, where string) *analyze.Kernel {
	sd, _, _ := strings.Cut(where, ":")
	sc, dump, _ := strings.Cut(sd, "/")
	return openKernelVmlinux(t, sc, dump)
}

// docKeys returns the keys docs/json.md documents in a section's table.
func docKeys(t *testing.T, section string) map[string]bool {
	b, err := os.ReadFile(filepath.Join("..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	in := false
	keyRE := regexp.MustCompile("^\\| `([a-z_0-9]+)` \\|")
	for _, l := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			in = h == section
			continue
		}
		if m := keyRE.FindStringSubmatch(l); in && m != nil {
			keys[m[1]] = true
		}
	}
	if len(keys) == 0 {
		t.Fatalf("docs/json.md has no table under %q", section)
	}
	return keys
}

// TestKernelJSONMatchesDocs checks ps, sys, mod and kmem -i --json
// against docs/json.md in both directions.
func TestKernelJSONMatchesDocs(t *testing.T) {
	sc := coretest.Scenarios(t)[0]
	dump := coretest.Dumps(t, sc)[0]
	k := openKernelVmlinux(t, sc, dump)
	for _, tc := range []struct{ cmd, section string }{
		{"ps --json", "`ps --json`"},
		{"sys --json", "`sys --json`"},
		{"mod --json", "`mod --json`"},
		{"kmem -i --json", "`kmem -i --json`"},
	} {
		out, errOut, failed := runCmd(k, dump, tc.cmd)
		if failed > 0 {
			t.Errorf("%s: %s", tc.cmd, errOut)
			continue
		}
		var objs []map[string]any
		if strings.HasPrefix(out, "[") {
			if err := json.Unmarshal([]byte(out), &objs); err != nil {
				t.Fatalf("%s: %v", tc.cmd, err)
			}
		} else {
			var o map[string]any
			if err := json.Unmarshal([]byte(out), &o); err != nil {
				t.Fatalf("%s: %v", tc.cmd, err)
			}
			objs = append(objs, o)
		}
		if len(objs) == 0 {
			t.Errorf("%s: empty output", tc.cmd)
			continue
		}
		keys := docKeys(t, tc.section)
		for k := range objs[0] {
			if !keys[k] {
				t.Errorf("%s: key %q is not documented", tc.cmd, k)
			}
		}
		for k := range keys {
			if _, ok := objs[0][k]; !ok {
				t.Errorf("%s: documented key %q is missing", tc.cmd, k)
			}
		}
	}
}
