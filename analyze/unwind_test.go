package analyze_test

import (
	"os"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

func openCorpus(t *testing.T, scenario, dump string, withVmlinux bool) *analyze.Kernel {
	t.Helper()
	var cfg analyze.Config
	if withVmlinux {
		p := coretest.Path(t, "kernel/vmlinux")
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := symbols.OpenVmlinux(f, f, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		cfg.Vmlinux = v
	}
	d, err := vmcore.Open(coretest.Path(t, scenario+"/"+dump), vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	k, err := analyze.Open(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

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
