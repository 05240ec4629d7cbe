package vmcore

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// utsnameFor picks the utsname a written header carries: the caller's,
// else the input's kdump header when it has one, else the release from
// VMCOREINFO.
func utsnameFor(d *Dump, ci *CrashInfo) Utsname {
	if ci != nil && ci.Utsname != nil {
		return *ci.Utsname
	}
	if h := d.Kdump(); h != nil && h.Utsname.Release != "" {
		return h.Utsname
	}
	if h := d.LKCD(); h != nil && h.Utsname.Release != "" {
		return h.Utsname
	}
	u := Utsname{Sysname: "Linux", Machine: "x86_64"}
	if vi := d.VMCOREINFO(); vi != nil {
		u.Release = vi.OSRelease
	}
	return u
}

// crashTime is the crash's time in seconds, or 0.
func crashTime(d *Dump) int64 {
	if vi := d.VMCOREINFO(); vi != nil && vi.HasCrashTime {
		return vi.CrashTime
	}
	if h := d.Kdump(); h != nil {
		return h.TimestampSec
	}
	if h := d.LKCD(); h != nil {
		return h.TimeSec
	}
	return 0
}

// physBaseFor is the x86_64 phys_base a reader needs: VMCOREINFO's, else
// the input's kdump sub-header's.
func physBaseFor(d *Dump) (int64, bool) {
	if vi := d.VMCOREINFO(); vi != nil && vi.HasPhysBase {
		return vi.PhysBase, true
	}
	if h := d.Kdump(); h != nil && h.Signature == "KDUMP   " {
		return int64(h.PhysBase), true
	}
	return 0, false
}

func putUtsname(b []byte, u Utsname) {
	for i, s := range []string{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname} {
		copy(b[65*i:65*i+64], s)
	}
}

// KdumpOptions configure WriteKdump.
type KdumpOptions struct {
	WriteOptions
	Crash CrashInfo
}

// WriteKdump writes d in makedumpfile's kdump-compressed format
// (header_version 6; formats.md §1b): the disk_dump_header, the
// kdump_sub_header with phys_base and the input's notes (so VMCOREINFO
// and every CPU's registers), the two bitmaps — the 1st marks every
// frame the input has (present, zero or excluded), the 2nd the frames
// written —, one page_desc_t per written frame, one shared zero page
// and the pages, compressed when that makes them smaller. Excluded
// pages stay excluded.
//
// Every all-zero page is written as makedumpfile writes them at dump
// level bit 1 (write_kdump_pages' pd_zero): dumpable in both bitmaps,
// its descriptor pointing at the shared zero page, so it reads back as
// zeros and costs only its descriptor. DropZero therefore changes no
// page here, only the dump_level recorded (bit 1), and the pages are
// counted in WriteStats.ZeroShared.
//
// It needs io.WriterAt because the descriptors precede the data whose
// offsets they hold; the bitmaps are written last.
func WriteKdump(w io.WriterAt, d *Dump, o KdumpOptions) (WriteStats, error) {
	var st WriteStats
	comp := o.compression()
	var flag uint32
	switch comp {
	case CompressNone:
	case CompressZlib:
		flag = dumpCompressedZlib
	case CompressZstd:
		flag = dumpCompressedZstd
	case CompressSnappy:
		flag = dumpCompressedSnappy
	default:
		return st, fmt.Errorf("kdump: unknown compression %q", comp)
	}
	bs := d.PageSize()
	// Zero pages are never excluded here (see above): the plan and the
	// pages' states are those without DropZero, which also spares the
	// first pass reading the pages.
	wo := o.WriteOptions
	wo.DropZero = false
	p, err := makePlan(d, wo)
	if err != nil {
		return st, err
	}
	maxMapnr := uint64(p.end)
	notes := encodeNotes(d.Notes())
	subHdrBlocks := (kdumpSubHeaderSize + uint64(len(notes)) + bs - 1) / bs
	bitmapBytes := (maxMapnr + 7) / 8
	bitmapBlocks := 2 * max(1, (bitmapBytes+bs-1)/bs)
	if bitmapBlocks > math.MaxUint32 || subHdrBlocks > math.MaxUint32 {
		return st, fmt.Errorf("kdump: %d page frames do not fit the header's block counts", maxMapnr)
	}
	bitmapOff := int64((1 + subHdrBlocks) * bs)
	descOff := bitmapOff + int64(bitmapBlocks*bs)
	// Descriptors for every frame the first pass found present, zero
	// pages included; the shared zero page starts the data area, where
	// readers look for it.
	zeroOff := descOff + int64(p.present*pageDescSize)
	dataOff := zeroOff + int64(bs)

	le := binary.LittleEndian
	hdr := make([]byte, (1+subHdrBlocks)*bs)
	copy(hdr, "KDUMP   ")
	le.PutUint32(hdr[8:], 6)
	putUtsname(hdr[12:], utsnameFor(d, &o.Crash))
	le.PutUint64(hdr[408:], uint64(crashTime(d)))
	le.PutUint32(hdr[424:], flag)
	le.PutUint32(hdr[428:], uint32(bs))
	le.PutUint32(hdr[432:], uint32(subHdrBlocks))
	le.PutUint32(hdr[436:], uint32(bitmapBlocks))
	le.PutUint32(hdr[440:], uint32(min(maxMapnr, math.MaxUint32)))
	if o.Crash.PanicCPUKnown {
		le.PutUint32(hdr[456:], uint32(o.Crash.PanicCPU))
	}
	le.PutUint32(hdr[460:], uint32(len(d.CPUs())))
	sub := hdr[bs:]
	pb, _ := physBaseFor(d)
	le.PutUint64(sub[0:], uint64(pb))
	level := int32(0)
	if h := d.Kdump(); h != nil {
		level = h.DumpLevel
	}
	if p.inExcluded > 0 && level == 0 {
		level = 31 // excluded pages without a known level: say "filtered"
	}
	if o.DropZero {
		level |= 1
	}
	level |= int32(o.FilterLevel)
	le.PutUint32(sub[8:], uint32(level))
	noteOff := uint64(bs + kdumpSubHeaderSize)
	if len(notes) > 0 {
		if vOff, vLen, ok := vmcoreinfoIn(notes); ok {
			le.PutUint64(sub[32:], noteOff+vOff)
			le.PutUint64(sub[40:], vLen)
		}
		le.PutUint64(sub[48:], noteOff)
		le.PutUint64(sub[56:], uint64(len(notes)))
	}
	// start_pfn and end_pfn stay 0, as makedumpfile leaves them
	// unless it splits the dump.
	le.PutUint64(sub[96:], maxMapnr) // max_mapnr_64
	copy(sub[kdumpSubHeaderSize:], notes)
	if _, err := w.WriteAt(hdr, 0); err != nil {
		return st, err
	}
	if _, err := w.WriteAt(make([]byte, bs), zeroOff); err != nil {
		return st, err
	}

	valid := make([]byte, bitmapBlocks/2*bs)
	dumpable := make([]byte, len(valid))
	descs := make([]byte, 0, 4096*pageDescSize)
	nDesc := uint64(0)
	flushDescs := func() error {
		if len(descs) == 0 {
			return nil
		}
		_, err := w.WriteAt(descs, descOff+int64((nDesc-uint64(len(descs)/pageDescSize))*pageDescSize))
		descs = descs[:0]
		return err
	}
	data := bufio.NewWriterSize(&offsetWriter{w: w, off: dataOff}, 1<<20)
	off := dataOff
	count := pageCounter{o: wo, total: p.frames}
	err = pipeline(d, wo, comp, func(pg *pageOut) error {
		out := wo.outState(pg.pfn, pg.state, pg.zero)
		n := uint64(pg.pfn)
		st.Frames++
		switch {
		case out == PagePresent:
			if nDesc >= p.present {
				return fmt.Errorf("page frame %#x: more present pages than the first pass counted (was the file modified?): %w", n, ErrCorrupt)
			}
			valid[n/8] |= 1 << (n % 8)
			dumpable[n/8] |= 1 << (n % 8)
			st.Present++
			st.BytesIn += bs
			var dOff int64
			var size, flags uint32
			switch {
			case pg.zero:
				st.Zero++
				st.ZeroShared++
				dOff, size = zeroOff, uint32(bs)
			case pg.compressed:
				if _, err := data.Write(pg.out); err != nil {
					return err
				}
				dOff, size, flags = off, uint32(len(pg.out)), flag
				off += int64(len(pg.out))
			default:
				if _, err := data.Write(pg.data); err != nil {
					return err
				}
				st.Stored++
				dOff, size = off, uint32(bs)
				off += int64(bs)
			}
			descs = le.AppendUint64(descs, uint64(dOff))
			descs = le.AppendUint32(descs, size)
			descs = le.AppendUint32(descs, flags)
			descs = le.AppendUint64(descs, 0)
			nDesc++
			if len(descs) == cap(descs) {
				if err := flushDescs(); err != nil {
					return err
				}
			}
		case out == PageExcluded:
			valid[n/8] |= 1 << (n % 8)
			if pg.state == PageExcluded {
				st.Excluded++
			} else {
				wo.countDropped(&st, pg.pfn)
			}
		default:
			st.NotDumped++
		}
		return count.step()
	})
	if err != nil {
		return st, err
	}
	if err := flushDescs(); err != nil {
		return st, err
	}
	if err := data.Flush(); err != nil {
		return st, err
	}
	if _, err := w.WriteAt(valid, bitmapOff); err != nil {
		return st, err
	}
	if _, err := w.WriteAt(dumpable, bitmapOff+int64(len(valid))); err != nil {
		return st, err
	}
	st.BytesOut = uint64(off)
	return st, nil
}

// vmcoreinfoIn finds the VMCOREINFO descriptor in an encoded note blob.
func vmcoreinfoIn(notes []byte) (off, n uint64, ok bool) {
	parsed, _ := parseNotes(notes, 0, "kdump")
	for _, nt := range parsed {
		if nt.Name == "VMCOREINFO" {
			// Name "VMCOREINFO\0" as encodeNotes wrote it, then the desc.
			return uint64(nt.Off) + 12 + uint64(align4(len(nt.Name)+1)), uint64(len(nt.Desc)), true
		}
	}
	return 0, 0, false
}

// offsetWriter turns an io.WriterAt into a sequential writer from off.
type offsetWriter struct {
	w   io.WriterAt
	off int64
}

func (o *offsetWriter) Write(p []byte) (int, error) {
	n, err := o.w.WriteAt(p, o.off)
	o.off += int64(n)
	return n, err
}
