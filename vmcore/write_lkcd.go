package vmcore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/zlib"
)

// LKCD v8/v9 layout (crash:lkcd_dump_v8.h; formats.md §1c).
const (
	lkcdMagic        = 0xa8190173618f23ed // DUMP_MAGIC_NUMBER
	lkcdMagicLive    = 0xa8190173618f23cd // DUMP_MAGIC_LIVE
	lkcdHeaderV8     = 734                // sizeof(dump_header_t)
	lkcdHeaderV9     = 742                // v9 adds dh_dump_buffer_size
	lkcdFirstPageV8  = 65536              // LKCD_OFFSET_TO_FIRST_PAGE
	lkcdPageHdr      = 16                 // sizeof(dump_page_t)
	lkcdAsmMagic     = 0xdeaddead         // DUMP_ASM_MAGIC_NUMBER
	lkcdAsmVersion   = 2                  // DUMP_ASM_VERSION_NUMBER, x86_64
	lkcdAsmFixed     = 192                // offsetof(dump_header_asm_t, dha_smp_regs)
	lkcdCPUInfo      = 192                // sizeof(dump_CPU_info_t): pt_regs + 3 pointers
	ptRegsSize       = 168                // x86_64 struct pt_regs
	lkcdRaw          = 0x1                // DUMP_DH_RAW
	lkcdCompressed   = 0x2                // DUMP_DH_COMPRESSED
	lkcdEnd          = 0x4                // DUMP_DH_END
	lkcdCompressNone = 0
	lkcdCompressRLE  = 1
	lkcdCompressGzip = 2 // zlib (RFC 1950) streams, despite the name
	lkcdLevelAll     = 8 // DUMP_LEVEL_ALL
	lkcdMaxCPUs      = 8192
)

// lkcdNotesMagic starts kcrash's copy of the input's ELF notes, kept in
// the unused space between the asm header and the first page record.
// LKCD has no place for VMCOREINFO; crash and libkdumpfile never read
// this space, and kcrash's reader takes KERNELOFFSET and phys_base (and
// every register of every CPU) from it.
var lkcdNotesMagic = []byte("KCRASH-NOTES-v1\x00")

// LKCDOptions configure WriteLKCD.
type LKCDOptions struct {
	WriteOptions
	Crash CrashInfo
	// ExcludedAsZero writes pages a filter excluded from the input as
	// zero pages. LKCD cannot say "excluded"; without this option an
	// input with excluded pages is refused with ErrExcludedPages.
	ExcludedAsZero bool
	// Version is 8 or 9; 0 picks 8 unless the headers need more room
	// than v8's fixed 64 KiB.
	Version int
	// OmitNotes leaves out the copy of the input's notes, giving the
	// file a plain lcrash-era layout.
	OmitNotes bool
	// RawRegisters copies every CPU's NT_PRSTATUS registers into the
	// asm header unchanged, ignoring Crash.StackStarts.
	RawRegisters bool
	// ZlibZeroPages writes an all-zero page as a full record (a zlib
	// stream, or page_size raw bytes without compression) instead of a
	// RAW record of size 0. crash reads both; libkdumpfile accepts a
	// RAW record only when it holds a whole page.
	ZlibZeroPages bool
}

// Offsets into x86_64 struct pt_regs, and the kernel's segment
// selectors (__KERNEL_CS, __KERNEL_DS).
const (
	ptRegsRIP = 16 * 8
	ptRegsCS  = 17 * 8
	ptRegsRSP = 19 * 8
	ptRegsSS  = 20 * 8
	kernelCS  = 0x10
	kernelDS  = 0x18
)

// WriteLKCD writes d as an x86_64 LKCD v8 (or v9) dump, the lcrash
// format crash still reads: dump_header_t, the x86_64 asm header with
// each CPU's pt_regs (the first 168 bytes of its NT_PRSTATUS pr_reg,
// with rip and rsp set to the CPU's o.Crash.StackStarts entry when
// known: see below),
// then one dump_page_t record per page in ascending physical order,
// each page a zlib stream (DUMP_COMPRESS_GZIP) or stored raw when
// compression does not shrink it, and the END record. An all-zero page
// (or, with ExcludedAsZero, an excluded one) is a RAW record of size 0,
// which crash reads as a page of zeros and kcrash as a zero page;
// ZlibZeroPages writes whole records instead, for libkdumpfile, which
// rejects a RAW record shorter than a page.
//
// Why rip and rsp are the stack start rather than the note's: LKCD's
// own dumper saved each CPU's registers in its dump handler, so readers
// (crash's get_lkcd_regs, lcrash) begin the active task's backtrace at
// the header's rip/rsp and nowhere else. A kdump note holds something
// else: on the panicking CPU the registers crash_setup_regs took in
// __crash_kexec before machine_kexec ran, on the others the context the
// NMI interrupted, often user mode, from which crash cannot start at
// all ("cannot determine starting stack pointer"). For ELF and kdump
// files crash searches the stack for the frame the CPU stopped in;
// writing that frame here gives the same backtrace from the LKCD file.
// The full notes are kept in the header blob (unless OmitNotes), so
// kcrash still reads the original registers; RawRegisters turns this
// off.
//
// crash needs "--kaslr=<KERNELOFFSET> --machdep phys_base=<phys_base>"
// to read the result (LKCD has no VMCOREINFO); [LKCDReaderHint] names
// them.
func WriteLKCD(w io.Writer, d *Dump, o LKCDOptions) (WriteStats, error) {
	var st WriteStats
	comp := o.compression()
	var dhCompress uint32
	switch comp {
	case CompressZlib:
		dhCompress = lkcdCompressGzip
	case CompressNone:
		dhCompress = lkcdCompressNone
	default:
		return st, fmt.Errorf("lkcd: compression %q: LKCD pages are zlib-compressed or raw", comp)
	}
	if o.DropZero {
		return st, fmt.Errorf("lkcd: cannot drop zero pages: LKCD has no notion of an excluded page")
	}
	if o.Exclude != nil {
		return st, fmt.Errorf("lkcd: cannot filter pages out: LKCD has no notion of an excluded page")
	}
	ps := d.PageSize()
	p, err := makePlan(d, o.WriteOptions)
	if err != nil {
		return st, err
	}
	if p.inExcluded > 0 && !o.ExcludedAsZero {
		return st, fmt.Errorf("lkcd: %d pages of the input were excluded by filtering (dump level %s): %w; convert an unfiltered dump, or write them as zero pages explicitly",
			p.inExcluded, dumpLevelOf(d), ErrExcludedPages)
	}
	cpus := d.CPUs()
	nr := max(len(cpus), 1)
	if nr > lkcdMaxCPUs {
		return st, fmt.Errorf("lkcd: %d CPUs: crash accepts at most %d", nr, lkcdMaxCPUs)
	}

	le := binary.LittleEndian
	asmSize := lkcdAsmFixed + nr*lkcdCPUInfo
	asm := make([]byte, asmSize)
	le.PutUint64(asm[0:], lkcdAsmMagic)
	le.PutUint32(asm[8:], lkcdAsmVersion)
	le.PutUint32(asm[12:], uint32(asmSize))
	dumping := 0
	if o.Crash.PanicCPUKnown && o.Crash.PanicCPU >= 0 && o.Crash.PanicCPU < len(cpus) {
		dumping = o.Crash.PanicCPU
	}
	regs := func(i int) []byte {
		b := make([]byte, ptRegsSize)
		if i < len(cpus) {
			r := cpus[i].Regs.Slice()
			for j := 0; j < ptRegsSize/8; j++ {
				le.PutUint64(b[j*8:], r[j])
			}
		}
		if i < len(o.Crash.StackStarts) && !o.RawRegisters {
			if st := o.Crash.StackStarts[i]; st.PC != 0 && st.SP != 0 {
				le.PutUint64(b[ptRegsRIP:], st.PC)
				le.PutUint64(b[ptRegsRSP:], st.SP)
				if le.Uint64(b[ptRegsCS:])&3 != 0 { // the note had user-mode registers
					le.PutUint64(b[ptRegsCS:], kernelCS)
					le.PutUint64(b[ptRegsSS:], kernelDS)
				}
			}
		}
		return b
	}
	copy(asm[16:], regs(dumping))
	le.PutUint32(asm[184:], uint32(len(cpus)))
	le.PutUint32(asm[188:], uint32(dumping))
	taskOff := lkcdAsmFixed + nr*ptRegsSize
	for i := 0; i < nr; i++ {
		copy(asm[lkcdAsmFixed+i*ptRegsSize:], regs(i))
		if i < len(o.Crash.CurrentTasks) {
			le.PutUint64(asm[taskOff+i*8:], o.Crash.CurrentTasks[i])
		}
	}
	var blob []byte
	if !o.OmitNotes {
		notes := encodeNotes(d.Notes())
		blob = append(blob, lkcdNotesMagic...)
		blob = le.AppendUint64(blob, uint64(len(notes)))
		blob = append(blob, notes...)
	}

	version := o.Version
	hdrSize := lkcdHeaderV8
	if version == 9 {
		hdrSize = lkcdHeaderV9
	}
	blobOff := (hdrSize + asmSize + 7) &^ 7
	need := blobOff + len(blob)
	if version == 0 {
		version = 8
		if need > lkcdFirstPageV8 {
			version, hdrSize = 9, lkcdHeaderV9
			blobOff = (hdrSize + asmSize + 7) &^ 7
			need = blobOff + len(blob)
		}
	}
	firstPage := lkcdFirstPageV8
	switch version {
	case 8:
		if need > lkcdFirstPageV8 {
			return st, fmt.Errorf("lkcd: headers for %d CPUs need %d bytes, more than v8's %d: use v9", nr, need, lkcdFirstPageV8)
		}
	case 9:
		firstPage = (need + lkcdFirstPageV8 - 1) / lkcdFirstPageV8 * lkcdFirstPageV8
	default:
		return st, fmt.Errorf("lkcd: version %d: only 8 and 9 are written", version)
	}

	hdr := make([]byte, firstPage)
	le.PutUint64(hdr[0:], lkcdMagic)
	le.PutUint32(hdr[8:], uint32(version))
	le.PutUint32(hdr[12:], uint32(hdrSize))
	le.PutUint32(hdr[16:], lkcdLevelAll)
	le.PutUint32(hdr[20:], uint32(ps))
	le.PutUint64(hdr[24:], uint64(p.end))
	le.PutUint64(hdr[40:], uint64(p.end)*ps)
	nPages := p.present + p.inExcluded
	if nPages > 0xffffffff {
		return st, fmt.Errorf("lkcd: %d pages: dh_num_pages is 32 bits", nPages)
	}
	le.PutUint32(hdr[48:], uint32(nPages))
	copy(hdr[52:52+255], o.Crash.PanicString)
	le.PutUint64(hdr[308:], uint64(crashTime(d)))
	putUtsname(hdr[324:], utsnameFor(d, &o.Crash))
	le.PutUint64(hdr[714:], o.Crash.PanicTask)
	le.PutUint32(hdr[722:], dhCompress)
	if version == 9 {
		le.PutUint64(hdr[734:], uint64(firstPage))
	}
	copy(hdr[hdrSize:], asm)
	copy(hdr[blobOff:], blob)

	zeroFlags, zeroRec := uint32(lkcdRaw), []byte(nil)
	if o.ZlibZeroPages {
		if zeroRec, err = lkcdZeroPage(int(ps), dhCompress); err != nil {
			return st, err
		}
		if dhCompress != lkcdCompressNone {
			zeroFlags = lkcdCompressed
		}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(hdr); err != nil {
		return st, err
	}
	st.BytesOut = uint64(len(hdr))
	var ph [lkcdPageHdr]byte
	record := func(pfn PFN, flags uint32, data []byte) error {
		le.PutUint64(ph[0:], uint64(pfn)*ps)
		le.PutUint32(ph[8:], uint32(len(data)))
		le.PutUint32(ph[12:], flags)
		if _, err := bw.Write(ph[:]); err != nil {
			return err
		}
		_, err := bw.Write(data)
		st.BytesOut += lkcdPageHdr + uint64(len(data))
		return err
	}
	written := uint64(0)
	count := pageCounter{o: o.WriteOptions, total: p.frames}
	err = pipeline(d, o.WriteOptions, comp, func(pg *pageOut) error {
		st.Frames++
		var err error
		switch pg.state {
		case PagePresent, PageZero:
			st.Present++
			st.BytesIn += ps
			switch {
			case pg.zero:
				st.Zero++
				err = record(pg.pfn, zeroFlags, zeroRec)
			case pg.compressed:
				err = record(pg.pfn, lkcdCompressed, pg.out)
			default:
				st.Stored++
				err = record(pg.pfn, lkcdRaw, pg.data)
			}
			written++
		case PageExcluded:
			st.ExcludedAsZero++
			err = record(pg.pfn, zeroFlags, zeroRec)
			written++
		default:
			st.NotDumped++
		}
		if err != nil {
			return err
		}
		return count.step()
	})
	if err != nil {
		return st, err
	}
	if written != nPages {
		return st, fmt.Errorf("lkcd: wrote %d page records, the header says %d (was the input modified?): %w", written, nPages, ErrCorrupt)
	}
	if err := record(0, lkcdEnd, nil); err != nil {
		return st, err
	}
	return st, bw.Flush()
}

// lkcdZeroPage is the record data of an all-zero page.
func lkcdZeroPage(ps int, compress uint32) ([]byte, error) {
	zero := make([]byte, ps)
	if compress == lkcdCompressNone {
		return zero, nil
	}
	var b bytes.Buffer
	zw, err := zlib.NewWriterLevel(&b, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.Write(zero)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func dumpLevelOf(d *Dump) string {
	if h := d.Kdump(); h != nil {
		return fmt.Sprint(h.DumpLevel)
	}
	return "unknown"
}

// LKCDReaderHint returns the options crash needs to read an LKCD file
// converted from d: the KASLR offset and phys_base, which LKCD has no
// field for. ok is false when d does not record them.
func LKCDReaderHint(d *Dump) (kaslr uint64, physBase int64, ok bool) {
	vi := d.VMCOREINFO()
	pb, havePB := physBaseFor(d)
	if vi == nil || !vi.HasKernelOffset || !havePB {
		return 0, 0, false
	}
	return vi.KernelOffset, pb, true
}
