package analyze_test

import (
	"debug/elf"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// TestKallsymsMatchVmlinux decodes kallsyms from each dump's memory and
// checks that every text symbol of the vmlinux symtab is there at its
// link address plus the KASLR offset.
func TestKallsymsMatchVmlinux(t *testing.T) {
	f, err := elf.Open(coretest.Path(t, "kernel/vmlinux"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range coretest.Scenarios(t) {
		dumps := coretest.Dumps(t, sc)
		t.Run(sc, func(t *testing.T) {
			d, err := vmcore.Open(coretest.Path(t, sc+"/"+dumps[0]), vmcore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			k, err := analyze.Open(d, analyze.Config{})
			if err != nil {
				t.Fatal(err)
			}
			tab, err := k.Kallsyms()
			if err != nil {
				t.Fatal(err)
			}
			off := k.KASLROffset()
			checked, missing := 0, 0
			for _, s := range syms {
				if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 || s.Section == elf.SHN_UNDEF {
					continue
				}
				ks, ok := tab.Lookup(s.Name)
				if !ok {
					missing++
					if missing <= 5 {
						t.Errorf("%s (%#x) not in kallsyms", s.Name, s.Value)
					}
					continue
				}
				if ks.Addr != s.Value+off {
					// Static functions may share a name; accept any symbol of
					// that name at the right address.
					if other, _, ok := tab.ByAddr(s.Value + off); !ok || other.Addr != s.Value+off {
						t.Errorf("%s: kallsyms %#x, vmlinux %#x + KASLR %#x", s.Name, ks.Addr, s.Value, off)
					}
				}
				checked++
			}
			t.Logf("%d text symbols agree (%d kallsyms entries, %d missing)", checked, tab.Len(), missing)
			if checked < 1000 {
				t.Errorf("only %d text symbols checked", checked)
			}
		})
	}
}
