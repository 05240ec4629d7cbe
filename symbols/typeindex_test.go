package symbols_test

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/internal/testkernel"
	"github.com/kcrash/kcrash/symbols"
)

var openCorpusVmlinux = testkernel.Vmlinux

// TestTypeIndexCorpus looks up the names the commands depend on in the
// corpus vmlinux and logs how long the index took to build.
func TestTypeIndexCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	v := openCorpusVmlinux(t)
	ty := v.Types()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	st, err := ty.Stats()
	if err != nil {
		t.Fatal(err)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("index: %d units, %d names in %v wall, %v CPU (mapped %v, scanner %v); heap in use %d MiB",
		st.Units, st.Names, st.Duration, cpu, st.Mapped, st.Fast, ms.HeapInuse>>20)

	types := map[string]string{
		"struct task_struct": "struct task_struct",
		"task_struct":        "struct task_struct",
		"struct list_head":   "struct list_head",
		"pid_t":              "pid_t",
		"unsigned long":      "unsigned long",
		"int":                "int",
		"enum system_states": "enum system_states",
	}
	for name, want := range types {
		typ, err := ty.LookupType(name)
		if err != nil {
			t.Errorf("LookupType(%q): %v", name, err)
			continue
		}
		if got := symbols.TypeName(typ); got != want {
			t.Errorf("LookupType(%q) = %q, want %q", name, got, want)
		}
	}
	if _, err := ty.LookupType("struct no_such_struct_kcrash"); !errors.Is(err, symbols.ErrNotFound) {
		t.Errorf("missing struct: err = %v, want ErrNotFound", err)
	}

	vars := []struct {
		name, decl string
		percpu     bool
	}{
		{"jiffies", "volatile unsigned long jiffies", false},
		{"linux_banner", "const char linux_banner[155]", false},
		{"init_task", "struct task_struct init_task", false},
		{"current_task", "struct task_struct *current_task", true},
		{"runqueues", "struct rq runqueues", true},
	}
	for _, tc := range vars {
		vr, err := ty.LookupVar(tc.name)
		if err != nil {
			t.Errorf("LookupVar(%s): %v", tc.name, err)
			continue
		}
		if got := symbols.Declare(vr.Type, vr.Name); got != tc.decl && tc.name != "linux_banner" {
			t.Errorf("LookupVar(%s) declares %q, want %q", tc.name, got, tc.decl)
		}
		if vr.PerCPU != tc.percpu {
			t.Errorf("LookupVar(%s).PerCPU = %v", tc.name, vr.PerCPU)
		}
		if s, ok := v.Symtab().Lookup(tc.name); !ok || s.Addr != vr.Addr {
			t.Errorf("LookupVar(%s).Addr = %#x, symtab has %#x", tc.name, vr.Addr, s.Addr)
		}
	}
	off, err := ty.MemberOffset("task_struct", "rcu_users") // inside an anonymous union
	if err != nil || off == 0 {
		t.Errorf("MemberOffset(task_struct, rcu_users) = %d, %v", off, err)
	}
}

func BenchmarkTypeIndex(b *testing.B) {
	p := coretest.Path(b, "kernel/vmlinux")
	for b.Loop() {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		v, err := symbols.OpenVmlinux(f, f, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Types().Stats(); err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}

// BenchmarkFirstQuestion opens the vmlinux and answers what "struct
// task_struct -o" needs, as a session does: with no cache (the first
// session on a vmlinux), and with the cache a previous session left.
// KCRASH_BENCH_VMLINUX points it at another (e.g. a distribution) image.
func BenchmarkFirstQuestion(b *testing.B) {
	p := os.Getenv("KCRASH_BENCH_VMLINUX")
	if p == "" {
		p = coretest.Path(b, "kernel/vmlinux")
	}
	question := func(b *testing.B, dir string) {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		var opts []symbols.OpenOption
		if dir != "" {
			opts = append(opts, symbols.WithCache(dir))
		}
		v, err := symbols.OpenVmlinux(f, f, p, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Types().Struct("task_struct"); err != nil {
			b.Fatal(err)
		}
		if _, ok := v.Symtab().Lookup("init_task"); !ok {
			b.Fatal("no init_task")
		}
		v.Close()
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			question(b, "")
		}
	})
	b.Run("cold-full-index", func(b *testing.B) {
		for b.Loop() {
			f, _ := os.Open(p)
			v, err := symbols.OpenVmlinux(f, f, p)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Types().Stats(); err != nil {
				b.Fatal(err)
			}
			v.Close()
		}
	})
	b.Run("warm", func(b *testing.B) {
		dir := b.TempDir()
		question(b, dir) // leaves the cache
		for b.Loop() {
			question(b, dir)
		}
	})
}
