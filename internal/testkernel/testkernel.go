// Package testkernel opens the corpus for tests above symbols, vmcore
// and analyze: the corpus vmlinux, a dump, the kernel model of a dump.
// It lives apart from coretest because symbols' and vmcore's own tests
// use coretest, and this package imports them.
package testkernel

import (
	"os"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

// Vmlinux opens the corpus vmlinux for the rest of the test.
func Vmlinux(tb testing.TB) *symbols.Vmlinux {
	tb.Helper()
	p := coretest.Path(tb, "kernel/vmlinux")
	f, err := os.Open(p)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := symbols.OpenVmlinux(f, f, p)
	if err != nil {
		f.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// Dump opens the dump at path for the rest of the test.
func Dump(tb testing.TB, path string) *vmcore.Dump {
	tb.Helper()
	d, err := vmcore.Open(path, vmcore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Kernel models the dump at path with cfg, for the rest of the test:
// what it returns may read the dump when called.
func Kernel(tb testing.TB, path string, cfg analyze.Config) *analyze.Kernel {
	tb.Helper()
	k, err := analyze.Open(Dump(tb, path), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Corpus models corpus dump scenario/dump, with the corpus vmlinux when
// withVmlinux.
func Corpus(tb testing.TB, scenario, dump string, withVmlinux bool) *analyze.Kernel {
	tb.Helper()
	var cfg analyze.Config
	if withVmlinux {
		cfg.Vmlinux = Vmlinux(tb)
	}
	return Kernel(tb, coretest.Path(tb, scenario+"/"+dump), cfg)
}
