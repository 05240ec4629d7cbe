package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/internal/testkernel"
	"github.com/kcrash/kcrash/vmcore"
)

// keptDiff compares which page frames two filtered dumps of the same
// memory keep (hold data for): ours is kcrash's output, theirs
// makedumpfile's, orig the unfiltered input both were made from.
type keptDiff struct {
	bothKept uint64 // data in both
	// bothZero: of bothKept, recorded as all-zero pages (the shared
	// zero page of a kdump file) in both. At bit 1 makedumpfile's kdump
	// output keeps zero pages dumpable with its pd_zero descriptor, and
	// so does kcrash's.
	bothZero    uint64
	bothDropped uint64 // excluded in both
	// Explained difference:
	// beyondRAM: frames no memory section maps (QEMU's ROM and device
	// memory): makedumpfile's dump ends at the kernel's max_mapnr and
	// leaves them out; kcrash keeps every frame it cannot classify.
	beyondRAM uint64
	// Unexplained: kept by one and not the other.
	onlyOurs, onlyTheirs []vmcore.PFN
}

func (d keptDiff) String() string {
	return fmt.Sprintf("kept by both %d (%d of them as zero pages in both), excluded by both %d; explained: %d frames beyond RAM absent from makedumpfile's dump; unexplained: %d kept by kcrash only, %d kept by makedumpfile only",
		d.bothKept, d.bothZero, d.bothDropped, d.beyondRAM, len(d.onlyOurs), len(d.onlyTheirs))
}

func hasData(s vmcore.PageState) bool { return s == vmcore.PagePresent || s == vmcore.PageZero }

// compareKept walks every frame of orig with data and compares what
// ours and theirs keep. mapped tells the frames a memory section maps.
func compareKept(t *testing.T, orig, ours, theirs string, mapped func(vmcore.PFN) bool) keptDiff {
	t.Helper()
	o, a, b := openDumpT(t, orig), openDumpT(t, ours), openDumpT(t, theirs)
	var d keptDiff
	for pg, err := range o.Pages() {
		if err != nil {
			t.Fatal(err)
		}
		if !hasData(pg.State) {
			continue
		}
		sa, sb := a.PageState(pg.PFN), b.PageState(pg.PFN)
		ka, kb := hasData(sa), hasData(sb)
		switch {
		case ka && kb:
			d.bothKept++
			if sa == vmcore.PageZero && sb == vmcore.PageZero {
				d.bothZero++
			}
		case !ka && !kb && sb == vmcore.PageExcluded:
			d.bothDropped++
		case sb == vmcore.PageNotDumped && !mapped(pg.PFN):
			d.beyondRAM++
		case ka:
			d.onlyOurs = append(d.onlyOurs, pg.PFN)
		default:
			d.onlyTheirs = append(d.onlyTheirs, pg.PFN)
		}
	}
	return d
}

// zeroPages counts the frames a dump records as all-zero pages.
func zeroPages(t *testing.T, path string) uint64 {
	t.Helper()
	d, err := vmcore.Open(path, vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n uint64
	for _, s := range d.PageStates() {
		if s == vmcore.PageZero {
			n++
		}
	}
	return n
}

// summaryCount finds the number re's group matches in convert's output.
func summaryCount(t *testing.T, out, re string) uint64 {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("no %q in %q", re, out)
		return 0
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// filterFor classifies orig's pages at level, as convert does.
func filterFor(t *testing.T, orig string, level int) *analyze.PageFilter {
	t.Helper()
	f, err := analyze.FilterPages(openKernelT(t, orig), level)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// memMapped says which frames of orig a present memory section maps
// (the frames makedumpfile's max_mapnr covers).
func memMapped(t *testing.T, orig string) func(vmcore.PFN) bool {
	t.Helper()
	mapped, err := analyze.MemoryMapped(openKernelT(t, orig))
	if err != nil {
		t.Fatal(err)
	}
	return mapped
}

// TestConvertFilterMatchesMakedumpfile converts the unfiltered QEMU
// dump with --filter 31 and compares the frames kept with those
// makedumpfile 1.7.2 kept at -d 31 from the same memory (the committed
// vmcore-d31-zlib.kdump). The only difference allowed is the frames
// beyond the kernel's RAM (QEMU's ROM and device memory), which no
// memory section maps: makedumpfile's max_mapnr ends with the kernel's
// memory map and leaves them out of its dump, convert keeps every frame
// of its input that it cannot classify.
func TestConvertFilterMatchesMakedumpfile(t *testing.T) {
	orig := coretest.Path(t, "qemu-4l/vmcore.elf")
	dir := t.TempDir()
	ours := filepath.Join(dir, "d31.kdump")
	stdout, stderr, code := kcrash(t, "", "convert", "--to", "kdump", "--filter", "31", "--verify", orig, ours)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Logf("%s", stdout)
	if !strings.Contains(stdout, "pages filtered out") {
		t.Errorf("no filtered pages reported: %q", stdout)
	}
	shared := summaryCount(t, stdout, `(\d+) all-zero stored as the shared zero page`)
	if shared == 0 || summaryCount(t, stdout, `(\d+) zero pages dropped`) != 0 {
		t.Errorf("zero pages not reported as stored as the shared zero page: %q", stdout)
	}
	mapped := memMapped(t, orig)
	// makedumpfile 1.7.2 (-c) and 1.7.6 (-z) made these from the same
	// memory.
	for _, name := range []string{"vmcore-d31-zlib.kdump", "vmcore-d31-zstd.kdump"} {
		theirs := coretest.Path(t, "qemu-4l/"+name)
		d := compareKept(t, orig, ours, theirs, mapped)
		t.Logf("%s: %v", name, d)
		if len(d.onlyOurs) > 0 || len(d.onlyTheirs) > 0 {
			t.Errorf("%s: kept sets differ: %v; kcrash only: %v; makedumpfile only: %v", name, d, head(d.onlyOurs), head(d.onlyTheirs))
		}
		if d.bothDropped == 0 || d.bothKept == 0 || d.bothZero == 0 {
			t.Errorf("%s: nothing dropped, kept or kept as a zero page: %v", name, d)
		}
		if n := zeroPages(t, theirs); n != d.bothZero {
			t.Errorf("%s has %d zero pages, %d of them zero pages in kcrash's output too", name, n, d.bothZero)
		}
	}
	// The ELF output keeps the same pages but the zero pages, which it
	// excludes (as makedumpfile's ELF output does): the others are in
	// p_filesz < p_memsz tails.
	elf := filepath.Join(dir, "d31.elf")
	stdout, stderr, code = kcrash(t, "", "convert", "--to", "elf", "--filter", "31", "--verify", orig, elf)
	if code != 0 {
		t.Fatalf("--to elf: exit %d: %s", code, stderr)
	}
	d := compareKept(t, orig, elf, ours, mapped)
	kd, err := vmcore.Open(ours, vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kd.Close()
	var elfZero uint64
	for _, pfn := range d.onlyTheirs {
		if kd.PageState(pfn) == vmcore.PageZero {
			elfZero++
		}
	}
	if len(d.onlyOurs) > 0 || d.beyondRAM > 0 || elfZero != uint64(len(d.onlyTheirs)) ||
		elfZero != shared || summaryCount(t, stdout, `(\d+) zero pages dropped`) != shared {
		t.Errorf("ELF and kdump outputs keep different pages: %v, %d zero pages of the kdump output excluded from the ELF one (%d stored as the shared zero page); ELF: %s",
			d, elfZero, shared, stdout)
	}
	// Re-filtering makedumpfile's -d 31 output at 31 finds nothing more
	// to drop, and keeps its zero pages as zero pages.
	re := filepath.Join(dir, "re.kdump")
	mdf := coretest.Path(t, "qemu-4l/vmcore-d31-zlib.kdump")
	stdout, stderr, code = kcrash(t, "", "convert", "--to", "kdump", "--filter", "31", "--verify", mdf, re)
	if code != 0 {
		t.Fatalf("re-filtering: exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "pages filtered out") || !strings.Contains(stdout, "27727 excluded kept excluded") ||
		summaryCount(t, stdout, `(\d+) all-zero stored as the shared zero page`) != zeroPages(t, mdf) {
		t.Errorf("re-filtering makedumpfile's -d 31 dump: %s", stdout)
	}
	// The header says what was done.
	if lv := kd.Kdump().DumpLevel; lv != 31 {
		t.Errorf("dump_level %d, want 31", lv)
	}
}

func head(p []vmcore.PFN) string {
	var b strings.Builder
	for i, x := range p {
		if i == 8 {
			fmt.Fprintf(&b, " …")
			break
		}
		fmt.Fprintf(&b, " %#x", uint64(x))
	}
	return b.String()
}

// TestPageFilterClasses checks that each class the corpus kernel has
// is found: a filter that finds nothing would pass a comparison of
// empty sets.
func TestPageFilterClasses(t *testing.T) {
	orig := coretest.Path(t, "qemu-4l/vmcore.elf")
	f := filterFor(t, orig, analyze.DumpLevelAll)
	c := f.Counts
	t.Logf("%v", c)
	if c.Cache == 0 || c.User == 0 || c.Free == 0 || c.Scanned == 0 {
		t.Errorf("a class is empty: %v", c)
	}
	if c.Unreadable != 0 {
		t.Errorf("%d struct pages unreadable in an unfiltered dump", c.Unreadable)
	}
	// Each bit alone excludes its class and nothing else's.
	for _, tc := range []struct {
		level int
		want  func(analyze.PageFilterCounts) uint64
	}{
		{analyze.DumpLevelCache, func(x analyze.PageFilterCounts) uint64 { return x.Cache }},
		{analyze.DumpLevelCachePrivate, func(x analyze.PageFilterCounts) uint64 { return x.Cache + x.CachePrivate }},
		{analyze.DumpLevelUser, func(x analyze.PageFilterCounts) uint64 { return x.User }},
		{analyze.DumpLevelFree, func(x analyze.PageFilterCounts) uint64 { return x.Free }},
	} {
		g := filterFor(t, orig, tc.level).Counts
		if n := tc.want(g); n == 0 || n != g.Excluded()-g.HWPoison-g.Offline {
			t.Errorf("level %d: %v", tc.level, g)
		}
	}
	if f.Excluded(0) && f.Excluded(1) && f.Excluded(2) {
		t.Errorf("the first frames (BIOS data) are excluded")
	}
}

// TestConvertFilterBitsMakedumpfile compares each dump-level bit alone
// with makedumpfile run on the same input, when makedumpfile is
// installed (it reads the ELF with its program headers at 0x40).
func TestConvertFilterBitsMakedumpfile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs makedumpfile")
	}
	mdf, err := exec.LookPath("makedumpfile")
	if err != nil {
		t.Skip("no makedumpfile")
	}
	orig := coretest.Path(t, "qemu-4l/vmcore.elf")
	dir := t.TempDir()
	// makedumpfile 1.7.x reads program headers at 0x40 only: give it
	// kcrash's ELF conversion, the same pages.
	in := filepath.Join(dir, "in.elf")
	if _, stderr, code := kcrash(t, "", "convert", "--to", "elf", orig, in); code != 0 {
		t.Fatalf("convert --to elf: %s", stderr)
	}
	mapped := memMapped(t, orig)
	for _, level := range []int{2, 4, 8, 16, 31} {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			theirs := filepath.Join(dir, fmt.Sprintf("mdf-%d.kdump", level))
			out, err := exec.Command(mdf, "-c", "-d", fmt.Sprint(level), in, theirs).CombinedOutput()
			if err != nil {
				t.Skipf("makedumpfile -d %d: %v\n%s", level, err, out)
			}
			ours := filepath.Join(dir, fmt.Sprintf("kcrash-%d.kdump", level))
			if _, stderr, code := kcrash(t, "", "convert", "--to", "kdump", "--filter", fmt.Sprint(level), "--verify", orig, ours); code != 0 {
				t.Fatalf("convert: %s", stderr)
			}
			d := compareKept(t, orig, ours, theirs, mapped)
			t.Logf("-d %d: %v", level, d)
			if len(d.onlyOurs) > 0 || len(d.onlyTheirs) > 0 {
				t.Errorf("kept sets differ: %v; kcrash only: %v; makedumpfile only: %v", d, head(d.onlyOurs), head(d.onlyTheirs))
			}
			if d.bothDropped == 0 {
				t.Errorf("level %d dropped nothing", level)
			}
		})
	}
}

// TestConvertFilterCompareFiles compares the kept pages of a kcrash and
// a makedumpfile output of the same input at level 31, for
// bench/readall.sh: KCRASH_FILTER_COMPARE="ORIG KCRASH MAKEDUMPFILE".
func TestConvertFilterCompareFiles(t *testing.T) {
	files := strings.Fields(os.Getenv("KCRASH_FILTER_COMPARE"))
	if len(files) != 3 {
		t.Skip("KCRASH_FILTER_COMPARE not set")
	}
	d := compareKept(t, files[0], files[1], files[2], memMapped(t, files[0]))
	t.Logf("%v", d)
	if len(d.onlyOurs) > 0 || len(d.onlyTheirs) > 0 {
		t.Errorf("kept sets differ: kcrash only: %v; makedumpfile only: %v", head(d.onlyOurs), head(d.onlyTheirs))
	}
}

var (
	openDumpT   = testkernel.Dump
	openKernelT = func(t *testing.T, p string) *analyze.Kernel { return testkernel.Kernel(t, p, analyze.Config{}) }
)
