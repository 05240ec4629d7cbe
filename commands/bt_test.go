package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/commands"
	"github.com/kcrash/kcrash/internal/coretest"
)

// btBlock is one task's part of a bt/foreach bt output.
type btBlock struct {
	header string
	lines  []string // frames, register blocks, stack transitions
	failed bool     // crash printed "bt: ..." errors for this task
}

var btHeaderRE = regexp.MustCompile(`^PID: +(\d+) +TASK: ([0-9a-f]+) `)

func splitBt(out string) []btBlock {
	var blocks []btBlock
	for _, l := range strings.Split(out, "\n") {
		switch {
		case btHeaderRE.MatchString(l):
			blocks = append(blocks, btBlock{header: l})
		case len(blocks) == 0 || l == "":
		case strings.HasPrefix(l, "bt: "):
			blocks[len(blocks)-1].failed = true
		default:
			blocks[len(blocks)-1].lines = append(blocks[len(blocks)-1].lines, l)
		}
	}
	return blocks
}

// crashFailures are the tasks whose backtrace the crash utility cannot
// produce, with what kcrash shows instead and how it was checked.
//
// QEMU dumps (qemu-4l, qemu-5l): the second CPU was stopped by the
// reboot IPI (stop_this_cpu marks it offline, so crash reports "CPUS: 2
// [OFFLINE: 1]"). crash 8.0.6 searches that CPU's stacks for a start
// frame and, reaching the cpu_entry_area's MCE stack (zero-sized in this
// kernel, which has no CONFIG_X86_MCE), fails with "invalid size request:
// 0 type: "stack contents"" / "read of stack at fffffe000004f000
// failed". drgn 0.0.31 on the same dump unwinds it as native_halt /
// stop_this_cpu (interrupted), __sysvec_reboot, sysvec_reboot,
// asm_sysvec_reboot, then user mode; kcrash prints the CPU's registers
// as "[exception RIP: stop_this_cpu+92]" followed by sysvec_reboot and
// asm_sysvec_reboot (__sysvec_reboot's return address is the first byte
// of the next function, which crash's rules leave out) and the user-mode
// pt_regs.
var crashFailures = map[string][]string{
	"kc-spinner": {"sysvec_reboot", "asm_sysvec_reboot"},
}

// TestBtAgainstCrash compares kcrash's bt (every recorded "bt ..." and
// "foreach bt" golden) with the crash utility's, task by task: the
// header, every frame line (level, stack address, function, text
// address), -f stack words, -l line numbers, exception register blocks
// and stack transitions must be identical.
func TestBtAgainstCrash(t *testing.T) {
	total, matched := 0, 0
	type set struct {
		sc, dump string
		goldens  []coretest.Golden
	}
	var sets []set
	for _, sc := range coretest.Scenarios(t) {
		for _, dump := range coretest.Dumps(t, sc) {
			if _, err := os.Stat(filepath.Join(coretest.Root(t), sc, "oracle", "crash", dump, "index.tsv")); err == nil {
				sets = append(sets, set{sc, dump, coretest.Goldens(t, sc, dump)})
			}
		}
	}
	for _, o := range ownBtGoldens(t) {
		sets = append(sets, set{o.scenario, o.dump, o.goldens})
	}
	for _, st := range sets {
		sc, dump := st.sc, st.dump
		t0, m0 := total, matched
		{
			var k *analyze.Kernel
			for _, g := range st.goldens {
				if g.Command != "bt" && !strings.HasPrefix(g.Command, "bt ") && !strings.HasPrefix(g.Command, "foreach bt") {
					continue
				}
				if k == nil {
					k = openKernelVmlinux(t, sc, dump)
				}
				var out string
				if strings.HasPrefix(g.Command, "foreach") {
					if _, ok := commands.Lookup("foreach"); ok {
						out, _, _ = runCmd(k, dump, g.Command)
					} else if g.Command == "foreach bt" {
						out = foreachBt(t, k)
					} else {
						continue
					}
				} else {
					out, _, _ = runCmd(k, dump, g.Command)
				}
				want, got := splitBt(g.Output), splitBt(out)
				gotByHeader := map[string]btBlock{}
				for _, b := range got {
					gotByHeader[b.header] = b
				}
				if len(got) != len(want) {
					t.Errorf("%s/%s %q: %d tasks, crash shows %d", sc, dump, g.Command, len(got), len(want))
				}
				for _, w := range want {
					total++
					gb, ok := gotByHeader[w.header]
					if !ok {
						t.Errorf("%s/%s %q: no task %q", sc, dump, g.Command, w.header)
						continue
					}
					if w.failed {
						checkCrashFailure(t, sc, g.Command, w, gb)
						continue
					}
					wl, gl := w.lines, gb.lines
					if strings.Join(wl, "\n") != strings.Join(gl, "\n") {
						t.Errorf("%s/%s %q, %s:\n%s", sc, dump, g.Command, w.header, firstDiff(strings.Join(gl, "\n"), strings.Join(wl, "\n")))
						continue
					}
					matched++
				}
			}
		}
		t.Logf("%s/%s: %d of %d task backtraces identical to crash's", sc, dump, matched-m0, total-t0)
	}
	t.Logf("%d of %d task backtraces identical to crash's", matched, total)
	if total == 0 {
		t.Skip("no bt goldens in the corpus")
	}
}

// checkCrashFailure checks kcrash's trace of a task crash could not
// unwind against what drgn showed (crashFailures).
func checkCrashFailure(t *testing.T, sc, cmd string, w, got btBlock) {
	t.Helper()
	for comm, fns := range crashFailures {
		if !strings.Contains(w.header, `"`+comm+`"`) {
			continue
		}
		if strings.Contains(cmd, "-t") || strings.Contains(cmd, "-T") || strings.Contains(cmd, "-at") {
			if len(got.lines) == 0 {
				t.Errorf("%s %q, %s (crash fails here): kcrash shows nothing either", sc, cmd, w.header)
			}
			return
		}
		var names []string
		for _, l := range got.lines {
			if f := strings.Fields(l); len(f) >= 5 && strings.HasPrefix(f[0], "#") && f[3] == "at" {
				name, _, _ := strings.Cut(f[2], "+")
				names = append(names, name)
			}
		}
		if strings.Join(names, " ") != strings.Join(fns, " ") {
			t.Errorf("%s %q, %s (crash fails here): frames %v, want %v (drgn's)", sc, cmd, w.header, names, fns)
		}
		return
	}
	t.Errorf("%s %q, %s: crash failed on a task not known to fail", sc, cmd, w.header)
}

// foreachBt is "foreach bt" before the foreach command exists: every
// task in the task list's order, as crash's foreach walks them.
func foreachBt(t *testing.T, k *analyze.Kernel) string {
	t.Helper()
	p, err := commands.NewBacktracePrinter(k, commands.BtFlags{})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := analyze.Tasks(k)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i, task := range tasks {
		if err := p.Print(&b, task, i > 0); err != nil {
			t.Errorf("pid %d: %v", task.PID, err)
		}
	}
	return b.String()
}

// TestBtJSON checks --json: frames with sp, pc, function, offset.
func TestBtJSON(t *testing.T) {
	sc := coretest.Scenarios(t)[0]
	k := openKernelVmlinux(t, sc, "vmcore.elf")
	var out strings.Builder
	r := &commands.Runner{Env: &commands.Env{Kernel: k, Out: &out, JSON: true}, Err: &out}
	r.RunLine(context.Background(), "bt 1")
	for _, want := range []string{`"pid": 1`, `"function": "__schedule"`, `"function": "do_syscall_64"`, `"user_mode": true`, `"stack": "task"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bt --json lacks %s:\n%s", want, out.String())
		}
	}
}

type btGoldenSet struct {
	scenario, dump string
	goldens        []coretest.Golden
}

// ownBtGoldens loads commands/testdata/bt/<scenario>_<dump>/, recorded
// by record.sh, when they were recorded from the dump the corpus holds
// now (meta.txt has its sha256).
func ownBtGoldens(t *testing.T) []btGoldenSet {
	dirs, _ := filepath.Glob("testdata/bt/*/index.tsv")
	var sets []btGoldenSet
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
			p = coretest.Path(t, scenario+"/"+dump)
		}
		meta, err := os.ReadFile(filepath.Join(dir, "meta.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if sum, err := coretest.FileSHA256(p); err != nil || sum != strings.TrimSpace(string(meta)) {
			t.Logf("%s: recorded from another build of %s/%s; skipped (re-run record.sh)", dir, scenario, dump)
			continue
		}
		b, err := os.ReadFile(idx)
		if err != nil {
			t.Fatal(err)
		}
		var gs []coretest.Golden
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			file, cmd, ok := strings.Cut(line, "\t")
			if !ok {
				continue
			}
			out, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			gs = append(gs, coretest.Golden{Command: cmd, Output: string(out), File: filepath.Join(dir, file)})
		}
		sets = append(sets, btGoldenSet{scenario, dump, gs})
	}
	return sets
}
