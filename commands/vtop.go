package commands

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

func vtopCommand() Command {
	return Command{
		Name:     "vtop",
		Summary:  "virtual to physical",
		Synopsis: "vtop address ...",
		Help: `  This command translates a kernel virtual address to its physical address.
  It walks the kernel page tables (init_top_pgt) level by level and shows
  each entry, the flags of the last one, and the struct page of the
  physical page (its mapping, index, reference count and flags).

    address  a hexadecimal kernel virtual address.

  The kernel image and the direct map translate linearly, as crash does, but
  the walk is shown for them too.  An address the page tables do not map is
  "(not mapped)", with the walk up to the level that failed.  User addresses
  (-u, a task's page tables) are not supported yet.

  EXAMPLES
    Translate a kernel text address (a 2 MB page):

      kcrash> vtop ffffffff8bbce3a7
      VIRTUAL           PHYSICAL        
      ffffffff8bbce3a7  59ce3a7         

      PGD DIRECTORY: ffffffff8c40a000
      PAGE DIRECTORY: 620c067
         PUD: 620cff0 => 620d063
         PMD: 620d2e8 => 58001e1
        PAGE: 5800000  (2MB)

        PTE    PHYSICAL  FLAGS
      58001e1   5800000  (PRESENT|ACCESSED|DIRTY|PSE|GLOBAL)

            PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS
      ffffc9f640167380  59ce000                0        0  1 1000 reserved`,
		Run: runVtop,
	}
}

func ptovCommand() Command {
	return Command{
		Name:     "ptov",
		Summary:  "physical to virtual",
		Synopsis: "ptov address ...",
		Help: `  This command translates a hexadecimal physical address into its kernel
  direct-map virtual address, or a per-CPU offset into each CPU's address
  of it.

        address  a physical address.
  offset:cpuspec  a per-CPU offset with a CPU specification: "" for the
                 panic CPU, "a" or "all", or a list such as "0,2-3".

  EXAMPLES
    Translate physical address 0x1000:

      kcrash> ptov 1000
      VIRTUAL           PHYSICAL        
      ffff8f0640001000  1000            `,
		Run: runPtov,
	}
}

func runPtov(ctx context.Context, env *Env, args []string) error {
	_, operands, err := getopt(args, "")
	if err != nil || len(operands) == 0 {
		return &UsageError{Msg: "a physical address is required"}
	}
	po, err := env.Kernel.PageOffset()
	if err != nil {
		return err
	}
	var b strings.Builder
	defer func() { io.WriteString(env.Out, b.String()) }()
	for i, a := range operands {
		if off, spec, ok := strings.Cut(a, ":"); ok {
			if err := ptovPerCPU(&b, env, off, spec, i > 0); err != nil {
				return err
			}
			continue
		}
		pa, err := parseHex(a)
		if err != nil {
			return fmt.Errorf("invalid input: %q", a)
		}
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%-16s  %-16s\n", "VIRTUAL", "PHYSICAL")
		fmt.Fprintf(&b, "%-16x  %-16x\n", uint64(po)+pa, pa)
	}
	return nil
}

// x86_64 layout facts crash's IS_VMALLOC_ADDR uses (crash defs.h;
// arch/x86/include/asm/pgtable_64_types.h).
const (
	vmallocBaseL4  = 0xffffc90000000000
	vmallocBaseL5  = 0xffa0000000000000
	vmemmapBaseL4  = 0xffffea0000000000
	vmemmapBaseL5  = 0xffd4000000000000
	modulesEnd     = 0xffffffffff000000
	cpuEntryArea   = 0xfffffe0000000000
	cpuEntryEnd    = 0xfffffe7fffffffff
	vsyscallStart  = 0xffffffffff600000
	vsyscallEnd    = 0xffffffffff601000
	sectionShift   = 27 - 12 // SECTION_SIZE_BITS - PAGE_SHIFT
	startKernelMap = 0xffffffff80000000
)

// kernelLayout is what vtop needs about the kernel's address space.
type kernelLayout struct {
	levels               int
	pageOffset           uint64
	vmallocStart, vmEnd  uint64
	vmemmap, vmemmapEnd  uint64
	modules              uint64
	pgdVA                uint64 // init_top_pgt
	maxPhysBits          uint
	physBase             int64
	havePGD, haveVmemmap bool
}

func readKernelVar(k *analyze.Kernel, tab *symbols.Table, name string) (uint64, bool) {
	s, ok := tab.Lookup(name)
	if !ok {
		return 0, false
	}
	var b [8]byte
	if err := k.ReadKernelImage(b[:], analyze.VirtAddr(s.Addr), name); err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

func newKernelLayout(k *analyze.Kernel) (*kernelLayout, error) {
	po, err := k.PageOffset()
	if err != nil {
		return nil, err
	}
	l := &kernelLayout{levels: k.PagingLevels(), pageOffset: uint64(po), physBase: k.PhysBase()}
	l.vmallocStart, l.vmemmap, l.maxPhysBits = vmallocBaseL4, vmemmapBaseL4, 46
	size := uint64(32 << 40) // VMALLOC_SIZE_TB 32
	memmapSize := uint64(1 << 40)
	if l.levels == 5 {
		l.vmallocStart, l.vmemmap, l.maxPhysBits = vmallocBaseL5, vmemmapBaseL5, 52
		size, memmapSize = 12800<<40, 1<<49
	}
	tab, err := k.Symbols()
	if err == nil {
		if v, ok := readKernelVar(k, tab, "vmalloc_base"); ok {
			l.vmallocStart = v
		}
		if v, ok := readKernelVar(k, tab, "vmemmap_base"); ok {
			l.vmemmap = v
		}
		l.haveVmemmap = true
		if s, ok := tab.Lookup("init_top_pgt"); ok {
			l.pgdVA, l.havePGD = s.Addr, true
		}
	}
	if !l.havePGD && k.VMCOREINFO() != nil {
		if v, ok := k.VMCOREINFO().Symbol("init_top_pgt"); ok {
			l.pgdVA, l.havePGD = v, true
		}
	}
	l.vmEnd = l.vmallocStart + size - 1
	l.vmemmapEnd = l.vmemmap + memmapSize - 1
	image := uint64(1 << 30)
	if vi := k.VMCOREINFO(); vi != nil {
		if v, ok := vi.Number("KERNEL_IMAGE_SIZE"); ok && v > 0 {
			image = uint64(v)
		}
	}
	l.modules = startKernelMap + image
	return l, nil
}

// isVmalloc is crash's x86_64_IS_VMALLOC_ADDR: addresses only the page
// tables can translate.
func (l *kernelLayout) isVmalloc(va uint64) bool {
	return va >= l.vmallocStart && va <= l.vmEnd ||
		va >= l.vmemmap && va <= l.vmemmapEnd ||
		va >= l.modules && va <= modulesEnd ||
		va >= vsyscallStart && va < vsyscallEnd ||
		va >= cpuEntryArea && va <= cpuEntryEnd ||
		l.levels == 5 && va > l.vmEnd && va < l.vmemmap
}

// linear is crash's x86_64_VTOP.
func (l *kernelLayout) linear(va uint64) uint64 {
	if va >= startKernelMap {
		return uint64(int64(va-startKernelMap) + l.physBase)
	}
	return va - l.pageOffset
}

func isKernelVA(va uint64, levels int) bool {
	bits := uint(47)
	if levels == 5 {
		bits = 56
	}
	return va>>bits == (1<<(64-bits))-1
}

func runVtop(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "ukc:")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	for _, o := range opts {
		if o.c != 'k' {
			return fmt.Errorf("option -%c (user address spaces) is not supported yet", o.c)
		}
	}
	if len(operands) == 0 {
		return &UsageError{Msg: "an address is required"}
	}
	l, err := newKernelLayout(env.Kernel)
	if err != nil {
		return err
	}
	var b strings.Builder
	defer func() { io.WriteString(env.Out, b.String()) }()
	for i, a := range operands {
		va, err := parseHex(a)
		if err != nil {
			return fmt.Errorf("invalid input: %q", a)
		}
		if i > 0 {
			b.WriteString("\n")
		}
		if !isKernelVA(va, l.levels) {
			return fmt.Errorf("%x: user virtual addresses are not supported yet", va)
		}
		if err := vtopOne(&b, env.Kernel, l, va); err != nil {
			return err
		}
	}
	return nil
}

func vtopOne(b *strings.Builder, k *analyze.Kernel, l *kernelLayout, va uint64) error {
	fmt.Fprintf(b, "%-16s  %-16s\n", "VIRTUAL", "PHYSICAL")
	w, werr := k.WalkPageTables(analyze.VirtAddr(va))
	vmalloc := l.isVmalloc(va)
	var pa uint64
	exists := true
	switch {
	case !vmalloc:
		pa = l.linear(va)
	case werr != nil:
		exists = false
	default:
		pa = uint64(w.PA)
	}
	if exists {
		fmt.Fprintf(b, "%-16x  %-16x\n\n", va, pa)
	} else {
		fmt.Fprintf(b, "%-16x  %s\n\n", va, "(not mapped)")
	}
	if w == nil {
		return werr
	}
	fmt.Fprintf(b, "PGD DIRECTORY: %x\n", l.pgdVA)
	var last uint64
	for i, s := range w.Steps {
		if i == 0 {
			fmt.Fprintf(b, "PAGE DIRECTORY: %x\n", s.Entry)
		} else {
			fmt.Fprintf(b, "   %s: %x => %x\n", s.Level, uint64(s.EntryAddr), s.Entry)
		}
		last = s.Entry
	}
	if werr == nil {
		base := uint64(w.PA) &^ (w.PageSize - 1)
		switch w.PageSize {
		case 1 << 30:
			fmt.Fprintf(b, "  PAGE: %x  (1GB)\n\n", base)
		case 2 << 20:
			fmt.Fprintf(b, "  PAGE: %x  (2MB)\n\n", base)
		default:
			fmt.Fprintf(b, "  PAGE: %x\n\n", base)
		}
		translatePTE(b, last)
	} else {
		var fe *analyze.FaultError
		if errors.As(werr, &fe) && !errors.Is(werr, analyze.ErrNotMapped) {
			// The walk could not read a table: say why (excluded or
			// not in the dump) rather than stop silently.
			fmt.Fprintf(b, "  (%s: %s)\n", fe.What, walkFailure(werr))
		}
	}
	b.WriteString("\n")
	if exists {
		return pageBlock(b, k, l, pa)
	}
	return nil
}

func walkFailure(err error) string {
	switch {
	case errors.Is(err, vmcore.ErrExcluded):
		return "page excluded from the dump"
	case errors.Is(err, vmcore.ErrNotInDump):
		return "not in the dump"
	}
	return err.Error()
}

// translatePTE is crash's x86_64_translate_pte for a present entry.
func translatePTE(b *strings.Builder, pte uint64) {
	const physMask = 0x000ffffffffff000
	pteStr := fmt.Sprintf("%x", pte)
	physStr := fmt.Sprintf("%x", pte&physMask)
	len1 := max(len(pteStr), len("PTE"))
	len2 := max(len(physStr), len("PHYSICAL"))
	fmt.Fprintf(b, "%s  %s  FLAGS\n", mkCenter("PTE", len1, false), mkCenter("PHYSICAL", len2, false))
	fmt.Fprintf(b, "%s  %s  (", mkCenter(pteStr, len1, true), mkCenter(physStr, len2, true))
	var flags []string
	for _, f := range []struct {
		bit  uint64
		name string
	}{
		{1 << 0, "PRESENT"}, {1 << 1, "RW"}, {1 << 2, "USER"}, {1 << 3, "PWT"}, {1 << 4, "PCD"},
		{1 << 5, "ACCESSED"}, {1 << 6, "DIRTY"}, {1 << 7, "PSE"}, {1 << 8, "GLOBAL"}, {1 << 63, "NX"},
	} {
		if pte&f.bit != 0 {
			flags = append(flags, f.name)
		}
	}
	if pte == 0 {
		b.WriteString("no mapping")
	}
	b.WriteString(strings.Join(flags, "|") + ")\n")
}

// mkCenter is crash's mkstring(CENTER|LJUST or CENTER|RJUST): an odd
// remainder goes to the right (LJUST) or the left (RJUST).
func mkCenter(s string, width int, rjust bool) string {
	extra := width - len(s)
	if extra <= 0 {
		return s
	}
	left := extra / 2
	if extra%2 == 1 && rjust {
		left++
	}
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", extra-left)
}

// ptovPerCPU is crash's "ptov offset:cpuspec": __per_cpu_offset[cpu] +
// offset for each selected CPU.
func ptovPerCPU(b *strings.Builder, env *Env, offStr, spec string, notFirst bool) error {
	k := env.Kernel
	off, err := parseHex(offStr)
	if err != nil {
		return fmt.Errorf("invalid input: %q", offStr)
	}
	present, err := analyze.PresentCPUs(k)
	if err != nil || len(present) == 0 {
		return fmt.Errorf("per-CPU offsets: cannot tell the CPUs: %v", err)
	}
	ncpus := present[len(present)-1] + 1
	cpus, err := parseCPUSpec(spec, ncpus, env) // shared with p
	if err != nil {
		return err
	}
	width := len(fmt.Sprintf("[%d]", ncpus-1)) + 2
	if notFirst {
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "PER-CPU OFFSET: %x\n", off)
	fmt.Fprintf(b, "  %-*s  %-16s\n", width, "CPU", "VIRTUAL")
	for _, c := range cpus {
		va, err := k.PerCPUAddr(c, off)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "  %-*s%x\n", width, fmt.Sprintf("[%d]", c), va)
	}
	return nil
}
