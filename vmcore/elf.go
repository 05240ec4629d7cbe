package vmcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// ELF constants (the System V gABI; include/uapi/linux/elf.h).
const (
	elfHeaderSize  = 64
	elfPhdrSize    = 56
	etCore         = 4
	emX86_64       = 62
	ptLoad         = 1
	ptNote         = 4
	pnXNum         = 0xffff
	maxNoteSegment = 64 << 20 // 8192 CPUs of notes fit many times over
	maxPhdrs       = 1 << 20
	// maxPhysAddr is x86_64's architectural limit (MAXPHYADDR ≤ 52).
	maxPhysAddr = 1 << 52
)

// ELFSegment is one PT_LOAD of an ELF vmcore.
type ELFSegment struct {
	PAddr, VAddr, Offset, FileSize, MemSize uint64
}

// ELFInfo describes the ELF container of a dump.
type ELFInfo struct {
	Machine  uint16
	PhOff    uint64
	NumNotes int // PT_NOTE segments: 1 when merged by the capture kernel, one per CPU in elfcorehdr layout
	Loads    []ELFSegment
}

type elfMemory struct {
	r        io.ReaderAt
	size     int64
	pageSize uint64
	segs     []ELFSegment // PT_LOADs sorted by PAddr
}

func openELF(r io.ReaderAt, size int64, opts Options) (*backend, error) {
	const format = "elf"
	var eh [elfHeaderSize]byte
	if n, _ := r.ReadAt(eh[:], 0); n < 4 || !bytes.Equal(eh[:4], []byte("\x7fELF")) {
		return nil, errUnrecognized
	}
	if size < elfHeaderSize {
		return nil, formatErr(format, 0, io.ErrUnexpectedEOF, "ELF header cut short (%d bytes)", size)
	}
	if eh[4] != 2 {
		return nil, formatErr(format, 4, nil, "ELF class %d: only ELF64 vmcores are supported", eh[4])
	}
	if eh[5] != 1 {
		return nil, formatErr(format, 5, nil, "ELF data encoding %d: only little-endian vmcores are supported", eh[5])
	}
	le := binary.LittleEndian
	etype := le.Uint16(eh[16:])
	machine := le.Uint16(eh[18:])
	phoff := le.Uint64(eh[32:])
	shoff := le.Uint64(eh[40:])
	phentsize := le.Uint16(eh[54:])
	phnum := uint64(le.Uint16(eh[56:]))
	if etype != etCore {
		return nil, formatErr(format, 16, nil, "e_type %d is not ET_CORE: this is an ELF file but not a core dump (a vmlinux given as the dump?)", etype)
	}
	if machine != emX86_64 {
		return nil, formatErr(format, 18, nil, "e_machine %d: only x86_64 (62) vmcores are supported", machine)
	}
	if phentsize != elfPhdrSize {
		return nil, formatErr(format, 54, nil, "e_phentsize %d, want %d", phentsize, elfPhdrSize)
	}
	if phnum == pnXNum {
		// More program headers than fit in e_phnum: the real count is in
		// section header 0's sh_info (gABI "extended numbering").
		var sh [64]byte
		if shoff == 0 || shoff > uint64(size) {
			return nil, formatErr(format, 40, nil, "e_phnum is PN_XNUM but there is no section header 0")
		}
		if _, err := r.ReadAt(sh[:], int64(shoff)); err != nil {
			return nil, formatErr(format, int64(shoff), err, "reading section header 0 for PN_XNUM")
		}
		phnum = uint64(le.Uint32(sh[44:]))
	}
	if phnum == 0 {
		return nil, formatErr(format, 56, nil, "no program headers")
	}
	phdrs, err := readFull(r, size, int64(phoff), phnum*elfPhdrSize, maxPhdrs*elfPhdrSize, format, "program header table")
	if err != nil {
		return nil, err
	}

	b := &backend{format: FormatELF, compression: "none"}
	info := &ELFInfo{Machine: machine, PhOff: phoff}
	var noteData [][]byte
	var noteOffs []int64
	for i := uint64(0); i < phnum; i++ {
		ph := phdrs[i*elfPhdrSize:]
		typ := le.Uint32(ph)
		off, vaddr, paddr := le.Uint64(ph[8:]), le.Uint64(ph[16:]), le.Uint64(ph[24:])
		filesz, memsz := le.Uint64(ph[32:]), le.Uint64(ph[40:])
		phOff := int64(phoff + i*elfPhdrSize)
		switch typ {
		case ptNote:
			info.NumNotes++
			if filesz == 0 {
				continue
			}
			if off >= uint64(size) {
				b.warnings = append(b.warnings, fmt.Sprintf("PT_NOTE at file offset %#x lies beyond the end of the file: notes lost", off))
				continue
			}
			n := min(filesz, uint64(size)-off)
			if n < filesz {
				b.warnings = append(b.warnings, fmt.Sprintf("PT_NOTE at file offset %#x is cut short by the end of the file", off))
			}
			data, err := readFull(r, size, int64(off), n, maxNoteSegment, format, "PT_NOTE segment")
			if err != nil {
				return nil, err
			}
			noteData = append(noteData, data)
			noteOffs = append(noteOffs, int64(off))
		case ptLoad:
			if paddr == ^uint64(0) {
				continue // 32-bit HIGHMEM marker: no physical address
			}
			if filesz > memsz {
				return nil, formatErr(format, phOff, nil, "PT_LOAD p_filesz %#x > p_memsz %#x", filesz, memsz)
			}
			if paddr+memsz < paddr || off+filesz < off || paddr+memsz > maxPhysAddr {
				return nil, formatErr(format, phOff, nil, "PT_LOAD at paddr %#x size %#x lies beyond the 52-bit physical address space", paddr, memsz)
			}
			info.Loads = append(info.Loads, ELFSegment{PAddr: paddr, VAddr: vaddr, Offset: off, FileSize: filesz, MemSize: memsz})
		}
	}
	if len(info.Loads) == 0 {
		return nil, formatErr(format, int64(phoff), nil, "no PT_LOAD segments: the dump holds no memory")
	}
	for i, data := range noteData {
		notes, err := parseNotes(data, noteOffs[i], format)
		if err != nil {
			b.warnings = append(b.warnings, err.Error())
		}
		b.notes = append(b.notes, notes...)
	}
	b.pageSize = pageSizeFromNotes(b.notes)

	segs := append([]ELFSegment(nil), info.Loads...)
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].PAddr < segs[j].PAddr })
	b.mem = &elfMemory{r: r, size: size, pageSize: b.pageSize, segs: segs}
	b.elf = info
	b.ranges = mergeRanges(segs, func(s ELFSegment) Range {
		return Range{PhysAddr(s.PAddr), PhysAddr(s.PAddr + s.MemSize)}
	})
	var lost []Range
	for _, s := range segs {
		if s.Offset+s.FileSize > uint64(size) {
			start := s.PAddr
			if s.Offset < uint64(size) {
				start += uint64(size) - s.Offset
			}
			lost = append(lost, Range{PhysAddr(start), PhysAddr(s.PAddr + s.FileSize)})
		}
	}
	b.missing = subtractCovered(lost, segs, size)
	return b, nil
}

// pageSizeFromNotes takes PAGESIZE from VMCOREINFO, defaulting to 4 KiB.
func pageSizeFromNotes(notes []Note) uint64 {
	for _, n := range notes {
		if n.Name == "VMCOREINFO" {
			if vi, _ := ParseVMCOREINFO(n.Desc); vi != nil && vi.PageSize != 0 {
				return vi.PageSize
			}
		}
	}
	return 4096
}

// mergeRanges returns the union of the items' ranges, sorted.
func mergeRanges[T any](items []T, rng func(T) Range) []Range {
	var rs []Range
	for _, it := range items {
		rs = append(rs, rng(it))
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	var out []Range
	for _, r := range rs {
		if r.End <= r.Start {
			continue
		}
		if n := len(out); n > 0 && r.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// subtractCovered drops from lost whatever another, intact segment still
// provides (the kernel's /proc/vmcore maps the kernel image twice).
func subtractCovered(lost []Range, segs []ELFSegment, size int64) []Range {
	var out []Range
	for _, l := range lost {
		pieces := []Range{l}
		for _, s := range segs {
			avail := Range{PhysAddr(s.PAddr), PhysAddr(s.PAddr + min(s.FileSize, uint64(max(0, size-int64(s.Offset)))))}
			if s.Offset >= uint64(size) {
				continue
			}
			var next []Range
			for _, p := range pieces {
				next = append(next, cut(p, avail)...)
			}
			pieces = next
		}
		out = append(out, pieces...)
	}
	return mergeRanges(out, func(r Range) Range { return r })
}

// cut returns the parts of p outside c.
func cut(p, c Range) []Range {
	if c.End <= p.Start || c.Start >= p.End {
		return []Range{p}
	}
	var out []Range
	if c.Start > p.Start {
		out = append(out, Range{p.Start, c.Start})
	}
	if c.End < p.End {
		out = append(out, Range{c.End, p.End})
	}
	return out
}

// find returns the segments that contain pa, in PAddr order.
func (m *elfMemory) find(pa uint64, visit func(s *ELFSegment) bool) {
	i := sort.Search(len(m.segs), func(i int) bool { return m.segs[i].PAddr > pa })
	for j := i - 1; j >= 0; j-- {
		s := &m.segs[j]
		if pa-s.PAddr < s.MemSize {
			if visit(s) {
				return
			}
		}
	}
}

// Why locate found no file data for a byte.
const (
	locOK        = iota
	locNotInDump // no segment covers it
	locExcluded  // past a segment's p_filesz (makedumpfile -E)
	locTruncated // its data lies past the end of a truncated file
)

// locate says where byte pa lives: its file offset and how many bytes
// from there on are contiguous in the file, or why it is unreadable
// (a loc* code; the error is built only by the callers that report it,
// as page iteration asks this for every page).
func (m *elfMemory) locate(pa uint64) (off int64, run uint64, why int) {
	why = locNotInDump
	i := sort.Search(len(m.segs), func(i int) bool { return m.segs[i].PAddr > pa })
	for j := i - 1; j >= 0; j-- {
		s := &m.segs[j]
		if pa-s.PAddr >= s.MemSize {
			continue
		}
		o := pa - s.PAddr
		switch {
		case o >= s.FileSize:
			// makedumpfile -E leaves excluded tails out of the file.
			why = locExcluded
			continue // an intact overlapping segment may still hold it
		case s.Offset+o >= uint64(m.size):
			why = locTruncated
			continue
		}
		return int64(s.Offset + o), min(s.FileSize-o, uint64(m.size)-(s.Offset+o)), locOK
	}
	return 0, 0, why
}

// locateErr is the error for a byte locate could not find.
func (m *elfMemory) locateErr(pa uint64, why int) error {
	switch why {
	case locExcluded:
		return readErr(PhysAddr(pa), ErrExcluded, "")
	case locTruncated:
		// The file offset of the data, from the segment locate saw
		// last (the lowest truncated one holding pa).
		var off uint64
		m.find(pa, func(s *ELFSegment) bool {
			if o := pa - s.PAddr; o < s.FileSize && s.Offset+o >= uint64(m.size) {
				off = s.Offset + o
			}
			return false
		})
		return readErr(PhysAddr(pa), ErrNotInDump, "file truncated at %#x, data was at file offset %#x", m.size, off)
	}
	return readErr(PhysAddr(pa), ErrNotInDump, "")
}

// borrow returns the n bytes at pa in place, without a copy, when the
// file is mapped and holds all of them contiguously; ok is false
// otherwise (read them with readAt). The slice aliases the read-only
// mapping: it stays valid until the dump is closed and must not be
// written to.
func (m *elfMemory) borrow(pa PhysAddr, n uint64) (b []byte, ok bool) {
	br, mapped := m.r.(byteReader)
	if !mapped {
		return nil, false
	}
	off, run, why := m.locate(uint64(pa))
	if why != locOK || run < n {
		return nil, false
	}
	return br[off : off+int64(n) : off+int64(n)], true
}

func (m *elfMemory) readAt(p []byte, pa PhysAddr) (int, error) {
	done := 0
	for done < len(p) {
		a := uint64(pa) + uint64(done)
		off, run, why := m.locate(a)
		if why != locOK {
			return done, m.locateErr(a, why)
		}
		chunk := p[done:min(len(p), done+int(min(run, uint64(len(p)))))]
		n, err := m.r.ReadAt(chunk, off)
		done += n
		if n < len(chunk) {
			return done, readErr(PhysAddr(a+uint64(n)), ErrCorrupt, "reading file offset %#x: %v", off+int64(n), err)
		}
	}
	return done, nil
}

func (m *elfMemory) pageState(pfn PFN) PageState {
	start := uint64(pfn) * m.pageSize
	state := PageNotDumped
	for a := start; a < start+m.pageSize; {
		_, _, why := m.locate(a)
		switch why {
		case locOK:
			return PagePresent
		case locExcluded:
			state = PageExcluded
		}
		// Step to the next segment boundary inside this page, if any.
		next := start + m.pageSize
		for _, s := range m.segs {
			if s.PAddr > a && s.PAddr < next {
				next = s.PAddr
			}
		}
		a = next
	}
	return state
}
