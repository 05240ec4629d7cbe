package vmcore

import (
	"errors"
	"testing"
)

func TestParseVMCOREINFO(t *testing.T) {
	vi, err := ParseVMCOREINFO([]byte(testVMCOREINFO + "NUMBER(VMALLOC_START)=0xffffc90000000000\nSIZE(page)=64\nLENGTH(mem_section)=2048\nCONFIG_KALLSYMS=y\n\x00\x00"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"OSRELEASE", vi.OSRelease, "6.1.0-test"},
		{"PAGESIZE", vi.PageSize, uint64(4096)},
		{"swapper_pg_dir", vi.Symbols["swapper_pg_dir"], uint64(0xffffffff8f60a000)},
		{"phys_base", vi.PhysBase, int64(-438304768)},
		{"KERNELOFFSET", vi.KernelOffset, uint64(0xe000000)},
		{"CRASHTIME", vi.CrashTime, int64(1700000000)},
		{"VMALLOC_START", vi.Numbers["VMALLOC_START"], int64(-0x370000000000)},
		{"SIZE(page)", vi.Sizes["page"], int64(64)},
		{"LENGTH", vi.Lengths["mem_section"], int64(2048)},
		{"CONFIG", vi.Config["CONFIG_KALLSYMS"], "y"},
		{"keys", len(vi.Keys), 11},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !vi.HasPhysBase || !vi.HasKernelOffset || !vi.HasCrashTime {
		t.Error("presence flags not set")
	}
}

func TestParseVMCOREINFOMalformed(t *testing.T) {
	for _, in := range []string{"garbage line\n", "SYMBOL(x)=zz\n", "PAGESIZE=4095\n", "NUMBER(a)=1.5\n"} {
		vi, err := ParseVMCOREINFO([]byte("OSRELEASE=1\n" + in))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: err = %v", in, err)
		}
		if vi == nil || vi.OSRelease != "1" {
			t.Errorf("%q: good lines lost", in)
		}
	}
}
