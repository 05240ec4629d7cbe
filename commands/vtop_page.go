package commands

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kcrash/kcrash/analyze"
)

// pageLayout is the part of struct page vtop shows.
type pageLayout struct {
	size                            uint64
	flags, refcount, mapping, index uint64
}

func newPageLayout(k *analyze.Kernel) (*pageLayout, error) {
	vm := k.Vmlinux()
	if vm == nil {
		return nil, fmt.Errorf("struct page needs the vmlinux's DWARF")
	}
	ty := vm.Types()
	st, err := ty.Struct("page")
	if err != nil {
		return nil, err
	}
	l := &pageLayout{size: uint64(st.ByteSize)}
	for _, m := range []struct {
		name string
		dst  *uint64
	}{{"flags", &l.flags}, {"_refcount", &l.refcount}, {"mapping", &l.mapping}, {"index", &l.index}} {
		if *m.dst, err = ty.MemberOffset("page", m.name); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// pageFlagNames reads the kernel's pageflag_names[] (mm/debug.c: struct
// trace_print_flags {unsigned long mask; const char *name;}), which is
// where crash takes the flag names from.
func pageFlagNames(k *analyze.Kernel) []struct {
	mask uint64
	name string
} {
	var out []struct {
		mask uint64
		name string
	}
	tab, err := k.Symbols()
	if err != nil {
		return nil
	}
	s, ok := tab.Lookup("pageflag_names")
	if !ok {
		return nil
	}
	for i := uint64(0); i < 64; i++ {
		var e [16]byte
		if err := k.ReadVirtual(e[:], analyze.VirtAddr(s.Addr+16*i), "pageflag_names"); err != nil {
			return out
		}
		mask, name := binary.LittleEndian.Uint64(e[:]), binary.LittleEndian.Uint64(e[8:])
		if name == 0 {
			break
		}
		var sb strings.Builder
		var c [1]byte
		for j := uint64(0); j < 64; j++ {
			if k.ReadVirtual(c[:], analyze.VirtAddr(name+j), "pageflag name") != nil || c[0] == 0 {
				break
			}
			sb.WriteByte(c[0])
		}
		out = append(out, struct {
			mask uint64
			name string
		}{mask, sb.String()})
	}
	return out
}

// pageBlock is crash's dump_mem_map for one physical address: the
// struct page in vmemmap, its mapping, index, _refcount and flags.
func pageBlock(b *strings.Builder, k *analyze.Kernel, l *kernelLayout, pa uint64) error {
	pfn := pa >> 12
	if section := pfn >> sectionShift; section >= 1<<(l.maxPhysBits-27) {
		fmt.Fprintf(b, "WARNING: sparsemem: invalid section number: %d\n", section)
		return nil
	}
	if !l.haveVmemmap {
		return nil
	}
	pl, err := newPageLayout(k)
	if err != nil {
		return nil // no DWARF: crash would not get here either
	}
	pp := l.vmemmap + pfn*pl.size
	buf := make([]byte, pl.size)
	if err := readVmemmap(k, buf, pp); err != nil {
		fmt.Fprintf(b, "%x: struct page: %s\n", pp, walkFailure(err))
		return nil
	}
	u64 := func(off uint64) uint64 { return binary.LittleEndian.Uint64(buf[off:]) }
	flags := u64(pl.flags)
	count := int32(binary.LittleEndian.Uint32(buf[pl.refcount:]))
	b.WriteString("      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS\n")
	fmt.Fprintf(b, "%-16x %8x %16x %8x %2d ", pp, pfn<<12, u64(pl.mapping), u64(pl.index), count)
	fmt.Fprintf(b, "%x", flags)
	if flags != 0 {
		sep := " "
		for _, f := range pageFlagNames(k) {
			if flags&f.mask != 0 {
				b.WriteString(sep + f.name)
				sep = ","
			}
		}
	}
	b.WriteString("\n")
	return nil
}

// readVmemmap reads a struct page through the page tables: vmemmap is
// always mapped by them, whatever the direct map's extent.
func readVmemmap(k *analyze.Kernel, p []byte, va uint64) error {
	for done := 0; done < len(p); {
		a := va + uint64(done)
		w, err := k.WalkPageTables(analyze.VirtAddr(a))
		if err != nil {
			return err
		}
		n := min(len(p)-done, int(4096-a%4096))
		if _, err := k.ReadPhys(p[done:done+n], w.PA); err != nil {
			return err
		}
		done += n
	}
	return nil
}
