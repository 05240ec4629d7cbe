package vmcore_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

func openCorpus(t *testing.T, scenario, dump string) *vmcore.Dump {
	t.Helper()
	d, err := vmcore.Open(coretest.Path(t, scenario+"/"+dump), vmcore.Options{})
	if err != nil {
		t.Fatalf("%s/%s: %v", scenario, dump, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestCorpusOpens checks that every real dump opens cleanly and carries
// what a crash needs: CPUs, VMCOREINFO, memory.
func TestCorpusOpens(t *testing.T) {
	for _, sc := range coretest.Scenarios(t) {
		for _, dump := range coretest.Dumps(t, sc) {
			t.Run(sc+"/"+dump, func(t *testing.T) {
				d := openCorpus(t, sc, dump)
				if w := d.Warnings(); len(w) > 0 {
					t.Errorf("warnings on a good dump: %q", w)
				}
				if len(d.CPUs()) == 0 {
					t.Error("no NT_PRSTATUS notes")
				}
				vi := d.VMCOREINFO()
				if vi == nil || vi.OSRelease == "" || !vi.HasKernelOffset || !vi.HasPhysBase {
					t.Fatalf("VMCOREINFO incomplete: %+v", vi)
				}
				if d.PageSize() != 4096 || len(d.Ranges()) == 0 {
					t.Errorf("page size %d, %d ranges", d.PageSize(), len(d.Ranges()))
				}
			})
		}
	}
}

// TestCorpusCrossFormat compares every page of every format of one crash
// with every other: pages both contain must be identical, and a page one
// format excluded must read as excluded there, never as zeros.
func TestCorpusCrossFormat(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every page of every dump")
	}
	for _, sc := range coretest.Scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			dumps := coretest.Dumps(t, sc)
			opened := map[string]*vmcore.Dump{}
			for _, name := range dumps {
				opened[name] = openCorpus(t, sc, name)
			}
			ref := dumps[0]
			for _, name := range dumps {
				if name == "vmcore.elf" {
					ref = name
				}
			}
			for _, name := range dumps {
				if name == ref {
					continue
				}
				stats := comparePages(t, opened[ref], opened[name], ref, name)
				t.Logf("%s vs %s: %s", ref, name, stats)
				if stats.compared == 0 {
					t.Errorf("%s vs %s: no page in common", ref, name)
				}
			}
		})
	}
}

type compareStats struct{ compared, excluded, onlyRef, onlyOther, zero int }

func (s compareStats) String() string {
	return fmt.Sprintf("%d pages identical, %d excluded in the other (all report ErrExcluded), %d zero, %d only in reference, %d only in the other",
		s.compared, s.excluded, s.zero, s.onlyRef, s.onlyOther)
}

func comparePages(t *testing.T, a, b *vmcore.Dump, an, bn string) compareStats {
	t.Helper()
	var st compareStats
	ps := a.PageSize()
	pa, pb := make([]byte, ps), make([]byte, ps)
	seen := map[vmcore.PFN]bool{}
	failures := 0
	fail := func(format string, args ...any) {
		failures++
		if failures <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, d := range []*vmcore.Dump{a, b} {
		for _, r := range d.Ranges() {
			for pfn := vmcore.PFN(uint64(r.Start) / ps); uint64(pfn)*ps < uint64(r.End); pfn++ {
				if seen[pfn] {
					continue
				}
				seen[pfn] = true
				addr := vmcore.PhysAddr(uint64(pfn) * ps)
				sa, sb := a.PageState(pfn), b.PageState(pfn)
				_, ea := a.ReadAt(pa, addr)
				_, eb := b.ReadAt(pb, addr)
				checkStateMatchesRead(fail, an, pfn, sa, ea)
				checkStateMatchesRead(fail, bn, pfn, sb, eb)
				switch {
				case ea == nil && eb == nil:
					if !bytes.Equal(pa, pb) {
						fail("pfn %#x: %s and %s differ", pfn, an, bn)
					}
					st.compared++
					if sa == vmcore.PageZero || sb == vmcore.PageZero {
						st.zero++
					}
				case ea == nil && errors.Is(eb, vmcore.ErrExcluded):
					st.excluded++
				case ea == nil:
					st.onlyRef++
				case eb == nil:
					st.onlyOther++
				}
			}
		}
	}
	return st
}

// checkStateMatchesRead: PageState and ReadAt must tell the same story.
func checkStateMatchesRead(fail func(string, ...any), name string, pfn vmcore.PFN, s vmcore.PageState, err error) {
	switch s {
	case vmcore.PagePresent, vmcore.PageZero:
		if err != nil {
			fail("%s pfn %#x: state %v but read fails: %v", name, pfn, s, err)
		}
	case vmcore.PageExcluded:
		if !errors.Is(err, vmcore.ErrExcluded) {
			fail("%s pfn %#x: excluded but read gives %v", name, pfn, err)
		}
	default:
		if !errors.Is(err, vmcore.ErrNotInDump) {
			fail("%s pfn %#x: not dumped but read gives %v", name, pfn, err)
		}
	}
}
