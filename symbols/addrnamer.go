package symbols

import (
	"cmp"
	"debug/elf"
	"fmt"
	"sort"
)

// AddrNamer names addresses the way gdb's print_address_symbolic does
// for the values crash prints ("0xffffffff8c4116a8 <init_task+168>"):
// from the ELF symbol table with its sizes, only within the section the
// address is in, never past the end of a sized symbol, and never with a
// zero-sized data symbol. Heap and stack addresses get no name.
type AddrNamer struct {
	syms  []msym
	secs  []secRange
	slide uint64
}

type msym struct {
	name  string
	addr  uint64
	size  uint64
	sec   int
	text  bool
	local bool
}

type secRange struct {
	start, end uint64
	idx        int
}

// kernelMap is __START_KERNEL_map: addresses at or above it move with
// the KASLR slide.
const kernelMap = 0xffffffff80000000

// AddrNamer returns a namer for the kernel as loaded with the given
// KASLR slide, built once per slide.
func (v *Vmlinux) AddrNamer(slide uint64) (*AddrNamer, error) {
	t := v.Types()
	t.namerMu.Lock()
	defer t.namerMu.Unlock()
	if n, ok := t.namers[slide]; ok {
		return n, nil
	}
	n, err := v.newAddrNamer(slide)
	if err != nil {
		return nil, err
	}
	if t.namers == nil {
		t.namers = map[uint64]*AddrNamer{}
	}
	t.namers[slide] = n
	return n, nil
}

func (v *Vmlinux) newAddrNamer(slide uint64) (*AddrNamer, error) {
	// Read again rather than kept from loadSymtab: most sessions never
	// build a namer, and a warm one has no ELF symbols at all.
	syms, err := readSymtab(v.f)
	if err != nil {
		return nil, fmt.Errorf("symbol table: %w", err)
	}
	n := &AddrNamer{slide: slide}
	for i, s := range v.f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Size > 0 && s.Addr >= kernelMap {
			n.secs = append(n.secs, secRange{s.Addr, s.Addr + s.Size, i})
		}
	}
	sort.Slice(n.secs, func(i, j int) bool { return n.secs[i].start < n.secs[j].start })
	for _, s := range syms {
		typ := elf.ST_TYPE(s.Info)
		if s.Name == "" || typ == elf.STT_SECTION || typ == elf.STT_FILE ||
			s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE || s.Value < kernelMap {
			continue
		}
		sec := v.f.Sections[s.Section]
		n.syms = append(n.syms, msym{
			name: s.Name, addr: s.Value, size: s.Size, sec: int(s.Section),
			text:  typ == elf.STT_FUNC || sec.Flags&elf.SHF_EXECINSTR != 0,
			local: elf.ST_BIND(s.Info) == elf.STB_LOCAL,
		})
	}
	// Among symbols at one address the last one is chosen: put sized
	// global ones last.
	n.syms = SortStable(n.syms, func(a, b *msym) int {
		if c := cmp.Compare(a.addr, b.addr); c != 0 {
			return c
		}
		if (a.size != 0) != (b.size != 0) {
			if a.size == 0 {
				return -1
			}
			return 1
		}
		switch {
		case a.local && !b.local:
			return -1
		case !a.local && b.local:
			return 1
		}
		return 0
	})
	return n, nil
}

// Name returns "sym" or "sym+off" (decimal) for a run-time address, or
// "" when gdb would print no symbol.
func (n *AddrNamer) Name(addr uint64) string {
	if n == nil {
		return ""
	}
	link := addr
	if addr >= kernelMap+n.slide {
		link = addr - n.slide
	} else if addr >= kernelMap {
		return ""
	}
	si := sort.Search(len(n.secs), func(i int) bool { return n.secs[i].end > link })
	if si == len(n.secs) || link < n.secs[si].start {
		return ""
	}
	sec := n.secs[si].idx
	hi := sort.Search(len(n.syms), func(i int) bool { return n.syms[i].addr > link }) - 1
	// lookup_minimal_symbol_by_pc_section, simplified to one objfile.
	bestZero := -1
	for hi >= 0 {
		s := n.syms[hi]
		if s.sec != sec {
			hi--
			continue
		}
		if s.size == 0 {
			if bestZero == -1 {
				bestZero = hi
			}
			hi--
			continue
		}
		if hi > 0 && link >= s.addr+s.size {
			prev := n.syms[hi-1]
			if prev.sec == sec && link < prev.addr+prev.size {
				hi--
				continue
			}
		}
		break
	}
	if bestZero != -1 && (hi < 0 || n.syms[hi].size == 0) {
		hi = bestZero
	}
	if hi >= 0 && n.syms[hi].size != 0 && link >= n.syms[hi].addr+n.syms[hi].size {
		if bestZero == -1 {
			return ""
		}
		hi = bestZero
	}
	if hi < 0 {
		return ""
	}
	s := n.syms[hi]
	if s.size == 0 && !s.text {
		return "" // build_address_symbolic drops zero-sized data symbols
	}
	if link == s.addr {
		return s.name
	}
	return fmt.Sprintf("%s+%d", s.name, link-s.addr)
}
