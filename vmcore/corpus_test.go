package vmcore_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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

// TestCorpusTruncated cuts every real dump at 10%, 50% and 99% of its
// length: each must still open, warn with the physical ranges it lost,
// fail reads there with ErrNotInDump, and read the rest as before.
func TestCorpusTruncated(t *testing.T) {
	for _, sc := range coretest.Scenarios(t) {
		for _, name := range coretest.Dumps(t, sc) {
			path := coretest.Path(t, sc+"/"+name)
			full := openCorpus(t, sc, name)
			for _, pct := range []int64{10, 50, 99} {
				t.Run(fmt.Sprintf("%s/%s/%d%%", sc, name, pct), func(t *testing.T) {
					f, err := os.Open(path)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					cut := full.Size() * pct / 100
					d, err := vmcore.New(io.NewSectionReader(f, 0, cut), cut, vmcore.Options{})
					if err != nil {
						t.Fatalf("truncated dump does not open: %v", err)
					}
					miss := d.Missing()
					if len(miss) == 0 {
						t.Fatalf("no missing ranges reported; warnings: %q", d.Warnings())
					}
					if !strings.Contains(strings.Join(d.Warnings(), "\n"), "truncated") {
						t.Errorf("no truncation warning: %q", d.Warnings())
					}
					buf := make([]byte, 8)
					for _, m := range miss {
						for _, a := range []vmcore.PhysAddr{m.Start, m.End - 1} {
							if _, err := d.ReadAt(buf, a); !errors.Is(err, vmcore.ErrNotInDump) {
								t.Fatalf("read %#x in missing range %#x-%#x: %v", a, m.Start, m.End, err)
							}
						}
					}
					checkSurvivors(t, full, d, miss)
				})
			}
		}
	}
}

// checkSurvivors: pages outside the missing ranges read as in the full
// dump (a sample of them, spread over memory).
func checkSurvivors(t *testing.T, full, cut *vmcore.Dump, miss []vmcore.Range) {
	ps := full.PageSize()
	a, b := make([]byte, ps), make([]byte, ps)
	checked := 0
	for _, r := range full.Ranges() {
		step := max(ps, (r.Len()/64)&^(ps-1))
		for addr := uint64(r.Start) &^ (ps - 1); addr < uint64(r.End); addr += step {
			pa := vmcore.PhysAddr(addr)
			lost := false
			for _, m := range miss {
				lost = lost || (pa+vmcore.PhysAddr(ps) > m.Start && pa < m.End)
			}
			if _, err := full.ReadAt(a, pa); err != nil || lost {
				continue
			}
			if _, err := cut.ReadAt(b, pa); err != nil {
				t.Fatalf("page %#x readable in the full dump, not missing, but fails after the cut: %v", addr, err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("page %#x differs after the cut", addr)
			}
			checked++
		}
	}
	if checked == 0 && cut.Size() > full.Size()/2 {
		t.Errorf("no surviving page checked")
	}
}
