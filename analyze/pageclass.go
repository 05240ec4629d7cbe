package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kcrash/kcrash/vmcore"
)

// Dump level bits (makedumpfile's -d), the ones that need the kernel's
// struct pages. Bit 1 (zero pages) needs only the page data and is the
// writer's business (vmcore.WriteOptions.DropZero).
const (
	DumpLevelZero         = 1  // pages filled with zeros
	DumpLevelCache        = 2  // page cache without private data
	DumpLevelCachePrivate = 4  // page cache, private data or not
	DumpLevelUser         = 8  // user process data: anonymous and hugetlbfs pages
	DumpLevelFree         = 16 // free pages of the buddy allocator
	DumpLevelAll          = 31
)

// PageFilterCounts says what a PageFilter decided, in page frames.
type PageFilterCounts struct {
	Cache        uint64 // page cache without private data (bit 2, or 4)
	CachePrivate uint64 // page cache with private data (bit 4)
	User         uint64 // anonymous and hugetlbfs pages (bit 8)
	Free         uint64 // buddy-allocator free pages, unaccepted memory included (bit 16)
	HWPoison     uint64 // PG_hwpoison pages: excluded at any level that reads struct pages
	Offline      uint64 // logically offline pages (balloon, virtio-mem): likewise
	// Scanned counts the struct pages read and classified.
	Scanned uint64
	// Unreadable counts frames whose struct page could not be read (or
	// whose memory section's struct pages could not be): kept, since
	// nothing says they may go.
	Unreadable uint64
	// NoMemMap counts frames of the dump in no present memory section:
	// kept, as there is no struct page to classify them by.
	NoMemMap uint64
	// BadOrder counts free blocks with an order beyond the buddy
	// allocator's: kept, as makedumpfile keeps them.
	BadOrder uint64
}

// Excluded is the number of frames the filter excludes.
func (c PageFilterCounts) Excluded() uint64 {
	return c.Cache + c.CachePrivate + c.User + c.Free + c.HWPoison + c.Offline
}

func (c PageFilterCounts) String() string {
	return fmt.Sprintf("%d struct pages read: %d excluded (%d cache, %d cache with private data, %d user data, %d free, %d hwpoison, %d offline); kept unclassified: %d unreadable struct pages, %d frames without a memory map, %d free blocks of bad order",
		c.Scanned, c.Excluded(), c.Cache, c.CachePrivate, c.User, c.Free, c.HWPoison, c.Offline, c.Unreadable, c.NoMemMap, c.BadOrder)
}

// PageFilter is the set of page frames a dump level excludes, found by
// reading the crashed kernel's struct pages (mem_map, through the
// SPARSEMEM mem_section table) and classifying them by makedumpfile's
// rules (its __exclude_unnecessary_pages, 1.7.x).
type PageFilter struct {
	Level  int
	Counts PageFilterCounts

	secShift uint                // log2 of the pages per memory section
	bits     map[uint64][]uint64 // section number → excluded-frame bitmap
}

// Excluded reports whether the filter leaves out page frame pfn.
func (f *PageFilter) Excluded(pfn vmcore.PFN) bool {
	if f == nil {
		return false
	}
	b := f.bits[uint64(pfn)>>f.secShift]
	if b == nil {
		return false
	}
	i := uint64(pfn) & (1<<f.secShift - 1)
	return b[i/64]&(1<<(i%64)) != 0
}

func (f *PageFilter) exclude(pfn uint64) {
	sec := pfn >> f.secShift
	b := f.bits[sec]
	if b == nil {
		b = make([]uint64, max(1, (uint64(1)<<f.secShift)/64))
		f.bits[sec] = b
	}
	i := pfn & (1<<f.secShift - 1)
	b[i/64] |= 1 << (i % 64)
}

// pageLayout is what classification needs to know about struct page,
// all from VMCOREINFO.
type pageLayout struct {
	size                        uint64
	flags, mapping              uint64
	mapcount, private, compHead int64 // -1: unknown
	orderOff, dtorOff           int64 // in the struct page after the head; -1: unknown
	orderWide                   bool  // compound_order/dtor are 16 bits (4.4-4.15)

	pgLRU, pgPrivate, pgSwapCache uint
	pgSwapBacked, pgSlab          int64 // -1: unknown
	pgBuddy, pgHWPoison           int64
	pgHugetlb                     int64
	headMask                      uint64

	buddy, offline, slabMC, hugetlbMC, unaccepted int64
	hasBuddy, hasOffline, hasSlabMC               bool
	hasHugetlbMC, hasUnaccepted                   bool
	hugetlbDtor, freeHugePage                     uint64
	hasHugetlbDtor, hasFreeHugePage               bool
	freeAreaLen                                   int64 // LENGTH(zone.free_area); 0: unknown
}

// isHugetlbMark is the dtor value that says "hugetlb" on kernels that
// record it as a page type or flag rather than a destructor.
const isHugetlbMark = ^uint64(0)

func newPageLayout(vi *vmcore.VMCoreInfo, level int) (*pageLayout, error) {
	l := &pageLayout{mapcount: -1, private: -1, compHead: -1, orderOff: -1, dtorOff: -1,
		pgSwapBacked: -1, pgSlab: -1, pgBuddy: -1, pgHWPoison: -1, pgHugetlb: -1}
	var missing []string
	size, ok := vi.Sizes["page"]
	if !ok {
		missing = append(missing, "SIZE(page)")
	}
	off := func(name string, required bool) int64 {
		v, ok := vi.Offsets[name]
		if !ok {
			if required {
				missing = append(missing, "OFFSET("+name+")")
			}
			return -1
		}
		return v
	}
	flags := off("page.flags", true)
	mapping := off("page.mapping", level&(DumpLevelCache|DumpLevelCachePrivate|DumpLevelUser) != 0)
	l.mapcount = off("page._mapcount", false)
	l.private = off("page.private", false)
	l.compHead = off("page.compound_head", false)
	num := func(name string) (int64, bool) {
		v, ok := vi.Numbers[name]
		return v, ok
	}
	bit := func(name string, required bool) int64 {
		v, ok := num(name)
		if !ok {
			if required {
				missing = append(missing, "NUMBER("+name+")")
			}
			return -1
		}
		return v
	}
	needCache := level&(DumpLevelCache|DumpLevelCachePrivate) != 0
	lru := bit("PG_lru", needCache)
	priv := bit("PG_private", level&DumpLevelCache != 0)
	swc := bit("PG_swapcache", needCache)
	l.pgSwapBacked = bit("PG_swapbacked", false)
	l.pgSlab = bit("PG_slab", false)
	l.pgBuddy = bit("PG_buddy", false)
	l.pgHWPoison = bit("PG_hwpoison", false)
	l.pgHugetlb = bit("PG_hugetlb", false)
	if v, ok := num("PG_head_mask"); ok {
		l.headMask = uint64(v)
	}
	l.buddy, l.hasBuddy = num("PAGE_BUDDY_MAPCOUNT_VALUE")
	l.offline, l.hasOffline = num("PAGE_OFFLINE_MAPCOUNT_VALUE")
	l.slabMC, l.hasSlabMC = num("PAGE_SLAB_MAPCOUNT_VALUE")
	l.hugetlbMC, l.hasHugetlbMC = num("PAGE_HUGETLB_MAPCOUNT_VALUE")
	l.unaccepted, l.hasUnaccepted = num("PAGE_UNACCEPTED_MAPCOUNT_VALUE")
	if v, ok := num("HUGETLB_PAGE_DTOR"); ok {
		l.hugetlbDtor, l.hasHugetlbDtor = uint64(v), true
	}
	l.freeHugePage, l.hasFreeHugePage = vi.Symbol("free_huge_page")
	l.freeAreaLen = vi.Lengths["zone.free_area"]
	if len(missing) > 0 {
		return nil, fmt.Errorf("VMCOREINFO lacks %s", strings.Join(missing, ", "))
	}
	if level&DumpLevelFree != 0 {
		hasMC := l.mapcount >= 0 && l.hasBuddy
		if l.private < 0 || (!hasMC && l.pgBuddy < 0) {
			return nil, errors.New("free pages (dump level 16) need OFFSET(page.private) and NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE) with OFFSET(page._mapcount), or NUMBER(PG_buddy), in VMCOREINFO; walking the free lists instead is not implemented")
		}
		if hasMC {
			l.pgBuddy = -1 // 2.6.38+: the page type, not a flag
		}
	}
	if size < 16 || size > 1024 {
		return nil, fmt.Errorf("SIZE(page)=%d: not a struct page size", size)
	}
	l.size = uint64(size)
	for name, o := range map[string]int64{"flags": flags, "mapping": mapping, "private": l.private, "compound_head": l.compHead} {
		if o >= 0 && o+8 > size {
			return nil, fmt.Errorf("OFFSET(page.%s)=%d lies outside SIZE(page)=%d", name, o, size)
		}
	}
	if l.mapcount >= 0 && l.mapcount+4 > size {
		return nil, fmt.Errorf("OFFSET(page._mapcount)=%d lies outside SIZE(page)=%d", l.mapcount, size)
	}
	l.flags = uint64(flags)
	l.mapping = uint64(max(mapping, 0))
	for name, b := range map[string]int64{"PG_lru": lru, "PG_private": priv, "PG_swapcache": swc,
		"PG_swapbacked": l.pgSwapBacked, "PG_slab": l.pgSlab, "PG_buddy": l.pgBuddy, "PG_hwpoison": l.pgHWPoison, "PG_hugetlb": l.pgHugetlb} {
		if b >= 64 || b < -1 {
			return nil, fmt.Errorf("NUMBER(%s)=%d: not a page flag bit", name, b)
		}
	}
	// A bit that is unknown here is only ever tested when its level is
	// off; 63 keeps the shift defined.
	l.pgLRU, l.pgPrivate, l.pgSwapCache = uint(max(lru, 0)), uint(max(priv, 0)), uint(max(swc, 0))

	// Where a compound page keeps its order and destructor: in the
	// struct page after the head (folio fields from 6.3).
	ver := kernelVersion(vi.OSRelease)
	if o, ok := vi.Offsets["folio._folio_order"]; ok {
		l.orderOff = o - size
	} else if o, ok := vi.Offsets["page.compound_order"]; ok {
		l.orderOff = o
	}
	if o, ok := vi.Offsets["folio._folio_dtor"]; ok {
		l.dtorOff = o - size
	} else if o, ok := vi.Offsets["page.compound_dtor"]; ok {
		l.dtorOff = o
	}
	l.orderWide = ver != 0 && ver < kver(4, 16)
	if ver != 0 && ver < kver(4, 4) {
		// Older layouts (the order in lru.prev, the destructor an
		// address) are not supported: compound pages are classified by
		// their head alone.
		l.orderOff, l.dtorOff = -1, -1
	}
	if l.orderOff < 0 || l.orderOff+2 > size {
		l.orderOff = -1
	}
	if l.dtorOff < 0 || l.dtorOff+2 > size {
		l.dtorOff = -1
	}
	return l, nil
}

func kver(a, b int) int { return a<<16 | b<<8 }

// kernelVersion parses "6.1.192-kcrash" into kver(6, 1); 0 if it cannot.
func kernelVersion(rel string) int {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0
	}
	a, err1 := strconv.Atoi(parts[0])
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	b, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return 0
	}
	return kver(a, b)
}

func (l *pageLayout) isSlab(flags uint64, mapcount int32) bool {
	if l.hasSlabMC && int64(mapcount) == int64(int32(l.slabMC)) {
		return true
	}
	return l.pgSlab >= 0 && flags&(1<<uint(l.pgSlab)) != 0
}

func (l *pageLayout) isCache(flags uint64) bool {
	if flags&(1<<l.pgLRU) != 0 {
		return true
	}
	// PG_swapcache means it only together with PG_swapbacked, on the
	// kernels that have PG_swapbacked (4.10+).
	return (l.pgSwapBacked < 0 || flags&(1<<uint(l.pgSwapBacked)) != 0) && flags&(1<<l.pgSwapCache) != 0
}

func (l *pageLayout) isHugetlb(dtor uint64) bool {
	return dtor == isHugetlbMark || (l.hasHugetlbDtor && dtor == l.hugetlbDtor) || (l.hasFreeHugePage && dtor == l.freeHugePage)
}

// pageClass is one page's verdict.
type pageClass int

const (
	classKeep pageClass = iota
	classTail           // a compound tail page: its head decides
	classCache
	classCachePrivate
	classUser
	classFree
	classHWPoison
	classOffline
	classBadOrder
)

// classify decides for the struct page s of frame pfn (next: the struct
// page after it, nil when unreadable) and returns how many frames from
// pfn the verdict covers.
func (l *pageLayout) classify(level int, pfn uint64, s, next []byte) (pageClass, uint64) {
	le := binary.LittleEndian
	flags := le.Uint64(s[l.flags:])
	mapping := le.Uint64(s[l.mapping:])
	var mapcount int32
	if l.mapcount >= 0 {
		mapcount = int32(le.Uint32(s[l.mapcount:]))
	}
	var private, compHead uint64
	if l.private >= 0 {
		private = le.Uint64(s[l.private:])
	}
	if l.compHead >= 0 {
		compHead = le.Uint64(s[l.compHead:])
	}
	order, dtor := uint64(0), uint64(0)
	if flags&l.headMask != 0 && next != nil {
		switch {
		case l.hasHugetlbMC:
			order = le.Uint64(next[l.flags:]) & 0xff
			if int64(mapcount) == int64(int32(l.hugetlbMC)) {
				dtor = isHugetlbMark
			}
		case l.pgHugetlb >= 0:
			f1 := le.Uint64(next[l.flags:])
			order = f1 & 0xff
			if f1&(1<<uint(l.pgHugetlb)) != 0 {
				dtor = isHugetlbMark
			}
		default:
			if l.orderOff >= 0 {
				order = uint64(next[l.orderOff])
				if l.orderWide {
					order = uint64(le.Uint16(next[l.orderOff:]))
				}
			}
			if l.dtorOff >= 0 {
				dtor = uint64(next[l.dtorOff])
				if l.orderWide {
					dtor = uint64(le.Uint16(next[l.dtorOff:]))
				}
			}
		}
		if order >= 64 || pfn&(1<<order-1) != 0 {
			order = 0
		}
	}
	if compHead&1 != 0 {
		return classTail, 1
	}
	n := uint64(1) << order
	anon := mapping&1 != 0 && !l.isSlab(flags, mapcount) // PAGE_MAPPING_ANON
	private_ := flags&(1<<l.pgPrivate) != 0
	switch {
	case level&DumpLevelFree != 0 && l.isBuddy(flags, mapcount):
		if l.freeAreaLen > 0 && private >= uint64(l.freeAreaLen) || l.freeAreaLen <= 0 && private > 20 {
			return classBadOrder, 1
		}
		return classFree, 1 << private
	case level&DumpLevelFree != 0 && l.hasUnaccepted && l.freeAreaLen > 0 && l.freeAreaLen <= 64 &&
		int64(mapcount) == int64(int32(l.unaccepted)):
		return classFree, 1 << (l.freeAreaLen - 1)
	case level&DumpLevelCache != 0 && l.isCache(flags) && !private_ && !anon:
		return classCache, n
	case level&DumpLevelCachePrivate != 0 && l.isCache(flags) && !anon:
		if private_ {
			return classCachePrivate, n
		}
		return classCache, n
	case level&DumpLevelUser != 0 && (anon || l.isHugetlb(dtor)):
		return classUser, n
	case l.pgHWPoison >= 0 && flags&(1<<uint(l.pgHWPoison)) != 0:
		return classHWPoison, n
	case l.hasOffline && !l.isSlab(flags, mapcount) && int64(mapcount) == int64(int32(l.offline)):
		return classOffline, n
	}
	return classKeep, 1
}

func (l *pageLayout) isBuddy(flags uint64, mapcount int32) bool {
	if l.pgBuddy >= 0 {
		return flags&(1<<uint(l.pgBuddy)) != 0
	}
	return l.hasBuddy && l.mapcount >= 0 && !l.isSlab(flags, mapcount) && int64(mapcount) == int64(int32(l.buddy))
}

// pfnSpan is a run of frames [start, end).
type pfnSpan struct{ start, end uint64 }

// dumpSpans are the frames whose first byte the dump's ranges cover,
// merged and sorted: the frames makedumpfile looks at (is_in_segs).
func dumpSpans(d *vmcore.Dump) []pfnSpan {
	ps := d.PageSize()
	var out []pfnSpan
	for _, r := range d.Ranges() {
		if r.End <= r.Start {
			continue
		}
		s := (uint64(r.Start) + ps - 1) / ps
		e := uint64(r.End) / ps
		if uint64(r.End)%ps != 0 {
			e++ // the last, partial page starts inside the range
		}
		if s < e {
			out = append(out, pfnSpan{s, e})
		}
	}
	slices.SortFunc(out, func(a, b pfnSpan) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	var merged []pfnSpan
	for _, s := range out {
		if n := len(merged); n > 0 && s.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// memSections finds the struct page array of each memory section:
// VMCOREINFO's SYMBOL(mem_section) with SPARSEMEM_EXTREME roots, as the
// kernel publishes it for makedumpfile.
type memSections struct {
	k         *Kernel
	root      uint64 // address of the root array (EXTREME) or of the section array
	extreme   bool
	perRoot   uint64
	msSize    uint64
	mapOff    uint64
	pageSize  uint64 // struct page
	pfnShift  uint   // log2 pages per section
	nrRoots   uint64
	rootCache map[uint64][]byte // root number → its sections, nil if absent
}

const (
	sectionMarkedPresent = 1 << 0
	sectionMapMask       = ^uint64(1<<5 - 1) // SECTION_MAP_LAST_BIT from 4.13; earlier flags fit too
)

func newMemSections(k *Kernel, l *pageLayout, pageShift uint) (*memSections, error) {
	vi := k.vi
	ms, ok := vi.Symbol("mem_section")
	if !ok {
		return nil, errors.New("VMCOREINFO has no SYMBOL(mem_section): only SPARSEMEM kernels are supported")
	}
	sectionBits, ok1 := vi.Numbers["SECTION_SIZE_BITS"]
	physBits, ok2 := vi.Numbers["MAX_PHYSMEM_BITS"]
	msSize, ok3 := vi.Sizes["mem_section"]
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("VMCOREINFO lacks NUMBER(SECTION_SIZE_BITS), NUMBER(MAX_PHYSMEM_BITS) or SIZE(mem_section)")
	}
	if sectionBits <= int64(pageShift) || sectionBits > 40 || physBits < sectionBits || physBits > 57 || msSize < 8 || msSize > 4096 {
		return nil, fmt.Errorf("implausible memory-section layout: SECTION_SIZE_BITS=%d MAX_PHYSMEM_BITS=%d SIZE(mem_section)=%d", sectionBits, physBits, msSize)
	}
	mapOff := uint64(max(vi.Offsets["mem_section.section_mem_map"], 0))
	if mapOff+8 > uint64(msSize) {
		return nil, fmt.Errorf("OFFSET(mem_section.section_mem_map)=%d lies outside SIZE(mem_section)=%d", mapOff, msSize)
	}
	m := &memSections{k: k, root: ms, msSize: uint64(msSize), mapOff: mapOff, pageSize: l.size,
		pfnShift: uint(sectionBits) - pageShift, rootCache: map[uint64][]byte{}}
	nrSections := uint64(1) << (physBits - sectionBits)
	perRootExtreme := (uint64(1) << pageShift) / uint64(msSize)
	length, hasLen := vi.Lengths["mem_section"]
	m.extreme = !hasLen || uint64(length) == (nrSections+perRootExtreme-1)/perRootExtreme
	if m.extreme {
		m.perRoot = perRootExtreme
	} else {
		m.perRoot = 1
	}
	m.nrRoots = (nrSections + m.perRoot - 1) / m.perRoot
	return m, nil
}

// section returns the address of the struct page of the section's first
// frame, or ok false when the section has no memory map.
func (m *memSections) section(nr uint64) (uint64, bool) {
	r := nr / m.perRoot
	if r >= m.nrRoots {
		return 0, false
	}
	secs, cached := m.rootCache[r]
	if !cached {
		var base uint64
		if m.extreme {
			p, err := m.k.ReadU64(VirtAddr(m.root+r*8), "mem_section root")
			if err == nil {
				base = p
			}
		} else {
			base = m.root + r*m.msSize
		}
		if base != 0 {
			secs = make([]byte, m.perRoot*m.msSize)
			if err := m.k.ReadVirtual(secs, VirtAddr(base), "mem_section"); err != nil {
				secs = nil
			}
		}
		m.rootCache[r] = secs
	}
	if secs == nil {
		return 0, false
	}
	i := nr % m.perRoot
	v := binary.LittleEndian.Uint64(secs[i*m.msSize+m.mapOff:])
	if v&sectionMarkedPresent == 0 {
		return 0, false
	}
	coded := v & sectionMapMask
	// The kernel stores mem_map minus the section's first frame's offset.
	mm := coded + (nr<<m.pfnShift)*m.pageSize
	if mm < 1<<63 { // not a kernel address
		return 0, false
	}
	return mm, true
}

// readStructPages reads n bytes of struct pages at va into buf,
// translating once per mapping (vmemmap is mapped with 2 MiB pages, so a
// section's struct pages usually take one read). bad collects the byte
// ranges that could not be read.
func (k *Kernel) readStructPages(buf []byte, va VirtAddr) (bad []pfnSpan) {
	done := uint64(0)
	for done < uint64(len(buf)) {
		a := va + VirtAddr(done)
		n := min(uint64(len(buf))-done, 4096-uint64(a)%4096)
		pa, span, err := k.translateSpan(a)
		if err == nil {
			n = min(uint64(len(buf))-done, span)
			if _, err = k.dump.ReadAt(buf[done:done+n], pa); err != nil && n > 4096-uint64(a)%4096 {
				// Part of the span failed: read it page by page.
				for off := uint64(0); off < n; {
					m := min(n-off, 4096-uint64(a+VirtAddr(off))%4096)
					if _, err := k.dump.ReadAt(buf[done+off:done+off+m], pa+vmcore.PhysAddr(off)); err != nil {
						bad = addBad(bad, done+off, done+off+m)
					}
					off += m
				}
				done += n
				continue
			}
		}
		if err != nil {
			bad = addBad(bad, done, done+n)
		}
		done += n
	}
	return bad
}

// addBad appends the byte range [start, end) to bad, merging it with the
// last range when they touch.
func addBad(bad []pfnSpan, start, end uint64) []pfnSpan {
	if n := len(bad); n > 0 && bad[n-1].end == start {
		bad[n-1].end = end
		return bad
	}
	return append(bad, pfnSpan{start, end})
}

// translateSpan translates va and says how many bytes from it are
// physically contiguous (to the end of its mapping page).
func (k *Kernel) translateSpan(va VirtAddr) (vmcore.PhysAddr, uint64, error) {
	if pa, ok := k.kernelImagePhys(va); ok {
		return pa, 4096 - uint64(va)%4096, nil
	}
	if err := k.initTranslation(); err != nil {
		return 0, 0, err
	}
	t := &k.xlat
	if va >= t.pageOffset && uint64(va-t.pageOffset) < min(t.directMapSize(), t.physEnd) {
		return vmcore.PhysAddr(va - t.pageOffset), t.physEnd - uint64(va-t.pageOffset), nil
	}
	w, err := k.WalkPageTables(va)
	if err != nil {
		return 0, 0, err
	}
	return w.PA, w.PageSize - uint64(va)%w.PageSize, nil
}

// FilterPages classifies every page frame of the dump that a memory
// section maps by its struct page and returns those the dump level
// excludes. Only VMCOREINFO is needed (SPARSEMEM kernels). A struct
// page that cannot be read keeps its frame; Counts says how many.
func FilterPages(k *Kernel, level int) (*PageFilter, error) {
	if level < 0 || level > DumpLevelAll {
		return nil, fmt.Errorf("dump level %d: want 0 to 31", level)
	}
	f := &PageFilter{Level: level, bits: map[uint64][]uint64{}}
	vi := k.vi
	if vi == nil {
		return nil, errors.New("the dump has no VMCOREINFO: the struct page layout is unknown")
	}
	l, err := newPageLayout(vi, level)
	if err != nil {
		return nil, err
	}
	ps := k.dump.PageSize()
	pageShift := uint(0)
	for uint64(1)<<pageShift < ps {
		pageShift++
	}
	if ps == 0 || uint64(1)<<pageShift != ps {
		return nil, fmt.Errorf("page size %d is not a power of two", ps)
	}
	ms, err := newMemSections(k, l, pageShift)
	if err != nil {
		return nil, err
	}
	f.secShift = ms.pfnShift
	perSec := uint64(1) << ms.pfnShift

	// Struct pages are read in chunks of up to 2 MiB (plus the struct
	// page after the chunk, which a compound head at its end needs).
	chunkPages := max(1, (2<<20)/l.size)
	buf := make([]byte, (chunkPages+1)*l.size)
	count := func(c pageClass, n uint64) {
		switch c {
		case classCache:
			f.Counts.Cache += n
		case classCachePrivate:
			f.Counts.CachePrivate += n
		case classUser:
			f.Counts.User += n
		case classFree:
			f.Counts.Free += n
		case classHWPoison:
			f.Counts.HWPoison += n
		case classOffline:
			f.Counts.Offline += n
		}
	}
	spans := dumpSpans(k.dump)
	for si, sp := range spans {
		for sec := sp.start >> ms.pfnShift; sec<<ms.pfnShift < sp.end; sec++ {
			secStart := sec << ms.pfnShift
			secEnd := secStart + perSec
			lo, hi := max(sp.start, secStart), min(sp.end, secEnd)
			// The frames of this section in this span; a previous span
			// may have covered the section too, so pfn restarts per span.
			mm, ok := ms.section(sec)
			if !ok {
				f.Counts.NoMemMap += hi - lo
				continue
			}
			pfn := lo
			for pfn < hi {
				n := min(chunkPages, hi-pfn)
				extra := uint64(0)
				if pfn+n < secEnd {
					extra = 1
				}
				b := buf[:(n+extra)*l.size]
				bad := k.readStructPages(b, VirtAddr(mm+(pfn-secStart)*l.size))
				readable := func(i uint64) bool {
					if i >= n+extra {
						return false
					}
					for _, r := range bad {
						if r.start < (i+1)*l.size && i*l.size < r.end {
							return false
						}
					}
					return true
				}
				chunkEnd := pfn + n
				for pfn < chunkEnd {
					i := pfn - (chunkEnd - n)
					if !readable(i) {
						f.Counts.Unreadable++
						pfn++
						continue
					}
					f.Counts.Scanned++
					var next []byte
					if readable(i + 1) {
						next = b[(i+1)*l.size : (i+2)*l.size]
					}
					c, cnt := l.classify(level, pfn, b[i*l.size:(i+1)*l.size], next)
					switch c {
					case classKeep, classTail:
						pfn++
						continue
					case classBadOrder:
						f.Counts.BadOrder++
						pfn++
						continue
					}
					// The verdict covers cnt frames (a compound page or a
					// free block): all of them go, and classification
					// resumes after them, as makedumpfile's does.
					end := pfn + cnt
					if end < pfn {
						end = ^uint64(0) // a bogus order: to the end of the dump
					}
					count(c, f.excludeRange(spans[si:], pfn, end))
					pfn = end
				}
			}
		}
	}
	return f, nil
}

// excludeRange excludes the dump's frames in [start, end) (spans are
// the dump's frames from the one holding start) and returns how many it
// newly excluded.
func (f *PageFilter) excludeRange(spans []pfnSpan, start, end uint64) uint64 {
	var n uint64
	for _, s := range spans {
		if s.start >= end {
			break
		}
		for q := max(s.start, start); q < min(s.end, end); q++ {
			if !f.Excluded(vmcore.PFN(q)) {
				f.exclude(q)
				n++
			}
		}
	}
	return n
}

// MemoryMapped returns a test for whether a present memory section (one
// with struct pages) covers a page frame: the frames a page filter can
// classify.
func MemoryMapped(k *Kernel) (func(vmcore.PFN) bool, error) {
	if k.vi == nil {
		return nil, errors.New("the dump has no VMCOREINFO")
	}
	size, ok := k.vi.Sizes["page"]
	if !ok || size < 16 || size > 1024 {
		return nil, errors.New("VMCOREINFO lacks a plausible SIZE(page)")
	}
	ps := k.dump.PageSize()
	shift := uint(0)
	for uint64(1)<<shift < ps {
		shift++
	}
	ms, err := newMemSections(k, &pageLayout{size: uint64(size)}, shift)
	if err != nil {
		return nil, err
	}
	return func(pfn vmcore.PFN) bool {
		_, ok := ms.section(uint64(pfn) >> ms.pfnShift)
		return ok
	}, nil
}
