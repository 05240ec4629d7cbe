package vmcore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// Memory ranges and the ranges a truncated kdump file lost.

// maxRanges bounds the ranges a bitmap yields. Real bitmaps have a run
// per hole in the memory map; a corrupt one could have one per two
// frames, so past this many, neighbouring runs are merged across ever
// larger gaps (frames in the gaps read as not dumped).
const maxRanges = 1 << 16

// ranges returns the runs of page frames that are RAM (1st bitmap) or
// dumpable (2nd bitmap) as physical ranges.
func (p *kdumpPager) ranges(b *backend) []Range {
	var out []Range
	gap := uint64(0)
	add := func(start, end uint64) {
		r := Range{PhysAddr(start * p.blockSize), PhysAddr(end * p.blockSize)}
		if n := len(out); n > 0 && uint64(r.Start-out[n-1].End) <= gap*p.blockSize {
			out[n-1].End = r.End
			return
		}
		out = append(out, r)
		for len(out) > maxRanges {
			gap = max(1, gap*2)
			merged := out[:1]
			for _, r := range out[1:] {
				if m := &merged[len(merged)-1]; uint64(r.Start-m.End) <= gap*p.blockSize {
					m.End = r.End
				} else {
					merged = append(merged, r)
				}
			}
			out = merged
		}
	}
	known := max(p.validKnown, p.dumpKnown)
	in := false
	var start uint64
	for i := uint64(0); i*64 < known; i++ {
		var w uint64
		if i*64 < p.validKnown {
			w |= binary.LittleEndian.Uint64(p.valid[i*8:])
		}
		if i*64 < p.dumpKnown {
			w |= binary.LittleEndian.Uint64(p.dumpable[i*8:])
		}
		if (in && w == ^uint64(0)) || (!in && w == 0) {
			continue
		}
		for j := uint64(0); j < 64; j++ {
			set := w&(1<<j) != 0
			if set != in {
				pfn := i*64 + j
				if set {
					start = pfn
				} else {
					add(start, pfn)
				}
				in = set
			}
		}
	}
	if in {
		add(start, known)
	}
	if gap > 0 {
		b.warnings = append(b.warnings, fmt.Sprintf("the page bitmaps have more than %d runs of frames: ranges merged across gaps of up to %d frames", maxRanges, gap))
	}
	return out
}

// lostTracker collects lost page frames into physical ranges. A range
// continues across frames that hold no data anyway (not RAM, excluded)
// and ends at the next frame that can still be read.
type lostTracker struct {
	bs     uint64
	out    []Range
	open   bool
	start  uint64
	last   uint64
	nLost  uint64
	reason map[string]bool
}

func (t *lostTracker) lost(first, last uint64) {
	if !t.open {
		t.open, t.start = true, first
	}
	t.last = last
	t.nLost += last - first + 1
}

func (t *lostTracker) intact() {
	if t.open {
		t.out = append(t.out, Range{PhysAddr(t.start * t.bs), PhysAddr((t.last + 1) * t.bs)})
		t.open = false
	}
}

// lostRanges lists the physical ranges whose data the file lacks. It
// scans the descriptor table only when the file looks truncated or the
// header says the dump is incomplete.
func (p *kdumpPager) lostRanges(b *backend) []Range {
	t := &lostTracker{bs: p.blockSize}
	descEnd := min(p.endPFN, p.dumpKnown)
	if p.src.truncated || p.incomplete || p.tailLost() {
		var (
			buf      []byte
			bufStart uint64 = math.MaxUint64
		)
		idx := uint64(0)
		var truncCount, incompleteCount uint64
		for pfn := p.startPFN; pfn < descEnd; {
			// Next dumpable pfn at or after pfn.
			w := binary.LittleEndian.Uint64(p.dumpable[(pfn/64)*8:]) >> (pfn % 64)
			if w == 0 {
				pfn = (pfn/64 + 1) * 64
				continue
			}
			pfn += uint64(bits.TrailingZeros64(w))
			if pfn >= descEnd {
				break
			}
			if idx < bufStart || idx >= bufStart+uint64(len(buf))/pageDescSize {
				buf, bufStart = p.readDescChunk(idx)
			}
			dOff := p.descOff + int64(idx)*pageDescSize
			var l pageLoc
			if k := idx - bufStart; k < uint64(len(buf))/pageDescSize {
				l = p.locateData(PhysAddr(pfn*p.blockSize), decodeDesc(buf[k*pageDescSize:]), dOff, false)
			} else {
				l = p.locate(PFN(pfn), false)
			}
			switch {
			case l.err == nil:
				t.intact()
			case errors.Is(l.err, ErrNotInDump):
				if l.desc.off == 0 && l.dOff != 0 {
					incompleteCount++
				} else {
					truncCount++
				}
				t.lost(pfn, pfn)
			}
			idx++
			pfn++
		}
		if truncCount > 0 {
			where := fmt.Sprintf("file truncated at %d bytes", p.size)
			if p.src.format == FormatFlattened {
				where = "flattened file truncated"
			}
			b.warnings = append(b.warnings, fmt.Sprintf("%s: %d dumped pages have no data in it", where, truncCount))
		}
		if incompleteCount > 0 {
			b.warnings = append(b.warnings, fmt.Sprintf("dump incomplete: %d dumped pages were never written", incompleteCount))
		}
	}
	// Frames whose bitmap bits were cut off.
	if p.dumpKnown < p.maxPFN {
		first := p.dumpKnown
		for first < p.validKnown && !bitSet(p.valid, first) {
			first++
		}
		if first < p.maxPFN {
			t.lost(first, p.maxPFN-1)
		}
	}
	t.intact()
	return t.out
}

// tailLost reports whether the last descriptors or their data are
// missing, the cheap sign of a truncated or incomplete file (pages are
// written in pfn order, so losses show at the end). Descriptors of zero pages
// point at the start of the data area, so up to descSample of the last
// ones are checked.
func (p *kdumpPager) tailLost() bool {
	if p.nDesc == 0 {
		return false
	}
	n := min(p.nDesc, descSample)
	off := p.descOff + int64(p.nDesc-n)*pageDescSize
	if !p.src.avail(off, int64(n)*pageDescSize) {
		return true
	}
	buf := make([]byte, n*pageDescSize)
	if _, err := p.r.ReadAt(buf, off); err != nil && err != io.EOF {
		return true
	}
	for i := uint64(0); i < n; i++ {
		d := decodeDesc(buf[i*pageDescSize:])
		if d.off == 0 || !p.src.avail(d.off, int64(d.size)) {
			return true // unwritten (incomplete dump) or cut off
		}
	}
	return false
}

// readDescChunk reads up to descChunk descriptors from index idx, as many
// as are present in the file.
func (p *kdumpPager) readDescChunk(idx uint64) ([]byte, uint64) {
	n := min(uint64(descChunk), p.nDesc-idx)
	off := p.descOff + int64(idx)*pageDescSize
	for n > 0 && !p.src.avail(off, int64(n)*pageDescSize) {
		n /= 2
	}
	if n == 0 {
		return nil, idx
	}
	buf := make([]byte, n*pageDescSize)
	if _, err := p.r.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, idx
	}
	return buf, idx
}
