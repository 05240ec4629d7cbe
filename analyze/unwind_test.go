package analyze_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/internal/testkernel"
)

var openCorpus = testkernel.Corpus

// TestBacktraceCorpus unwinds every task of every corpus dump: each walk
// must end cleanly (bottom of the stack or user mode), every frame must
// lie on a known stack, and frame addresses must grow on each stack.
func TestBacktraceCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus")
	}
	for _, sc := range coretest.Scenarios(t) {
		dumps := coretest.Dumps(t, sc)
		dump := dumps[0]
		for _, d := range dumps {
			if d == "vmcore.elf" {
				dump = d
			}
		}
		t.Run(sc+"/"+dump, func(t *testing.T) {
			k := openCorpus(t, sc, dump, true)
			tasks, err := analyze.Tasks(k)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range tasks {
				tr, err := analyze.Backtrace(k, task.Addr)
				if err != nil {
					t.Errorf("pid %d: %v", task.PID, err)
					continue
				}
				if tr.End != nil {
					t.Errorf("pid %d (%s): unwind ended with %v after %d frames", task.PID, task.Comm, tr.End, len(tr.Frames))
				}
				if tr.User != nil {
					if len(tr.Frames) != 0 || !tr.Active || task.KernelThread() {
						t.Errorf("pid %d: caught in user mode but %d frames, active %v", task.PID, len(tr.Frames), tr.Active)
					}
					continue
				}
				if len(tr.Frames) < 2 {
					t.Errorf("pid %d: only %d frames", task.PID, len(tr.Frames))
				}
				for i, f := range tr.Frames {
					if f.Stack.Kind == analyze.StackNone {
						t.Errorf("pid %d frame %d: sp %#x on no known stack", task.PID, i, uint64(f.SP))
					}
					if i > 0 && f.Stack == tr.Frames[i-1].Stack && f.SP < tr.Frames[i-1].SP {
						t.Errorf("pid %d frame %d: sp %#x below the previous frame's %#x", task.PID, i, uint64(f.SP), uint64(tr.Frames[i-1].SP))
					}
				}
				last := tr.Frames[len(tr.Frames)-1]
				if task.KernelThread() && last.Exception != nil && last.Exception.UserMode() {
					t.Errorf("pid %d: a kernel thread's trace ends in user mode", task.PID)
				}
				if !task.KernelThread() && (last.Exception == nil || !last.Exception.UserMode()) {
					t.Errorf("pid %d (%s): a user task's trace should end at its user-mode pt_regs", task.PID, task.Comm)
				}
			}
		})
	}
}

// TestORCFromMemory checks that the ORC table read from the kernel image
// in the dump (what bt uses with kallsyms alone) is the vmlinux's.
func TestORCFromMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus")
	}
	sc := coretest.Scenarios(t)[0]
	withV := openCorpus(t, sc, "vmcore.elf", true)
	without := openCorpus(t, sc, "vmcore.elf", false)
	a, err := withV.ORC()
	if err != nil {
		t.Fatal(err)
	}
	b, err := without.ORC()
	if err != nil {
		t.Fatal(err)
	}
	if a.Layout() != analyze.ORCLayoutV1 || b.Layout() != analyze.ORCLayoutV1 {
		t.Errorf("Linux 6.1's ORC layout: from DWARF %d, guessed from the entries %d; want %d", a.Layout(), b.Layout(), analyze.ORCLayoutV1)
	}
	if a.Len() != b.Len() || a.Len() < 1000 {
		t.Fatalf("ORC entries: vmlinux %d, memory %d", a.Len(), b.Len())
	}
	tab, err := withV.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"panic", "__schedule", "do_syscall_64", "asm_exc_page_fault", "ret_from_fork", "entry_SYSCALL_64"} {
		s, ok := tab.Lookup(name)
		if !ok {
			t.Fatalf("no symbol %s", name)
		}
		for off := uint64(0); off < 64; off += 7 {
			ea, oka := a.Lookup(s.Addr + off)
			eb, okb := b.Lookup(s.Addr + off)
			if ea != eb || oka != okb {
				t.Errorf("%s+%d: vmlinux %+v, memory %+v", name, off, ea, eb)
			}
		}
	}
}

// TestBacktraceAgainstDrgn compares the ORC unwinder, started from the
// CPU's registers as drgn starts it, with drgn 0.0.31's stack traces
// recorded in the corpus (oracle/drgn/<dump>/bt-*.txt). drgn names
// inlined functions too, from DWARF; kcrash names a frame by the ELF
// symbol containing pc-1 (pc for an interrupted frame), so every kcrash
// frame must appear, in order, among drgn's, and drgn may have more
// (inlined) ones. Entry code is named by its nearest symbol
// (entry_SYSCALL_64_after_hwframe), which drgn calls entry_SYSCALL_64.
func TestBacktraceAgainstDrgn(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus")
	}
	checked := 0
	for _, sc := range coretest.Scenarios(t) {
		for _, dump := range coretest.Dumps(t, sc) {
			files, _ := filepath.Glob(filepath.Join(coretest.Root(t), sc, "oracle", "drgn", dump, "bt-*.txt"))
			if len(files) == 0 {
				continue
			}
			k := openCorpus(t, sc, dump, true)
			tab, err := k.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			for _, file := range files {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				pid, drgnFns, ok := parseDrgnTrace(string(b))
				if !ok {
					t.Errorf("%s: cannot parse", file)
					continue
				}
				task, err := analyze.FindTask(k, pid)
				if err != nil {
					t.Errorf("%s: %v", file, err)
					continue
				}
				tr, err := analyze.Backtrace(k, task.Addr)
				if err != nil {
					t.Errorf("%s: %v", file, err)
					continue
				}
				var ours []string
				for _, f := range tr.Frames {
					pc := uint64(f.PC)
					if !f.Interrupted {
						pc--
					}
					s, _, _ := tab.ByAddr(pc)
					ours = append(ours, s.Name)
				}
				j := 0
				for _, name := range ours {
					for j < len(drgnFns) && !(drgnFns[j] == name || strings.HasPrefix(name, drgnFns[j]+"_")) {
						j++
					}
					if j == len(drgnFns) {
						t.Errorf("%s/%s pid %d: kcrash frames %v are not among drgn's %v", sc, dump, pid, ours, drgnFns)
						break
					}
					j++
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Skip("no drgn backtraces in the corpus")
	}
	t.Logf("%d traces agree with drgn's", checked)
}

// parseDrgnTrace reads the corpus's drgn trace format: a first line
// "pid N ..." or "crashed thread: tid N ...", then "#i  function (...)"
// lines; user-space frames ("#i  0x...") end the kernel part.
func parseDrgnTrace(s string) (pid int32, fns []string, ok bool) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) == 0 {
		return 0, nil, false
	}
	f := strings.Fields(lines[0])
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "pid" || f[i] == "tid" {
			n, err := strconv.Atoi(f[i+1])
			if err != nil {
				return 0, nil, false
			}
			pid, ok = int32(n), true
			break
		}
	}
	for _, l := range lines[1:] {
		w := strings.Fields(l)
		if len(w) < 2 || !strings.HasPrefix(w[0], "#") {
			continue
		}
		if strings.HasPrefix(w[1], "0x") {
			break
		}
		name, _, _ := strings.Cut(w[1], "+")
		fns = append(fns, name)
	}
	return pid, fns, ok
}

// BenchmarkBacktraceAll unwinds every task of the first corpus dump.
func BenchmarkBacktraceAll(b *testing.B) {
	sc := coretest.Scenarios(b)[0]
	k := testkernel.Corpus(b, sc, "vmcore.elf", true)
	tasks, err := analyze.Tasks(k)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for _, task := range tasks {
			if _, err := analyze.Backtrace(k, task.Addr); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(tasks)), "tasks/op")
}
