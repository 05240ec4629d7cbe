package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/kcrash/kcrash/vmcore"
)

// x86_64 page-table facts (arch/x86/include/asm/pgtable_types.h,
// page_64_types.h; formats.md §1e).
const (
	ptePresent  = 1 << 0
	ptePSE      = 1 << 7 // a huge page at the PUD (1 GiB) or PMD (2 MiB) level
	pteAddrMask = 0x000ffffffffff000

	pageOffsetL4 VirtAddr = 0xffff888000000000 // __PAGE_OFFSET_BASE_L4
	pageOffsetL5 VirtAddr = 0xff11000000000000 // __PAGE_OFFSET_BASE_L5
)

// ErrNotMapped: the page tables have no mapping for the address.
var ErrNotMapped = errors.New("address not mapped")

// levelNames names the page-table levels from the top.
func levelNames(levels int) []string {
	if levels == 5 {
		return []string{"PGD", "P4D", "PUD", "PMD", "PTE"}
	}
	return []string{"PGD", "PUD", "PMD", "PTE"}
}

// WalkStep is one level of a page-table walk.
type WalkStep struct {
	Level     string          // "PGD", "P4D", "PUD", "PMD", "PTE"
	EntryAddr vmcore.PhysAddr // physical address of the entry
	Entry     uint64          // its value
	Table     vmcore.PhysAddr // the table the entry is in
}

// Walk is the result of translating one virtual address.
type Walk struct {
	VA       VirtAddr
	Steps    []WalkStep
	PageSize uint64 // 4 KiB, 2 MiB or 1 GiB
	PA       vmcore.PhysAddr
	// How: "kernel image", "direct map" or "page tables".
	How string
}

type translator struct {
	once       sync.Once
	err        error
	levels     int
	pgd        vmcore.PhysAddr // physical address of init_top_pgt
	pageOffset VirtAddr
	physEnd    uint64 // end of the highest physical range in the dump
}

func (k *Kernel) initTranslation() error {
	k.xlat.once.Do(func() {
		t := &k.xlat
		t.levels = 4
		if k.vi != nil {
			if v, ok := k.vi.Number("pgtable_l5_enabled"); ok && v == 1 {
				t.levels = 5
			}
		}
		var pgdVA uint64
		if k.vi != nil {
			if v, ok := k.vi.Symbol("init_top_pgt"); ok {
				pgdVA = v
			} else if v, ok := k.vi.Symbol("swapper_pg_dir"); ok {
				pgdVA = v
			}
		}
		if pgdVA == 0 {
			if tab, err := k.Symbols(); err == nil {
				if s, ok := tab.Lookup("init_top_pgt"); ok {
					pgdVA = s.Addr
				}
			}
		}
		if pgdVA == 0 {
			t.err = errors.New("kernel page tables unknown: no SYMBOL(swapper_pg_dir) in VMCOREINFO and no symbols")
			return
		}
		pa, ok := k.kernelImagePhys(VirtAddr(pgdVA))
		if !ok {
			t.err = fmt.Errorf("kernel page-table root %#x is outside the kernel image mapping", pgdVA)
			return
		}
		t.pgd = pa
		for _, r := range k.dump.Ranges() {
			t.physEnd = max(t.physEnd, uint64(r.End))
		}
		t.pageOffset = pageOffsetL4
		if t.levels == 5 {
			t.pageOffset = pageOffsetL5
		}
		// With CONFIG_RANDOMIZE_MEMORY the direct map moves; the kernel
		// keeps its base in page_offset_base.
		if tab, err := k.Symbols(); err == nil {
			if s, ok := tab.Lookup("page_offset_base"); ok {
				var b [8]byte
				if err := k.ReadKernelImage(b[:], VirtAddr(s.Addr), "page_offset_base"); err == nil {
					t.pageOffset = VirtAddr(binary.LittleEndian.Uint64(b[:]))
				}
			}
		}
	})
	return k.xlat.err
}

// PageOffset returns the base of the direct map.
func (k *Kernel) PageOffset() (VirtAddr, error) {
	if err := k.initTranslation(); err != nil {
		return 0, err
	}
	return k.xlat.pageOffset, nil
}

// PagingLevels returns 4 or 5.
func (k *Kernel) PagingLevels() int {
	k.initTranslation()
	return k.xlat.levels
}

// directMapSize is how far the direct map reaches: 64 TiB with 4-level
// paging, 4 PiB with 5 (MAX_PHYSMEM_BITS 46/52).
func (t *translator) directMapSize() uint64 {
	if t.levels == 5 {
		return 1 << 52
	}
	return 1 << 46
}

// Translate maps a kernel virtual address to a physical one. The kernel
// image and the direct map are linear; everything else (vmalloc,
// modules, vmemmap, per-CPU areas, fixmap) walks init_top_pgt.
func (k *Kernel) Translate(va VirtAddr) (vmcore.PhysAddr, error) {
	if pa, ok := k.kernelImagePhys(va); ok {
		return pa, nil
	}
	if err := k.initTranslation(); err != nil {
		return 0, &FaultError{Addr: va, Err: err}
	}
	// The direct map reaches no further than the dump's memory: with
	// CONFIG_RANDOMIZE_MEMORY the vmalloc and vmemmap regions may start
	// within directMapSize of page_offset_base, so a wider test would
	// mistake them for direct-map addresses.
	if va >= k.xlat.pageOffset && uint64(va-k.xlat.pageOffset) < min(k.xlat.directMapSize(), k.xlat.physEnd) {
		return vmcore.PhysAddr(va - k.xlat.pageOffset), nil
	}
	w, err := k.WalkPageTables(va)
	if err != nil {
		return 0, err
	}
	return w.PA, nil
}

// WalkPageTables translates va through the kernel's page tables and
// records every level, for vtop.
func (k *Kernel) WalkPageTables(va VirtAddr) (*Walk, error) {
	if err := k.initTranslation(); err != nil {
		return nil, &FaultError{Addr: va, Err: err}
	}
	t := &k.xlat
	w := &Walk{VA: va, How: "page tables"}
	if !canonical(va, t.levels) {
		return w, &FaultError{Addr: va, Err: fmt.Errorf("non-canonical address: %w", ErrNotMapped)}
	}
	table := t.pgd
	names := levelNames(t.levels)
	for i, name := range names {
		shift := 12 + 9*uint(len(names)-1-i)
		idx := (uint64(va) >> shift) & 511
		ea := table + vmcore.PhysAddr(idx*8)
		var b [8]byte
		if _, err := k.dump.ReadAt(b[:], ea); err != nil {
			return w, &FaultError{Addr: va, What: name + " entry", Err: err}
		}
		e := binary.LittleEndian.Uint64(b[:])
		w.Steps = append(w.Steps, WalkStep{Level: name, EntryAddr: ea, Entry: e, Table: table})
		if e&ptePresent == 0 {
			return w, &FaultError{Addr: va, What: name + " entry", Err: fmt.Errorf("%s entry %#x not present: %w", name, e, ErrNotMapped)}
		}
		last := i == len(names)-1
		if !last && e&ptePSE != 0 && (name == "PUD" || name == "PMD") {
			w.PageSize = 1 << shift
			w.PA = vmcore.PhysAddr(e&pteAddrMask&^(w.PageSize-1) | uint64(va)&(w.PageSize-1))
			return w, nil
		}
		if last {
			w.PageSize = 4096
			w.PA = vmcore.PhysAddr(e&pteAddrMask | uint64(va)&4095)
			return w, nil
		}
		table = vmcore.PhysAddr(e & pteAddrMask)
	}
	return w, nil
}

func canonical(va VirtAddr, levels int) bool {
	bits := uint(48)
	if levels == 5 {
		bits = 57
	}
	top := uint64(va) >> (bits - 1)
	return top == 0 || top == (1<<(65-bits))-1
}

// ReadVirtual reads kernel virtual memory, translating page by page.
func (k *Kernel) ReadVirtual(p []byte, va VirtAddr, what string) error {
	done := 0
	for done < len(p) {
		a := va + VirtAddr(done)
		pa, err := k.Translate(a)
		if err != nil {
			var fe *FaultError
			if errors.As(err, &fe) && fe.What == "" {
				fe.What = what
			}
			return err
		}
		n := min(len(p)-done, int(4096-uint64(a)%4096))
		if _, err := k.dump.ReadAt(p[done:done+n], pa); err != nil {
			return &FaultError{Addr: a, What: what, Err: err}
		}
		done += n
	}
	return nil
}
