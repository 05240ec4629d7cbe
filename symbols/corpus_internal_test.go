package symbols

import (
	"os"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
)

// openTestVmlinux opens the vmlinux at path (the corpus kernel if ""),
// closed when the test ends (closing twice is harmless).
func openTestVmlinux(tb testing.TB, path string, opts ...OpenOption) *Vmlinux {
	tb.Helper()
	if path == "" {
		path = coretest.Path(tb, "kernel/vmlinux")
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := OpenVmlinux(f, f, path, opts...)
	if err != nil {
		f.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// mappedSections waits for the index to be set up and returns the
// mapped DWARF sections, or skips.
func mappedSections(tb testing.TB, v *Vmlinux) *dieSections {
	tb.Helper()
	ty := v.Types()
	if _, err := ty.index(); err != nil {
		tb.Fatal(err)
	}
	if ty.secs == nil {
		tb.Skip("the vmlinux's DWARF is not mapped")
	}
	return ty.secs
}
