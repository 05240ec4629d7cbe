package analyze

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/kcrash/kcrash/symbols"
)

// ORC ("Oops Rewind Capability") is the x86_64 kernel's own unwind
// table (CONFIG_UNWINDER_ORC, 4.14+): for every text address range, how
// to find the caller's stack pointer (CFA) and frame pointer. Layout in
// arch/x86/include/asm/orc_types.h; see formats.md §1f.

// ORCType is the kind of frame an ORC entry describes, normalised over
// the kernel's three on-disk layouts.
type ORCType uint8

const (
	ORCUndefined   ORCType = iota // no unwind information: stop
	ORCEndOfStack                 // the bottom of a kernel stack
	ORCCall                       // an ordinary call frame: return address at CFA-8
	ORCRegs                       // CFA points at a full struct pt_regs
	ORCRegsPartial                // CFA points at the hardware iret frame (ip, cs, flags, sp, ss)
)

func (t ORCType) String() string {
	return [...]string{"undefined", "end_of_stack", "call", "regs", "regs_partial"}[t]
}

// ORC register numbers (orc_types.h, unchanged from 4.14 to 7.0).
const (
	orcRegUndefined  = 0
	orcRegPrevSP     = 1
	orcRegDX         = 2
	orcRegDI         = 3
	orcRegBP         = 4
	orcRegSP         = 5
	orcRegR10        = 6
	orcRegR13        = 7
	orcRegBPIndirect = 8
	orcRegSPIndirect = 9
)

// ORCEntry is one decoded struct orc_entry.
type ORCEntry struct {
	SPOffset int16
	BPOffset int16
	SPReg    uint8
	BPReg    uint8
	Type     ORCType
	Signal   bool // 6.3+: the frame is a signal/exception frame (use pc, not pc-1, below it)
}

// ORCLayout identifies the bit layout of struct orc_entry's last 16 bits.
type ORCLayout int

const (
	// ORCLayoutV1 (4.14–6.2): sp_reg:4 bp_reg:4 type:2 end:1, with types
	// CALL 0, REGS 1, REGS_PARTIAL 2 and "end" marking the stack bottom.
	ORCLayoutV1 ORCLayout = 1 + iota
	// ORCLayoutV2 (6.3): adds signal:1 before end (commit ffb1b4a41016
	// "x86/unwind/orc: Add 'signal' field to ORC metadata").
	ORCLayoutV2
	// ORCLayoutV3 (6.4+): type:3 signal:1, no end bit; types UNDEFINED 0,
	// END_OF_STACK 1, CALL 2, REGS 3, REGS_PARTIAL 4 (commit fb799447ae29
	// "x86,objtool: Split UNWIND_HINT_EMPTY in two"). The same release
	// added the .orc_header section (commit b9f174c811e3).
	ORCLayoutV3
)

// DecodeORCEntry decodes a 6-byte struct orc_entry in the given layout.
func DecodeORCEntry(b []byte, layout ORCLayout) ORCEntry {
	e := ORCEntry{
		SPOffset: int16(binary.LittleEndian.Uint16(b)),
		BPOffset: int16(binary.LittleEndian.Uint16(b[2:])),
	}
	w := binary.LittleEndian.Uint16(b[4:])
	e.SPReg = uint8(w & 0xf)
	e.BPReg = uint8(w >> 4 & 0xf)
	switch layout {
	case ORCLayoutV3:
		e.Signal = w>>11&1 != 0
		switch w >> 8 & 7 {
		case 0:
			e.Type = ORCUndefined
		case 1:
			e.Type = ORCEndOfStack
		case 2:
			e.Type = ORCCall
		case 3:
			e.Type = ORCRegs
		case 4:
			e.Type = ORCRegsPartial
		default:
			e.Type = ORCUndefined
		}
	default:
		var end bool
		if layout == ORCLayoutV2 {
			e.Signal = w>>10&1 != 0
			end = w>>11&1 != 0
		} else {
			end = w>>10&1 != 0
		}
		switch t := w >> 8 & 3; {
		case e.SPReg == orcRegUndefined && end:
			e.Type = ORCEndOfStack
		case e.SPReg == orcRegUndefined:
			e.Type = ORCUndefined
		case t == 0:
			e.Type = ORCCall
		case t == 1:
			e.Type = ORCRegs
		case t == 2:
			e.Type = ORCRegsPartial
		default:
			e.Type = ORCUndefined
		}
		// Before 6.3 only REGS/REGS_PARTIAL frames were "signal" frames.
		if layout == ORCLayoutV1 {
			e.Signal = e.Type == ORCRegs || e.Type == ORCRegsPartial
		}
	}
	return e
}

// ORCTable is a sorted table of ORC entries: ips[i] is the first address
// entry i covers, up to ips[i+1].
type ORCTable struct {
	ips     []uint64
	entries []byte // 6 bytes each
	layout  ORCLayout
}

const orcEntrySize = 6

// NewORCTable builds a table from the raw .orc_unwind_ip (s32 offsets
// relative to each slot's own address; ipBase is the address of the
// first slot) and .orc_unwind arrays.
func NewORCTable(ipBase uint64, ipTab, entries []byte, layout ORCLayout) (*ORCTable, error) {
	n := len(ipTab) / 4
	if len(entries) < n*orcEntrySize {
		return nil, fmt.Errorf("orc: %d ips but %d bytes of entries", n, len(entries))
	}
	t := &ORCTable{ips: make([]uint64, n), entries: entries[:n*orcEntrySize], layout: layout}
	sorted := true
	for i := range n {
		off := int32(binary.LittleEndian.Uint32(ipTab[4*i:]))
		t.ips[i] = ipBase + uint64(4*i) + uint64(int64(off))
		if i > 0 && t.ips[i] < t.ips[i-1] {
			sorted = false
		}
	}
	if !sorted {
		// Module tables are sorted at load time; vmlinux's at build time
		// (sorttable). Sort anyway rather than trust it.
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return t.ips[idx[a]] < t.ips[idx[b]] })
		ips := make([]uint64, n)
		ents := make([]byte, len(t.entries))
		for to, from := range idx {
			ips[to] = t.ips[from]
			copy(ents[to*orcEntrySize:], t.entries[from*orcEntrySize:from*orcEntrySize+orcEntrySize])
		}
		t.ips, t.entries = ips, ents
	}
	return t, nil
}

// Layout returns the orc_entry layout the table is decoded with.
func (t *ORCTable) Layout() ORCLayout { return t.layout }

// Len returns the number of entries.
func (t *ORCTable) Len() int { return len(t.ips) }

// Lookup returns the entry covering pc: the last one whose ip is <= pc.
func (t *ORCTable) Lookup(pc uint64) (ORCEntry, bool) {
	i := sort.Search(len(t.ips), func(i int) bool { return t.ips[i] > pc })
	if i == 0 {
		return ORCEntry{}, false
	}
	i--
	return DecodeORCEntry(t.entries[i*orcEntrySize:], t.layout), true
}

// Covers reports whether pc is within [first ip, last ip].
func (t *ORCTable) Covers(pc uint64) bool {
	return len(t.ips) > 0 && pc >= t.ips[0] && pc <= t.ips[len(t.ips)-1]
}

// ErrNoORC: the kernel has no ORC tables (built without
// CONFIG_UNWINDER_ORC) or they could not be read.
var ErrNoORC = errors.New("no ORC unwind tables")

type orcCache struct {
	once sync.Once
	tab  *ORCTable
	err  error
}

// ORC returns the kernel image's ORC table, relocated to the running
// addresses: from the vmlinux's .orc_unwind_ip/.orc_unwind sections when
// a vmlinux was given, else from the kernel image in the dump, located by
// the __start_orc_unwind_ip/__stop_orc_unwind_ip/__start_orc_unwind
// symbols (which kallsyms has too).
func (k *Kernel) ORC() (*ORCTable, error) {
	c := &k.unwind.orc
	c.once.Do(func() { c.tab, c.err = k.loadORC() })
	return c.tab, c.err
}

func (k *Kernel) loadORC() (*ORCTable, error) {
	layout := k.orcLayout()
	if v := k.vmlinux; v != nil {
		f := v.ELF()
		ipSec, uSec := f.Section(".orc_unwind_ip"), f.Section(".orc_unwind")
		if ipSec != nil && uSec != nil && ipSec.Type != elf.SHT_NOBITS {
			ips, err1 := ipSec.Data()
			ents, err2 := uSec.Data()
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrNoORC, err)
			}
			if layout == 0 {
				layout = guessORCLayout(ents)
			}
			return NewORCTable(ipSec.Addr+k.kaslr, ips, ents, layout)
		}
	}
	tab, err := k.Symbols()
	if err != nil {
		return nil, err
	}
	start, ok1 := tab.Lookup("__start_orc_unwind_ip")
	stop, ok2 := tab.Lookup("__stop_orc_unwind_ip")
	ustart, ok3 := tab.Lookup("__start_orc_unwind")
	if !ok1 || !ok2 || !ok3 || stop.Addr <= start.Addr || stop.Addr-start.Addr > 64<<20 {
		return nil, ErrNoORC
	}
	n := (stop.Addr - start.Addr) / 4
	ips := make([]byte, n*4)
	ents := make([]byte, n*orcEntrySize)
	if err := k.ReadKernelImage(ips, VirtAddr(start.Addr), "orc_unwind_ip"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoORC, err)
	}
	if err := k.ReadKernelImage(ents, VirtAddr(ustart.Addr), "orc_unwind"); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoORC, err)
	}
	if layout == 0 {
		layout = guessORCLayout(ents)
	}
	return NewORCTable(start.Addr, ips, ents, layout)
}

// orcLayout detects the orc_entry layout from what the kernel shows,
// never from its version number: the DWARF struct orc_entry's members
// (6.3 added "signal", 6.4 dropped "end"), else the .orc_header section
// or its __start_orc_header symbol (6.4+), else (0) the entries decide
// (guessORCLayout).
func (k *Kernel) orcLayout() ORCLayout {
	if v := k.vmlinux; v != nil {
		if st, err := v.Types().Struct("orc_entry"); err == nil {
			_, hasSignal := symbols.FindMember(st, "signal")
			_, hasEnd := symbols.FindMember(st, "end")
			switch {
			case hasSignal && !hasEnd:
				return ORCLayoutV3
			case hasSignal:
				return ORCLayoutV2
			default:
				return ORCLayoutV1
			}
		}
		if v.ELF().Section(".orc_header") != nil {
			return ORCLayoutV3
		}
	}
	if tab, err := k.Symbols(); err == nil {
		if _, ok := tab.Lookup("__start_orc_header"); ok {
			return ORCLayoutV3
		}
	}
	return 0 // undecided: loadORC looks at the entries
}

// guessORCLayout tells the 6.3 layout from the older one by the entries
// themselves, for a kernel known only by kallsyms: before 6.3 bits 11–15
// of the flags word are always clear, while 6.3 keeps its end-of-stack
// bit there (set on the entries of ret_from_fork and the startup code).
func guessORCLayout(entries []byte) ORCLayout {
	for i := 0; i+orcEntrySize <= len(entries); i += orcEntrySize {
		if binary.LittleEndian.Uint16(entries[i+4:])>>11 != 0 {
			return ORCLayoutV2
		}
	}
	return ORCLayoutV1
}
