package vmcore

import (
	"errors"
	"iter"
)

// Page is one page frame of a dump as [Dump.Pages] yields it.
type Page struct {
	PFN   PFN
	State PageState
	// Data holds the page's bytes for PagePresent and PageZero (all
	// zeros), nil otherwise. It is borrowed: valid only until the
	// iteration continues.
	Data []byte
}

// Addr is the physical address of the page.
func (p Page) Addr(pageSize uint64) PhysAddr { return PhysAddr(uint64(p.PFN) * pageSize) }

// Pages yields every page frame of the dump's ranges once, in ascending
// PFN order, with its state and (for present and zero pages) its bytes.
// A page only partly covered by the dump's ranges (the kernel's
// /proc/vmcore keeps e820's byte-granular ends, e.g. RAM up to 0x9fc00)
// is present with the uncovered bytes zero, as makedumpfile reads it.
// A page whose data cannot be read because the file is cut short is
// yielded as PageNotDumped; corrupt page data ends the iteration with an
// error wrapping ErrCorrupt. Frames between ranges are not yielded: they
// are not part of the dump.
func (d *Dump) Pages() iter.Seq2[Page, error] { return d.pages(nil) }

// pages is Pages, but without reading the data of the present and zero
// pages skip names (unless the file lost them): those come with Data
// nil. Writers pass their page filter, so that pages they drop cost no
// read.
func (d *Dump) pages(skip func(PFN) bool) iter.Seq2[Page, error] {
	return func(yield func(Page, error) bool) {
		for r, err := range d.pageRefs(skip, false) {
			if !yield(r.Page, err) {
				return
			}
		}
	}
}

// pageRef is a page as pageRefs yields it.
type pageRef struct {
	Page
	// stable says Data is not the iterator's buffer but the mapped
	// file itself (or a zero page no one writes): it stays valid, and
	// unchanged, after the iteration continues, until the dump is
	// closed. It is read-only.
	stable bool
}

// pageRefs is pages, and with borrow set it yields the bytes of pages
// that a mapped file holds contiguously in place (stable), sparing the
// copy: the write pipeline keeps them in flight without copying each
// page of the dump.
func (d *Dump) pageRefs(skip func(PFN) bool, borrow bool) iter.Seq2[pageRef, error] {
	return func(yield func(pageRef, error) bool) {
		ps := d.b.pageSize
		buf := make([]byte, ps)
		var bm borrower
		var zero []byte // never written to: stable
		if borrow {
			bm, _ = d.b.mem.(borrower)
			zero = make([]byte, ps)
		}
		n := 0
		for pfn, state := range d.pageFrames() {
			if n++; n%dropResidentEvery == 0 {
				// A pass over every page must not leave the whole
				// mapped dump resident (see dropResident).
				d.dropResident()
			}
			p := pageRef{Page: Page{PFN: pfn, State: state}}
			if skip != nil && (state == PagePresent || state == PageZero) && skip(pfn) && !d.inMissing(pfn) {
				if !yield(p, nil) {
					return
				}
				continue
			}
			switch state {
			case PagePresent:
				if bm != nil {
					if b, ok := bm.borrow(PhysAddr(uint64(pfn)*ps), ps); ok {
						p.Data, p.stable = b, true
						break
					}
				}
				_, err := d.b.mem.readAt(buf, PhysAddr(uint64(pfn)*ps))
				switch {
				case err == nil:
					p.Data = buf
				case (errors.Is(err, ErrNotInDump) || errors.Is(err, ErrExcluded)) && d.partialPage(pfn, buf):
					p.Data = buf
				case errors.Is(err, ErrNotInDump):
					p.State = PageNotDumped
				case errors.Is(err, ErrExcluded):
					p.State = PageExcluded
				default:
					if !yield(p, err) {
						return
					}
					return
				}
			case PageZero:
				if zero != nil {
					p.Data, p.stable = zero, true
					break
				}
				clear(buf)
				p.Data = buf
			}
			if !yield(p, nil) {
				return
			}
		}
	}
}

// borrower is a memory that can hand out page data in place.
type borrower interface {
	borrow(pa PhysAddr, n uint64) ([]byte, bool)
}

// PageStates yields every page frame of the dump's ranges once, in
// ascending PFN order, with the state the dump's index records for it.
// Unlike [Dump.Pages] it reads no page data, so it is cheap for the
// compressed formats; an ELF page whose data lies past the end of a
// truncated file is still reported as present here.
func (d *Dump) PageStates() iter.Seq2[PFN, PageState] { return d.pageFrames() }

func (d *Dump) pageFrames() iter.Seq2[PFN, PageState] {
	return func(yield func(PFN, PageState) bool) {
		ps := d.b.pageSize
		next := uint64(0) // lowest pfn not yet yielded
		for _, r := range d.b.ranges {
			if r.End <= r.Start {
				continue
			}
			first := max(uint64(r.Start)/ps, next)
			last := (uint64(r.End) - 1) / ps // inclusive: r.End may be the top of the address space
			for pfn := first; pfn <= last; pfn++ {
				if !yield(PFN(pfn), d.b.mem.pageState(PFN(pfn))) {
					return
				}
				if pfn == last {
					break
				}
			}
			next = last + 1
		}
	}
}

// inMissing reports whether part of the page lies where a truncated
// file lost the data.
func (d *Dump) inMissing(pfn PFN) bool {
	ps := d.b.pageSize
	start := PhysAddr(uint64(pfn) * ps)
	for _, m := range d.b.missing {
		if m.Start < start+PhysAddr(ps) && start < m.End {
			return true
		}
	}
	return false
}

// partialPage reads a page that only some of the dump's ranges cover,
// zero-filling the rest, as makedumpfile's readpage_elf does. It reports
// false when no byte of the page is readable or the page lies in a part
// the file lost (truncation is not to be papered over with zeros).
func (d *Dump) partialPage(pfn PFN, buf []byte) bool {
	ps := d.b.pageSize
	start := PhysAddr(uint64(pfn) * ps)
	for _, m := range d.b.missing {
		if m.Start < start+PhysAddr(ps) && start < m.End {
			return false
		}
	}
	clear(buf)
	got := false
	for off := uint64(0); off < ps; {
		n, err := d.b.mem.readAt(buf[off:], start+PhysAddr(off))
		if n > 0 {
			got = true
		}
		off += uint64(n)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNotInDump) && !errors.Is(err, ErrExcluded) {
			return false
		}
		clear(buf[off:min(off+1, ps)])
		off++ // past the unreadable byte; ranges end at byte granularity
	}
	return got
}
