package analyze

import (
	"debug/dwarf"
	"errors"
	"fmt"

	"github.com/kcrash/kcrash/symbols"
)

// MemInfo holds the figures of crash's "kmem -i" (memory.c
// dump_kmeminfo), all in pages.
type MemInfo struct {
	TotalRAM, Free, Shared, Buffers, Cached, Slab uint64

	HasHuge             bool // hstates[] exists
	HugeTotal, HugeFree uint64

	HasSwap             bool // swap_info exists
	SwapTotal, SwapUsed uint64

	HasCommit              bool // sysctl_overcommit_memory exists
	CommitLimit, Committed uint64
}

// ReadMemInfo gathers the "kmem -i" figures the way crash does:
// totalram_pages; free pages from every zone's vm_stat[NR_FREE_PAGES];
// shared pages by walking mem_map (non-reserved pages with a reference
// count above one); buffers as the block-device inodes' page caches
// (nr_blockdev_pages); cached as NR_FILE_PAGES less swap cache and
// buffers; slab from the NR_SLAB_*_B node counters; hugetlb from
// hstates[]; swap from swap_info[]; the commit limit from the overcommit
// sysctls and vm_committed_as.
func ReadMemInfo(k *Kernel) (*MemInfo, error) {
	if k.vmlinux == nil {
		return nil, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	m := &MemInfo{}
	var err error
	if m.TotalRAM, err = totalRAMPages(k); err != nil {
		return nil, err
	}
	if m.Free, err = freePages(k, ty); err != nil {
		return nil, err
	}
	if m.Shared, err = sharedPages(k, ty); err != nil {
		return nil, err
	}
	if m.Buffers, err = blockdevPages(k, ty); err != nil {
		return nil, err
	}
	if file, ok, err := vmStat(k, ty, "NR_FILE_PAGES"); err != nil {
		return nil, err
	} else if ok {
		swapCache, _, err := vmStat(k, ty, "NR_SWAPCACHE")
		if err != nil {
			return nil, err
		}
		c := file - swapCache - int64(m.Buffers)
		if c > 0 {
			m.Cached = uint64(c)
		}
	}
	for _, names := range [][]string{{"NR_SLAB"}, {"NR_SLAB_RECLAIMABLE", "NR_SLAB_UNRECLAIMABLE"}, {"NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B"}} {
		v, ok, err := vmStat(k, ty, names[0])
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for _, n := range names[1:] {
			w, _, err := vmStat(k, ty, n)
			if err != nil {
				return nil, err
			}
			v += w
		}
		m.Slab = uint64(v)
		break
	}
	if err := hugePages(k, ty, m); err != nil {
		return nil, err
	}
	if err := swapPages(k, ty, m); err != nil {
		return nil, err
	}
	if err := commitLimit(k, ty, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (k *Kernel) lookup(name string) (VirtAddr, bool) {
	tab, err := k.Symbols()
	if err != nil {
		return 0, false
	}
	s, ok := tab.Lookup(name)
	return VirtAddr(s.Addr), ok
}

// totalRAMPages reads _totalram_pages (atomic_long_t, 5.0+) or the older
// totalram_pages.
func totalRAMPages(k *Kernel) (uint64, error) {
	for _, n := range []string{"_totalram_pages", "totalram_pages"} {
		if a, ok := k.lookup(n); ok {
			return k.ReadU64(a, n)
		}
	}
	return 0, errNoSymbol("_totalram_pages")
}

// vmStat reads one vmstat counter by its enumerator name: from
// vm_zone_stat[], vm_node_stat[] or vm_numa_stat[] according to the
// enum it belongs to (the split of 4.8, commit 75ef71840539 "mm,
// vmstat: add infrastructure for per-node vmstats"), or the older
// vm_stat[]. ok is false when the kernel has no such counter.
func vmStat(k *Kernel, ty *symbols.Types, name string) (v int64, ok bool, err error) {
	idx, et, err := ty.LookupEnumerator(name)
	if err != nil {
		return 0, false, nil
	}
	arr := "vm_stat"
	if et != nil {
		switch et.EnumName {
		case "zone_stat_item":
			arr = "vm_zone_stat"
		case "node_stat_item":
			arr = "vm_node_stat"
		case "numa_stat_item":
			arr = "vm_numa_stat"
		}
	}
	a, found := k.lookup(arr)
	if !found {
		if a, found = k.lookup("vm_stat"); !found {
			return 0, false, nil
		}
	}
	x, err := k.ReadU64(a+VirtAddr(idx*8), arr)
	if err != nil {
		return 0, false, err
	}
	return int64(x), true, nil
}

// pgdats returns the memory nodes' pglist_data addresses.
func pgdats(k *Kernel) ([]VirtAddr, error) {
	if a, ok := k.lookup("contig_page_data"); ok {
		return []VirtAddr{a}, nil
	}
	nd, ok := k.lookup("node_data")
	if !ok {
		return nil, errNoSymbol("node_data")
	}
	var out []VirtAddr
	for i := range 1024 {
		p, err := k.ReadPtr(nd+VirtAddr(i*8), "node_data")
		if err != nil {
			break
		}
		if p != 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// freePages sums vm_stat[NR_FREE_PAGES] of every zone of every node, as
// crash's dump_free_pages_zones_v2 (GET_FREE_PAGES).
func freePages(k *Kernel, ty *symbols.Types) (uint64, error) {
	zonesOff, zonesSize, err := member(ty, "pglist_data", "node_zones")
	if err != nil {
		return 0, err
	}
	zone, err := ty.Struct("zone")
	if err != nil {
		return 0, err
	}
	vmOff, _, err := member(ty, "zone", "vm_stat")
	if err != nil {
		return 0, err
	}
	nrFree, _, err := ty.LookupEnumerator("NR_FREE_PAGES")
	if err != nil {
		nrFree = 0
	}
	nodes, err := pgdats(k)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, p := range nodes {
		for z := range zonesSize / uint64(zone.Size()) {
			v, err := k.ReadU64(p+VirtAddr(zonesOff+z*uint64(zone.Size())+vmOff+uint64(nrFree)*8), "node_zones free_pages")
			if err != nil {
				return 0, err
			}
			sum += v
		}
	}
	return sum, nil
}

// sharedPages walks every present memory section's struct pages, as
// crash's dump_mem_map (GET_SHARED_PAGES): a page counts as shared when
// it is not PG_reserved and its _refcount is above one.
func sharedPages(k *Kernel, ty *symbols.Types) (uint64, error) {
	vi := k.vi
	if vi == nil {
		return 0, errors.New("no VMCOREINFO to locate mem_section")
	}
	msAddr, ok := vi.Symbol("mem_section")
	if !ok {
		return 0, errors.New("mem_map walk needs SPARSEMEM (SYMBOL(mem_section))")
	}
	sectionBits, ok1 := vi.Numbers["SECTION_SIZE_BITS"]
	physBits, ok2 := vi.Numbers["MAX_PHYSMEM_BITS"]
	pageSize, ok3 := vi.Sizes["page"]
	refOff, ok4 := vi.Offsets["page._refcount"]
	msSize, ok5 := vi.Sizes["mem_section"]
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || msSize <= 0 || pageSize <= 0 {
		return 0, errors.New("VMCOREINFO lacks the mem_section layout")
	}
	reserved, _, err := ty.LookupEnumerator("PG_reserved")
	if err != nil {
		return 0, fmt.Errorf("PG_reserved: %w", err)
	}
	const (
		sectionMarkedPresent = 1 << 0
		sectionMapMask       = ^uint64((1 << 5) - 1) // SECTION_MAP_LAST_BIT (crash)
	)
	pagesPerSection := uint64(1) << (sectionBits - 12)
	nrSections := uint64(1) << (physBits - sectionBits)
	perRoot := 4096 / uint64(msSize) // SPARSEMEM_EXTREME: SECTIONS_PER_ROOT
	var shared uint64
	buf := make([]byte, pagesPerSection*uint64(pageSize))
	for root := uint64(0); root*perRoot < nrSections; root++ {
		// crash's read_mem_section treats an unreadable root or section
		// (makedumpfile drops the zero-filled pages of mem_section) as
		// absent.
		ra, err := k.ReadU64(VirtAddr(msAddr+root*8), "mem_section root")
		if err != nil || ra == 0 {
			continue
		}
		for i := range perRoot {
			nr := root*perRoot + i
			mm, err := k.ReadU64(VirtAddr(ra+i*uint64(msSize)), "mem_section section_mem_map")
			if err != nil || mm&sectionMarkedPresent == 0 {
				continue
			}
			pages := VirtAddr(mm&sectionMapMask + nr*pagesPerSection*uint64(pageSize))
			if err := k.ReadVirtual(buf, pages, "page struct cache"); err != nil {
				// crash reads the cache page by page and skips what fails.
				shared += sharedInPieces(k, pages, buf, uint64(pageSize), uint64(refOff), reserved)
				continue
			}
			shared += countShared(buf, uint64(pageSize), uint64(refOff), reserved)
		}
	}
	return shared, nil
}

func countShared(buf []byte, pageSize, refOff uint64, reserved int64) uint64 {
	var n uint64
	for off := uint64(0); off+pageSize <= uint64(len(buf)); off += pageSize {
		flags := readUint(buf[off:], 8)
		if flags&(1<<reserved) != 0 {
			continue
		}
		if int32(readUint(buf[off+refOff:], 4)) > 1 {
			n++
		}
	}
	return n
}

func sharedInPieces(k *Kernel, pages VirtAddr, buf []byte, pageSize, refOff uint64, reserved int64) uint64 {
	for off := 0; off < len(buf); {
		a := pages + VirtAddr(off)
		n := min(len(buf)-off, int(4096-uint64(a)%4096))
		if err := k.ReadVirtual(buf[off:off+n], a, "page struct"); err != nil {
			clear(buf[off : off+n])
		}
		off += n
	}
	return countShared(buf, pageSize, refOff, reserved)
}

// blockdevPages is nr_blockdev_pages(): the page-cache pages of every
// block device inode. Kernels with all_bdevs list struct block_device
// there; later ones (5.9+, as crash's nr_blockdev_pages_v2) keep only
// the bdev pseudo-filesystem's inodes, blockdev_superblock->s_inodes.
func blockdevPages(k *Kernel, ty *symbols.Types) (uint64, error) {
	imap, _, err := member(ty, "inode", "i_mapping")
	if err != nil {
		return 0, err
	}
	nrpages, _, err := member(ty, "address_space", "nrpages")
	if err != nil {
		return 0, err
	}
	if all, ok := k.lookup("all_bdevs"); ok {
		// Before 5.9: struct block_device on all_bdevs, bd_inode.
		bdList, _, err := member(ty, "block_device", "bd_list")
		if err != nil {
			return 0, err
		}
		bdInode, _, err := member(ty, "block_device", "bd_inode")
		if err != nil {
			return 0, err
		}
		var sum uint64
		for node, err := range ListForEach(k, all, "all_bdevs") {
			if err != nil {
				return 0, err
			}
			in, err := k.ReadPtr(node-VirtAddr(bdList)+VirtAddr(bdInode), "block_device bd_inode")
			if err != nil {
				return 0, err
			}
			v, err := inodePages(k, in, imap, nrpages)
			if err != nil {
				return 0, err
			}
			sum += v
		}
		return sum, nil
	}
	sbp, ok := k.lookup("blockdev_superblock")
	if !ok {
		return 0, nil
	}
	sb, err := k.ReadPtr(sbp, "blockdev_superblock")
	if err != nil {
		return 0, err
	}
	sInodes, _, err := member(ty, "super_block", "s_inodes")
	if err != nil {
		return 0, err
	}
	link, _, err := member(ty, "inode", "i_sb_list")
	if err != nil {
		return 0, err
	}
	head := sb + VirtAddr(sInodes)
	var sum uint64
	for node, err := range ListForEach(k, head, "blockdev_superblock.s_inodes") {
		if err != nil {
			return 0, err
		}
		v, err := inodePages(k, node-VirtAddr(link), imap, nrpages)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

func inodePages(k *Kernel, inode VirtAddr, imap, nrpages uint64) (uint64, error) {
	as, err := k.ReadPtr(inode+VirtAddr(imap), "inode i_mapping")
	if err != nil {
		return 0, err
	}
	return k.ReadU64(as+VirtAddr(nrpages), "address_space nrpages")
}

// hugePages sums hstates[]: nr_huge_pages and free_huge_pages scaled by
// each hstate's order, as crash's get_hugetlb_total_pages, which
// reports zero huge pages (rather than none) for a kernel without
// hugetlbfs.
func hugePages(k *Kernel, ty *symbols.Types, m *MemInfo) error {
	a, ok := k.lookup("hstates")
	if !ok {
		m.HasHuge = true
		for _, n := range []string{"nr_huge_pages", "free_huge_pages"} {
			if _, ok := k.lookup(n); !ok {
				return nil
			}
		}
		t, err := k.symU64("nr_huge_pages")
		if err != nil {
			return err
		}
		f, err := k.symU64("free_huge_pages")
		if err != nil {
			return err
		}
		m.HugeTotal, m.HugeFree = t<<9, f<<9 // 2 MiB pages
		return nil
	}
	hs, err := ty.Struct("hstate")
	if err != nil {
		return nil
	}
	order, _, err1 := member(ty, "hstate", "order")
	nr, _, err2 := member(ty, "hstate", "nr_huge_pages")
	free, _, err3 := member(ty, "hstate", "free_huge_pages")
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil
	}
	v, err := ty.LookupVar("hstates")
	if err != nil {
		return err
	}
	n := int64(1)
	if at, ok := symbols.Unqualify(v.Type).(*dwarf.ArrayType); ok {
		n = at.Count
	}
	m.HasHuge = true
	for i := range n {
		h := a + VirtAddr(i*hs.Size())
		o, err := k.ReadU32(h+VirtAddr(order), "hstate_order")
		if err != nil {
			return err
		}
		if o == 0 {
			continue
		}
		t, err := k.ReadU64(h+VirtAddr(nr), "hstate_nr_huge_pages")
		if err != nil {
			return err
		}
		f, err := k.ReadU64(h+VirtAddr(free), "hstate_free_huge_pages")
		if err != nil {
			return err
		}
		m.HugeTotal += t << o
		m.HugeFree += f << o
	}
	return nil
}

// swapPages totals the used swap areas of swap_info[] (SWP_USED):
// pages and inuse_pages.
func swapPages(k *Kernel, ty *symbols.Types, m *MemInfo) error {
	si, ok := k.lookup("swap_info")
	if !ok {
		return nil
	}
	m.HasSwap = true
	n, err := k.symU32("nr_swapfiles")
	if err != nil {
		return err
	}
	flags, fsz, err1 := member(ty, "swap_info_struct", "flags")
	pages, _, err2 := member(ty, "swap_info_struct", "pages")
	inuse, isz, err3 := member(ty, "swap_info_struct", "inuse_pages")
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	for i := range min(n, 1024) {
		p, err := k.ReadPtr(si+VirtAddr(i*8), "swap_info pointer")
		if err != nil || p == 0 {
			continue
		}
		b := make([]byte, 8)
		if err := k.ReadVirtual(b[:fsz], p+VirtAddr(flags), "swap_info_struct flags"); err != nil {
			return err
		}
		if readUint(b, int(fsz))&1 == 0 { // SWP_USED
			continue
		}
		t, err := k.ReadU32(p+VirtAddr(pages), "swap_info_struct pages")
		if err != nil {
			return err
		}
		if err := k.ReadVirtual(b[:isz], p+VirtAddr(inuse), "swap_info_struct inuse_pages"); err != nil {
			return err
		}
		m.SwapTotal += uint64(t)
		m.SwapUsed += readUint(b, int(isz))
	}
	return nil
}

// commitLimit is CommitLimit and Committed_AS of /proc/meminfo:
// sysctl_overcommit_kbytes, or (totalram - hugetlb) * ratio / 100, plus
// swap; vm_committed_as.count (never below zero).
func commitLimit(k *Kernel, ty *symbols.Types, m *MemInfo) error {
	if _, ok := k.lookup("sysctl_overcommit_memory"); !ok {
		return nil
	}
	var allowed uint64
	kb, _ := k.symU64("sysctl_overcommit_kbytes")
	if kb != 0 {
		allowed = kb >> 2
	} else {
		ratio, err := k.symU32("sysctl_overcommit_ratio")
		if err != nil {
			return err
		}
		if !m.HasHuge {
			return nil
		}
		allowed = (m.TotalRAM - m.HugeTotal) * uint64(ratio) / 100
	}
	a, ok := k.lookup("vm_committed_as")
	if !ok {
		return nil
	}
	cnt, _, err := member(ty, "percpu_counter", "count")
	if err != nil {
		return err
	}
	c, err := k.ReadU64(a+VirtAddr(cnt), "percpu_counter count")
	if err != nil {
		return err
	}
	if int64(c) < 0 {
		c = 0
	}
	m.HasCommit = true
	m.CommitLimit = allowed + m.SwapTotal
	m.Committed = c
	return nil
}
