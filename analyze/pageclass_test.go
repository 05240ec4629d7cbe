package analyze

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// The 6.1 kernel's layout (testdata/cores/qemu-4l/vmcoreinfo.txt), with
// hwpoison and offline pages added.
const testPageInfo = `OSRELEASE=6.1.192
PAGESIZE=4096
SIZE(page)=64
OFFSET(page.flags)=0
OFFSET(page._refcount)=52
OFFSET(page.mapping)=24
OFFSET(page.lru)=8
OFFSET(page._mapcount)=48
OFFSET(page.private)=40
OFFSET(page.compound_dtor)=16
OFFSET(page.compound_order)=17
OFFSET(page.compound_head)=8
LENGTH(zone.free_area)=11
NUMBER(PG_lru)=4
NUMBER(PG_private)=13
NUMBER(PG_swapcache)=10
NUMBER(PG_swapbacked)=19
NUMBER(PG_slab)=9
NUMBER(PG_head_mask)=65536
NUMBER(PG_hwpoison)=22
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=-257
NUMBER(HUGETLB_PAGE_DTOR)=2
`

type testPage struct {
	flags, mapping, private, compHead uint64
	mapcount                          int32
	order, dtor                       uint8 // written into the next struct page
}

func (p testPage) bytes() (s, next []byte) {
	s, next = make([]byte, 64), make([]byte, 64)
	le := binary.LittleEndian
	le.PutUint64(s[0:], p.flags)
	le.PutUint64(s[24:], p.mapping)
	le.PutUint64(s[40:], p.private)
	le.PutUint64(s[8:], p.compHead)
	le.PutUint32(s[48:], uint32(p.mapcount))
	next[17], next[16] = p.order, p.dtor
	return s, next
}

func TestClassifyPage(t *testing.T) {
	vi, err := vmcore.ParseVMCOREINFO([]byte(testPageInfo))
	if err != nil {
		t.Fatal(err)
	}
	l, err := newPageLayout(vi, DumpLevelAll)
	if err != nil {
		t.Fatal(err)
	}
	const (
		lru, private, swapcache, swapbacked, slab, head, hwpoison = 1 << 4, 1 << 13, 1 << 10, 1 << 19, 1 << 9, 1 << 16, 1 << 22
		file, anon                                                = 0xffff888000001000, 0xffff888000002001
	)
	tests := []struct {
		name  string
		level int
		pfn   uint64
		p     testPage
		want  pageClass
		n     uint64
	}{
		{"file cache", 31, 7, testPage{flags: lru, mapping: file}, classCache, 1},
		{"file cache, bit 4 only", 4, 7, testPage{flags: lru, mapping: file}, classCache, 1},
		{"private cache at 2", 2, 7, testPage{flags: lru | private, mapping: file}, classKeep, 1},
		{"private cache at 4", 4, 7, testPage{flags: lru | private, mapping: file}, classCachePrivate, 1},
		{"swap cache", 2, 7, testPage{flags: swapcache | swapbacked, mapping: file}, classCache, 1},
		{"swapcache bit without swapbacked", 2, 7, testPage{flags: swapcache, mapping: file}, classKeep, 1},
		{"anonymous on the LRU at 2", 2, 7, testPage{flags: lru, mapping: anon}, classKeep, 1},
		{"anonymous", 8, 7, testPage{flags: lru | swapbacked, mapping: anon}, classUser, 1},
		{"slab with the anon bit", 8, 7, testPage{flags: slab, mapping: anon}, classKeep, 1},
		{"anonymous THP", 8, 512, testPage{flags: head | lru, mapping: anon, order: 9}, classUser, 512},
		{"misaligned order", 8, 513, testPage{flags: head | lru, mapping: anon, order: 9}, classUser, 1},
		{"hugetlbfs", 8, 1024, testPage{flags: head, mapping: file, order: 9, dtor: 2}, classUser, 512},
		{"compound tail", 31, 7, testPage{flags: lru, mapping: anon, compHead: 0xffffea0000000001}, classTail, 1},
		{"free block", 16, 64, testPage{mapcount: -129, private: 6}, classFree, 64},
		{"free block at 8", 8, 64, testPage{mapcount: -129, private: 6}, classKeep, 1},
		{"free block, order too big", 16, 0, testPage{mapcount: -129, private: 11}, classBadOrder, 1},
		{"slab is not free", 16, 64, testPage{flags: slab, mapcount: -129, private: 6}, classKeep, 1},
		{"hwpoison at any level", 2, 7, testPage{flags: hwpoison}, classHWPoison, 1},
		{"offline at any level", 2, 7, testPage{mapcount: -257}, classOffline, 1},
		{"kernel page", 31, 7, testPage{flags: 1 << 10 /* not alone */, mapping: 0}, classKeep, 1},
		{"reserved", 31, 7, testPage{flags: 1 << 12}, classKeep, 1},
	}
	for _, tc := range tests {
		s, next := tc.p.bytes()
		c, n := l.classify(tc.level, tc.pfn, s, next)
		if c != tc.want || n != tc.n {
			t.Errorf("%s: class %d ×%d, want %d ×%d", tc.name, c, n, tc.want, tc.n)
		}
	}
}

func TestPageLayoutRefusals(t *testing.T) {
	for _, tc := range []struct {
		drop  string
		level int
		err   string
	}{
		{"PAGE_BUDDY_MAPCOUNT_VALUE", 16, "walking the free lists"},
		{"PG_lru", 2, "NUMBER(PG_lru)"},
		{"OFFSET(page.mapping)", 8, "OFFSET(page.mapping)"},
		{"SIZE(page)", 2, "SIZE(page)"},
	} {
		var kept []string
		for _, line := range strings.Split(testPageInfo, "\n") {
			if !strings.Contains(line, tc.drop) {
				kept = append(kept, line)
			}
		}
		vi, err := vmcore.ParseVMCOREINFO([]byte(strings.Join(kept, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := newPageLayout(vi, tc.level); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("without %s at level %d: %v, want %q", tc.drop, tc.level, err, tc.err)
		}
	}
	vi, _ := vmcore.ParseVMCOREINFO([]byte(strings.Replace(testPageInfo, "SIZE(page)=64", "SIZE(page)=1000000", 1)))
	if _, err := newPageLayout(vi, 31); err == nil {
		t.Error("accepted SIZE(page)=1000000")
	}
}

func TestKernelVersion(t *testing.T) {
	for rel, want := range map[string]int{"6.1.192-kcrash": kver(6, 1), "4.15": kver(4, 15), "5.10rc1": kver(5, 10), "x": 0} {
		if got := kernelVersion(rel); got != want {
			t.Errorf("%q: %#x, want %#x", rel, got, want)
		}
	}
}

// TestFilterPagesUnreadable removes one page of struct pages from the
// corpus dump: the 64 frames it describes must be kept and counted as
// unreadable, and nothing else excluded that was kept before.
func TestFilterPagesUnreadable(t *testing.T) {
	path := coretest.Path(t, "qemu-4l/vmcore.elf")
	d, err := vmcore.Open(path, vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	k, err := Open(d, Config{})
	if err != nil {
		t.Fatal(err)
	}
	full, err := FilterPages(k, DumpLevelAll)
	if err != nil {
		t.Fatal(err)
	}
	if full.Counts.Unreadable != 0 || full.Counts.Excluded() == 0 {
		t.Fatalf("unfiltered dump: %v", full.Counts)
	}
	// The struct pages of frames 0x4000-0x403f (a free block in this
	// dump, or anything else: they are all classified).
	const victim = 0x4000
	ms, err := newMemSections(k, &pageLayout{size: 64}, 12)
	if err != nil {
		t.Fatal(err)
	}
	mm, ok := ms.section(victim >> ms.pfnShift)
	if !ok {
		t.Fatal("no memory map for frame 0x4000")
	}
	pa, _, err := k.translateSpan(VirtAddr(mm + victim*64))
	if err != nil {
		t.Fatal(err)
	}
	gone := vmcore.PFN(uint64(pa) / 4096)
	out := filepath.Join(t.TempDir(), "holed.elf")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vmcore.WriteELF(f, d, vmcore.WriteOptions{Exclude: func(p vmcore.PFN) bool { return p == gone }}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h, err := vmcore.Open(out, vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	hk, err := Open(h, Config{})
	if err != nil {
		t.Fatal(err)
	}
	holed, err := FilterPages(hk, DumpLevelAll)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("full: %v\nholed: %v", full.Counts, holed.Counts)
	if holed.Counts.Unreadable != 64 {
		t.Errorf("%d unreadable struct pages, want 64", holed.Counts.Unreadable)
	}
	for p := vmcore.PFN(victim); p < victim+64; p++ {
		if holed.Excluded(p) {
			t.Errorf("frame %#x excluded though its struct page is unreadable", uint64(p))
		}
	}
	// Without a head's struct page its block's other frames are judged
	// alone (a free block's other struct pages do not say "free"), so
	// fewer go; but never one the full classification keeps.
	for p := range d.PageStates() {
		if holed.Excluded(p) && !full.Excluded(p) {
			t.Fatalf("frame %#x excluded only with the hole", uint64(p))
		}
	}
	if holed.Counts.Excluded() >= full.Counts.Excluded() {
		t.Errorf("excluded %d with the hole, %d without", holed.Counts.Excluded(), full.Counts.Excluded())
	}
}
