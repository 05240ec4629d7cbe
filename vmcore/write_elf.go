package vmcore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// ELF program header flags (gABI).
const pfRWX = 7

// encodeNotes lays notes out as an ELF note segment: Elf64_Nhdr, the
// NUL-terminated name and the descriptor, each padded to 4 bytes.
func encodeNotes(notes []Note) []byte {
	var out []byte
	le := binary.LittleEndian
	for _, n := range notes {
		name := append([]byte(n.Name), 0)
		out = le.AppendUint32(out, uint32(len(name)))
		out = le.AppendUint32(out, uint32(len(n.Desc)))
		out = le.AppendUint32(out, n.Type)
		out = append(out, name...)
		out = append(out, make([]byte, align4(len(name))-len(name))...)
		out = append(out, n.Desc...)
		out = append(out, make([]byte, align4(len(n.Desc))-len(n.Desc))...)
	}
	return out
}

// elfLoad is one PT_LOAD to write: frames [start, start+present) with
// data, followed by excluded frames up to start+total (p_filesz <
// p_memsz: makedumpfile -E's encoding, which readers take as excluded).
type elfLoad struct {
	start          PFN
	present, total uint64
	off            uint64
}

// elfLoads groups the plan's runs into PT_LOADs.
func elfLoads(p *plan) []elfLoad {
	var loads []elfLoad
	for _, r := range p.runs {
		n := len(loads)
		switch r.state {
		case PagePresent:
			loads = append(loads, elfLoad{start: r.start, present: r.n, total: r.n})
		case PageExcluded:
			if n > 0 && loads[n-1].start+PFN(loads[n-1].total) == r.start && loads[n-1].present == loads[n-1].total {
				loads[n-1].total += r.n
			} else {
				loads = append(loads, elfLoad{start: r.start, total: r.n})
			}
		}
	}
	return loads
}

// WriteELF writes d as an ELF64 vmcore of physical memory, the layout
// makedumpfile and crash read: the program headers at 0x40, one PT_NOTE
// with every note of the input (each CPU's NT_PRSTATUS, QEMU's cpu-state
// notes, VMCOREINFO) and one PT_LOAD per run of present pages, with
// p_vaddr 0 (physical addresses only: the input's virtual mappings are
// not carried over). Excluded pages become the p_filesz < p_memsz tail
// of a PT_LOAD, so they stay excluded; frames the input has no data for
// are left out.
func WriteELF(w io.Writer, d *Dump, o WriteOptions) (WriteStats, error) {
	var st WriteStats
	ps := d.PageSize()
	p, err := makePlan(d, o)
	if err != nil {
		return st, err
	}
	loads := elfLoads(p)
	if len(loads) == 0 {
		return st, fmt.Errorf("the dump has no page to write")
	}
	if len(loads)+1 >= pnXNum {
		return st, fmt.Errorf("%d PT_LOAD segments: more than e_phnum can count", len(loads))
	}
	notes := encodeNotes(d.Notes())
	phnum := 1 + len(loads)
	notesOff := uint64(elfHeaderSize + phnum*elfPhdrSize)
	dataOff := (notesOff + uint64(len(notes)) + ps - 1) &^ (ps - 1)
	off := dataOff
	for i := range loads {
		loads[i].off = off
		off += loads[i].present * ps
	}

	le := binary.LittleEndian
	hdr := make([]byte, 0, dataOff)
	hdr = append(hdr, 0x7f, 'E', 'L', 'F', 2 /* ELFCLASS64 */, 1 /* LSB */, 1 /* EV_CURRENT */, 0 /* SYSV */)
	hdr = append(hdr, make([]byte, 8)...)
	hdr = le.AppendUint16(hdr, etCore)
	hdr = le.AppendUint16(hdr, emX86_64)
	hdr = le.AppendUint32(hdr, 1)             // e_version
	hdr = le.AppendUint64(hdr, 0)             // e_entry
	hdr = le.AppendUint64(hdr, elfHeaderSize) // e_phoff
	hdr = le.AppendUint64(hdr, 0)             // e_shoff
	hdr = le.AppendUint32(hdr, 0)             // e_flags
	hdr = le.AppendUint16(hdr, elfHeaderSize)
	hdr = le.AppendUint16(hdr, elfPhdrSize)
	hdr = le.AppendUint16(hdr, uint16(phnum))
	hdr = le.AppendUint16(hdr, 0) // e_shentsize
	hdr = le.AppendUint16(hdr, 0) // e_shnum
	hdr = le.AppendUint16(hdr, 0) // e_shstrndx
	phdr := func(typ, flags uint32, off, paddr, filesz, memsz, align uint64) {
		hdr = le.AppendUint32(hdr, typ)
		hdr = le.AppendUint32(hdr, flags)
		hdr = le.AppendUint64(hdr, off)
		hdr = le.AppendUint64(hdr, 0) // p_vaddr
		hdr = le.AppendUint64(hdr, paddr)
		hdr = le.AppendUint64(hdr, filesz)
		hdr = le.AppendUint64(hdr, memsz)
		hdr = le.AppendUint64(hdr, align)
	}
	phdr(ptNote, 0, notesOff, 0, uint64(len(notes)), uint64(len(notes)), 4)
	for _, l := range loads {
		phdr(ptLoad, pfRWX, l.off, uint64(l.start)*ps, l.present*ps, l.total*ps, 0)
	}
	hdr = append(hdr, notes...)
	hdr = hdr[:dataOff]

	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(hdr); err != nil {
		return st, err
	}
	st.BytesOut = uint64(len(hdr))
	check := planCheck{p: p}
	count := pageCounter{o: o, total: p.frames}
	err = pipeline(d, o, CompressNone, func(pg *pageOut) error {
		out := o.outState(pg.pfn, pg.state, pg.zero)
		if err := check.next(pg.pfn, out); err != nil {
			return err
		}
		st.Frames++
		switch {
		case out == PagePresent:
			st.Present++
			st.BytesIn += ps
			if pg.zero {
				st.Zero++
			}
			if _, err := bw.Write(pg.data); err != nil {
				return err
			}
			st.BytesOut += ps
		case out == PageExcluded && pg.state == PageExcluded:
			st.Excluded++
		case out == PageExcluded:
			o.countDropped(&st, pg.pfn)
		default:
			st.NotDumped++
		}
		return count.step()
	})
	if err != nil {
		return st, err
	}
	return st, bw.Flush()
}
