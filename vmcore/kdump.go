package vmcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Reading makedumpfile's kdump-compressed format (formats.md §1b).
//
// Layout: block 0 disk_dump_header, then sub_hdr_size blocks of
// kdump_sub_header and notes, then bitmap_blocks of bitmaps (1st half:
// the frame is RAM; 2nd half: the frame is dumped), then one page_desc_t
// per set bit of the 2nd bitmap in pfn order, then page data.
//
// pfn → descriptor: the descriptor index of a pfn is the number of set
// bits of the 2nd bitmap below it. At open a cumulative count is kept
// for every 512 frames (one uint64 per 64 bitmap bytes), so a lookup
// costs one table read plus at most eight popcounts.
//
// Zero pages: makedumpfile and QEMU write one raw zero page at the start
// of the data area and point the descriptor of every all-zero page at
// it. At open the block there is read once; if it is all zeros, every
// raw one-block descriptor with that offset is reported as PageZero.
//
// Truncation: nothing read from a header is allocated beyond what the
// file holds. Bitmaps are read as far as the file goes (frames past
// that are unknown: not dumped, and listed as missing). Descriptors and
// page data are checked against the file (or, for flattened files, the
// records) on every read, so a cut-off page fails with ErrNotInDump. The
// ranges to list as missing need a pass over the descriptor table; it is
// made only when the last descriptors or their data are absent, the file
// is marked incomplete, or the flattened container saw its end cut off.

// kdump-compressed layout constants (makedumpfile:diskdump_mod.h;
// formats.md §1b).
const (
	kdumpHeaderSize    = 464 // struct disk_dump_header
	kdumpSubHeaderSize = 104 // struct kdump_sub_header, header_version 6
	pageDescSize       = 24  // page_desc_t

	// page_desc_t.flags and disk_dump_header.status bits.
	dumpCompressedZlib       = 0x1
	dumpCompressedLZO        = 0x2
	dumpCompressedSnappy     = 0x4
	dumpCompressedIncomplete = 0x8
	dumpExcludedVmemmap      = 0x10
	dumpCompressedZstd       = 0x20
	dumpCompressionMask      = dumpCompressedZlib | dumpCompressedLZO | dumpCompressedSnappy | dumpCompressedZstd

	minKdumpBlock = 4 << 10
	maxKdumpBlock = 64 << 10

	// rankBlock is the number of pfns between two cumulative counts of
	// the dumpable bitmap: 512 pfns = 64 bitmap bytes = 8 words, so a
	// pfn's descriptor index costs at most 8 popcounts.
	rankShift = 9
	rankBlock = 1 << rankShift

	// descSample is how many leading descriptors are read at open to
	// name the compression when the header status does not.
	descSample = 64
	// descChunk is how many descriptors a table scan reads at once.
	descChunk = 4096
)

// KdumpHeader holds the disk_dump_header and kdump_sub_header of a
// kdump-compressed dump (makedumpfile's diskdump_mod.h).
type KdumpHeader struct {
	Signature     string // "KDUMP   " or "DISKDUMP"
	HeaderVersion int32
	Utsname       Utsname
	TimestampSec  int64
	TimestampUsec int64
	Status        uint32 // DUMP_DH_* flags
	BlockSize     uint32
	SubHdrSize    uint32 // in blocks
	BitmapBlocks  uint32
	// MaxMapnr is the number of page frames the bitmaps describe:
	// max_mapnr_64 from header_version 6 on, else the 32-bit header
	// field, capped to what the bitmaps can hold.
	MaxMapnr       uint64
	MaxMapnr32     uint32 // disk_dump_header.max_mapnr as written
	TotalRAMBlocks uint32
	DeviceBlocks   uint32
	WrittenBlocks  uint32
	CurrentCPU     int32
	NrCPUs         int32

	// kdump_sub_header (KDUMP signature only); each field is zero when
	// the header_version predates it.
	PhysBase         uint64
	DumpLevel        int32
	Split            int32
	StartPFN         uint64 // start_pfn_64 (v6) or start_pfn (v2..5)
	EndPFN           uint64 // end_pfn_64 (v6) or end_pfn (v2..5)
	OffsetVMCOREINFO int64
	SizeVMCOREINFO   uint64
	OffsetNote       int64
	SizeNote         uint64
	OffsetEraseinfo  int64
	SizeEraseinfo    uint64

	// Derived layout. Offsets are in the kdump-compressed layout, as the
	// header's own offsets are: for a flattened file, offsets of the
	// rearranged file (what makedumpfile -R would write).
	BitmapOffset   int64  // file offset of the 1st bitmap
	BitmapLen      uint64 // bytes of each bitmap as used
	DescOffset     int64  // file offset of the page_desc_t table
	NumDescs       uint64 // descriptors the table holds (set bits of the 2nd bitmap)
	ZeroPageOffset int64  // file offset of the shared zero page, or -1
}

// Incomplete reports whether makedumpfile marked the dump as cut short
// (DUMP_DH_COMPRESSED_INCOMPLETE: it ran out of space).
func (h *KdumpHeader) Incomplete() bool { return h.Status&dumpCompressedIncomplete != 0 }

// Utsname is the kernel's struct new_utsname as stored in dump headers.
type Utsname struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

func openKdump(r io.ReaderAt, size int64, opts Options) (*backend, error) {
	var sig [8]byte
	if n, _ := r.ReadAt(sig[:], 0); n < len(sig) || !isKdumpSignature(sig[:]) {
		return nil, errUnrecognized
	}
	return parseKdump(r, size, opts, kdumpSource{format: FormatKdump, name: "kdump"})
}

func isKdumpSignature(b []byte) bool {
	return bytes.Equal(b, []byte("KDUMP   ")) || bytes.Equal(b, []byte("DISKDUMP"))
}

// kdumpSource describes the file the kdump parser reads: a plain file,
// or the rearranged view of a flattened one.
type kdumpSource struct {
	format Format
	name   string // error prefix: "kdump" or "flattened"
	// avail reports whether [off, off+n) of r holds data; nil means
	// "lies within size".
	avail func(off, n int64) bool
	// fileOff maps an offset of r to one of the file for error
	// messages; nil means identity.
	fileOff func(off int64) int64
	// truncated says the container itself saw the file cut short, so
	// the descriptor table is scanned for lost pages.
	truncated bool
}

// kdumpPager reads pages of a kdump-compressed dump. Everything but the
// zstd decoder and zlib readers is fixed after open.
type kdumpPager struct {
	r         io.ReaderAt
	size      int64
	src       kdumpSource
	blockSize uint64

	maxPFN      uint64 // page frames described by the bitmaps
	validKnown  uint64 // pfns below this have a known 1st-bitmap bit
	dumpKnown   uint64 // pfns below this have a known 2nd-bitmap bit
	valid       []byte // 1st bitmap, padded with zeros to a multiple of 64 bytes
	dumpable    []byte // 2nd bitmap, same padding
	rank        []uint64
	startPFN    uint64 // descriptors start at this pfn (split dumps)
	endPFN      uint64 // and end before this one
	startRank   uint64
	descOff     int64
	nDesc       uint64
	zeroOff     int64 // -1 when there is no verified shared zero page
	incomplete  bool
	splitDetail string

	zstdOnce sync.Once
	zstdDec  *zstd.Decoder
	zstdErr  error
	zlibPool sync.Pool // of io.ReadCloser implementing zlib.Resetter
}

// pageDesc is one page_desc_t.
type pageDesc struct {
	off   int64
	size  uint32
	flags uint32
}

func decodeDesc(b []byte) pageDesc {
	le := binary.LittleEndian
	return pageDesc{off: int64(le.Uint64(b)), size: le.Uint32(b[8:]), flags: le.Uint32(b[12:])}
}

// parseKdump reads a kdump-compressed dump from r (a plain file or the
// rearranged view of a flattened file) and builds its backend.
func parseKdump(r io.ReaderAt, size int64, opts Options, src kdumpSource) (*backend, error) {
	name := src.name
	if src.fileOff == nil {
		src.fileOff = func(off int64) int64 { return off }
	}
	if src.avail == nil {
		src.avail = func(off, n int64) bool { return off >= 0 && n >= 0 && off <= size && n <= size-off }
	}
	hb, err := readFull(r, size, 0, kdumpHeaderSize, kdumpHeaderSize, name, "disk_dump_header")
	if err != nil {
		return nil, err
	}
	if !isKdumpSignature(hb[:8]) {
		return nil, formatErr(name, src.fileOff(0), nil, "signature %q is neither \"KDUMP   \" nor \"DISKDUMP\"", hb[:8])
	}
	le := binary.LittleEndian
	h := &KdumpHeader{
		Signature:      string(hb[:8]),
		HeaderVersion:  int32(le.Uint32(hb[8:])),
		TimestampSec:   int64(le.Uint64(hb[408:])),
		TimestampUsec:  int64(le.Uint64(hb[416:])),
		Status:         le.Uint32(hb[424:]),
		BlockSize:      le.Uint32(hb[428:]),
		SubHdrSize:     le.Uint32(hb[432:]),
		BitmapBlocks:   le.Uint32(hb[436:]),
		MaxMapnr32:     le.Uint32(hb[440:]),
		TotalRAMBlocks: le.Uint32(hb[444:]),
		DeviceBlocks:   le.Uint32(hb[448:]),
		WrittenBlocks:  le.Uint32(hb[452:]),
		CurrentCPU:     int32(le.Uint32(hb[456:])),
		NrCPUs:         int32(le.Uint32(hb[460:])),
		ZeroPageOffset: -1,
	}
	u := func(i int) string { return cstring(hb[12+65*i : 12+65*(i+1)]) }
	h.Utsname = Utsname{Sysname: u(0), Nodename: u(1), Release: u(2), Version: u(3), Machine: u(4), Domainname: u(5)}
	kdumpSig := h.Signature == "KDUMP   "

	bs := uint64(h.BlockSize)
	if bs < minKdumpBlock || bs > maxKdumpBlock || bs&(bs-1) != 0 {
		return nil, formatErr(name, src.fileOff(428), nil, "block_size %d is not a power of two between %d and %d", bs, minKdumpBlock, maxKdumpBlock)
	}
	if h.HeaderVersion < 0 {
		return nil, formatErr(name, src.fileOff(8), nil, "header_version %d is negative", h.HeaderVersion)
	}
	b := &backend{format: src.format, pageSize: bs, kdump: h}
	warn := func(format string, args ...any) { b.warnings = append(b.warnings, fmt.Sprintf(format, args...)) }

	maxPFN := uint64(h.MaxMapnr32)
	if kdumpSig {
		if err := parseSubHeader(r, size, h, &src, b, &maxPFN); err != nil {
			return nil, err
		}
	}

	// Bitmaps. All offsets fit comfortably in int64: block counts are
	// 32-bit and blocks at most 64 KiB.
	bitmapOff := int64((1 + uint64(h.SubHdrSize)) * bs)
	bitmapLen := uint64(h.BitmapBlocks) * bs
	descOff := bitmapOff + int64(bitmapLen)
	needBytes := (maxPFN + 7) / 8
	half := bitmapLen / 2
	twoBitmaps := true
	if !kdumpSig && uint64(h.BitmapBlocks) < 2*((needBytes+bs-1)/bs) {
		// Old diskdump wrote a single bitmap serving as both (crash's
		// dump_is_partial).
		twoBitmaps, half = false, bitmapLen
	}
	if half == 0 {
		return nil, formatErr(name, src.fileOff(436), nil, "bitmap_blocks is %d: no room for the page bitmaps", h.BitmapBlocks)
	}
	if needBytes > half {
		capped := half * 8
		warn("max_mapnr %d exceeds the %d page frames the %d-block bitmaps hold: capped", maxPFN, capped, h.BitmapBlocks)
		maxPFN, needBytes = capped, half
	}
	if maxPFN > math.MaxUint64/bs {
		maxPFN = math.MaxUint64 / bs
		needBytes = (maxPFN + 7) / 8
	}
	if bitmapLen > uint64(size) && half > 2*needBytes+bs {
		// A bitmap far larger than max_mapnr needs and larger than the
		// whole file is a corrupt header, not a cut-off file.
		return nil, formatErr(name, src.fileOff(436), nil, "bitmap_blocks %d (%d bytes) is inconsistent with max_mapnr %d and exceeds the %d-byte file", h.BitmapBlocks, bitmapLen, maxPFN, size)
	}
	h.MaxMapnr = maxPFN
	h.BitmapOffset = bitmapOff
	h.BitmapLen = needBytes
	h.DescOffset = descOff

	p := &kdumpPager{r: r, size: size, src: src, blockSize: bs, maxPFN: maxPFN, descOff: descOff, zeroOff: -1}
	p.valid, p.validKnown = p.readBitmap(bitmapOff, needBytes)
	if twoBitmaps {
		p.dumpable, p.dumpKnown = p.readBitmap(bitmapOff+int64(half), needBytes)
	} else {
		p.dumpable, p.dumpKnown = p.valid, p.validKnown
	}
	if p.validKnown < maxPFN || p.dumpKnown < maxPFN {
		warn("the page bitmaps are cut short by the end of the file: page frames from %#x on are unknown", min(p.validKnown, p.dumpKnown))
	}
	p.buildRank()

	p.startPFN, p.endPFN = 0, maxPFN
	if h.Split != 0 {
		p.startPFN, p.endPFN = min(h.StartPFN, maxPFN), min(max(h.EndPFN, h.StartPFN), maxPFN)
		p.splitDetail = fmt.Sprintf("held by another file of the split dump (this one holds pfns %#x-%#x)", p.startPFN, p.endPFN)
		warn("this is one file of a split dump: it holds page frames %#x-%#x only", p.startPFN, p.endPFN)
	}
	p.startRank = p.rankOf(p.startPFN)
	p.nDesc = p.rankOf(min(p.endPFN, p.dumpKnown)) - p.startRank
	h.NumDescs = p.nDesc
	p.incomplete = h.Status&dumpCompressedIncomplete != 0
	if p.incomplete {
		warn("makedumpfile marked the dump incomplete (DUMP_DH_COMPRESSED_INCOMPLETE): pages it did not write read as not in the dump")
	}

	// makedumpfile and QEMU write one raw zero page first in the data
	// area and point every all-zero page's descriptor at it.
	if dataOff := descOff + int64(min(p.nDesc, uint64(math.MaxInt64/pageDescSize/2))*pageDescSize); src.avail(dataOff, int64(bs)) {
		zp := make([]byte, bs)
		if _, err := r.ReadAt(zp, dataOff); err == nil && isZero(zp) {
			p.zeroOff = dataOff
			h.ZeroPageOffset = dataOff
		}
	}

	b.compression = p.compression(h.Status)
	b.ranges = p.ranges(b)
	b.missing = p.lostRanges(b)
	b.mem = newPagedMemory(p, bs, opts.CachePages)
	b.closer = p
	return b, nil
}

// parseSubHeader reads kdump_sub_header and the notes it points at.
func parseSubHeader(r io.ReaderAt, size int64, h *KdumpHeader, src *kdumpSource, b *backend, maxPFN *uint64) error {
	name := src.name
	bs := int64(h.BlockSize)
	// Bytes of the sub-header each header_version defines.
	need := []uint64{8, 12, 32, 48, 64, 80, 104}[min(int(h.HeaderVersion), 6)]
	sb, err := readFull(r, size, bs, need, kdumpSubHeaderSize, name, "kdump_sub_header")
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	v := h.HeaderVersion
	h.PhysBase = le.Uint64(sb)
	if v >= 1 {
		h.DumpLevel = int32(le.Uint32(sb[8:]))
	}
	if v >= 2 {
		h.Split = int32(le.Uint32(sb[12:]))
		h.StartPFN, h.EndPFN = le.Uint64(sb[16:]), le.Uint64(sb[24:])
	}
	if v >= 3 {
		h.OffsetVMCOREINFO, h.SizeVMCOREINFO = int64(le.Uint64(sb[32:])), le.Uint64(sb[40:])
	}
	if v >= 4 {
		h.OffsetNote, h.SizeNote = int64(le.Uint64(sb[48:])), le.Uint64(sb[56:])
	}
	if v >= 5 {
		h.OffsetEraseinfo, h.SizeEraseinfo = int64(le.Uint64(sb[64:])), le.Uint64(sb[72:])
	}
	if v >= 6 {
		h.StartPFN, h.EndPFN = le.Uint64(sb[80:]), le.Uint64(sb[88:])
		*maxPFN = le.Uint64(sb[96:])
	}

	warn := func(format string, args ...any) { b.warnings = append(b.warnings, fmt.Sprintf(format, args...)) }
	switch {
	case h.SizeNote > 0:
		data, err := readFull(r, size, h.OffsetNote, h.SizeNote, maxNoteSegment, name, "note data")
		if err != nil || !src.avail(h.OffsetNote, int64(h.SizeNote)) {
			warn("notes lost (CPU registers, VMCOREINFO): %v", errOr(err, "not present in the file"))
			break
		}
		notes, err := parseNotes(data, src.fileOff(h.OffsetNote), name)
		if err != nil {
			warn("%v", err)
		}
		b.notes = notes
	case h.SizeVMCOREINFO > 0:
		data, err := readFull(r, size, h.OffsetVMCOREINFO, h.SizeVMCOREINFO, maxVMCOREINFO, name, "VMCOREINFO")
		if err != nil || !src.avail(h.OffsetVMCOREINFO, int64(h.SizeVMCOREINFO)) {
			warn("VMCOREINFO lost: %v", errOr(err, "not present in the file"))
			break
		}
		b.notes = []Note{{Name: "VMCOREINFO", Desc: data, Off: src.fileOff(h.OffsetVMCOREINFO)}}
	}
	return nil
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// readBitmap reads up to n bytes of a bitmap at off, stopping where the
// file (or the flattened file's records) ends, so that a header cannot
// make it allocate more than the file holds. It returns the bitmap,
// padded with zeros to whole rank blocks, and how many pfns it knows.
func (p *kdumpPager) readBitmap(off int64, n uint64) ([]byte, uint64) {
	avail := uint64(0)
	if off < p.size {
		avail = min(n, uint64(p.size-off))
	}
	// Shrink to the part that is actually present (flattened files can
	// have holes), a block at a time.
	if avail > 0 && !p.src.avail(off, int64(avail)) {
		lo := uint64(0)
		for lo < avail && p.src.avail(off+int64(lo), int64(min(p.blockSize, avail-lo))) {
			lo += min(p.blockSize, avail-lo)
		}
		avail = lo
	}
	bm := make([]byte, (avail+63)&^63)
	if avail > 0 {
		if _, err := p.r.ReadAt(bm[:avail], off); err != nil && err != io.EOF {
			return bm, 0
		}
	}
	known := min(avail*8, p.maxPFN)
	// Clear bits past what is known so that ranks count only real frames.
	if known%8 != 0 {
		bm[known/8] &= byte(1)<<(known%8) - 1
	}
	clear(bm[(known+7)/8:])
	return bm, known
}

func bitSet(bm []byte, pfn uint64) bool { return bm[pfn>>3]&(1<<(pfn&7)) != 0 }

// buildRank records, for every rankBlock pfns, how many dumpable pfns
// precede the block, so that rankOf is O(1).
func (p *kdumpPager) buildRank() {
	nblk := uint64(len(p.dumpable)) / 64
	p.rank = make([]uint64, nblk+1)
	n := uint64(0)
	for i := uint64(0); i < nblk; i++ {
		p.rank[i] = n
		w := p.dumpable[i*64 : i*64+64]
		for j := 0; j < 64; j += 8 {
			n += uint64(bits.OnesCount64(binary.LittleEndian.Uint64(w[j:])))
		}
	}
	p.rank[nblk] = n
}

// rankOf is the number of dumpable pfns below pfn (pfn <= maxPFN).
func (p *kdumpPager) rankOf(pfn uint64) uint64 {
	pfn = min(pfn, uint64(len(p.dumpable))*8) // bits past the slice are zero
	blk := pfn >> rankShift
	if blk >= uint64(len(p.rank)) {
		return p.rank[len(p.rank)-1]
	}
	n := p.rank[blk]
	base := blk * 64
	w := (pfn & (rankBlock - 1)) >> 6
	for i := uint64(0); i < w; i++ {
		n += uint64(bits.OnesCount64(binary.LittleEndian.Uint64(p.dumpable[base+i*8:])))
	}
	if r := pfn & 63; r != 0 {
		n += uint64(bits.OnesCount64(binary.LittleEndian.Uint64(p.dumpable[base+w*8:]) & (1<<r - 1)))
	}
	return n
}

// pageLoc is what the bitmaps and the descriptor table say about a pfn.
type pageLoc struct {
	state PageState
	err   error // why the page cannot be read; nil for present and zero pages
	desc  pageDesc
	dOff  int64 // offset of the descriptor
}

// locate classifies pfn. Without detail, errors are the bare sentinels
// (pageState and table scans need no message and must not allocate).
func (p *kdumpPager) locate(pfn PFN, detail bool) pageLoc {
	pa := PhysAddr(uint64(pfn) * p.blockSize)
	n := uint64(pfn)
	notIn := func(msg string, args ...any) pageLoc {
		if !detail {
			return pageLoc{state: PageNotDumped, err: ErrNotInDump}
		}
		return pageLoc{state: PageNotDumped, err: readErr(pa, ErrNotInDump, msg, args...)}
	}
	switch {
	case n >= p.maxPFN:
		return notIn("")
	case n >= p.validKnown || n >= p.dumpKnown:
		if !detail {
			return notIn("")
		}
		return notIn("file truncated: the page bitmaps for pfn %#x are cut off", n)
	case !bitSet(p.dumpable, n):
		if bitSet(p.valid, n) {
			if !detail {
				return pageLoc{state: PageExcluded, err: ErrExcluded}
			}
			return pageLoc{state: PageExcluded, err: readErr(pa, ErrExcluded, "")}
		}
		return notIn("")
	case n < p.startPFN || n >= p.endPFN:
		return notIn("%s", p.splitDetail)
	}
	idx := p.rankOf(n) - p.startRank
	dOff := p.descOff + int64(idx)*pageDescSize
	if !p.src.avail(dOff, pageDescSize) {
		if !detail {
			return notIn("")
		}
		return notIn("file truncated: page descriptor %d at %#x is cut off", idx, p.src.fileOff(dOff))
	}
	var db [pageDescSize]byte
	if _, err := p.r.ReadAt(db[:], dOff); err != nil {
		if !detail {
			return pageLoc{state: PageNotDumped, err: ErrCorrupt}
		}
		return pageLoc{state: PageNotDumped, err: readErr(pa, ErrCorrupt, "reading page descriptor at %#x: %v", p.src.fileOff(dOff), err)}
	}
	return p.locateData(pa, decodeDesc(db[:]), dOff, detail)
}

// locateData checks that a descriptor's data is in the file.
func (p *kdumpPager) locateData(pa PhysAddr, d pageDesc, dOff int64, detail bool) pageLoc {
	l := pageLoc{state: PagePresent, desc: d, dOff: dOff}
	fail := func(sentinel error, msg string, args ...any) {
		l.state, l.err = PageNotDumped, sentinel
		if detail {
			l.err = readErr(pa, sentinel, msg, args...)
		}
	}
	switch {
	case d.off == 0:
		fail(ErrNotInDump, "dump incomplete: page descriptor at %#x has no data", p.src.fileOff(dOff))
	case d.off == p.zeroOff && d.flags == 0 && uint64(d.size) == p.blockSize:
		l.state = PageZero
	case d.off < 0 || d.off > math.MaxInt64-int64(d.size):
		fail(ErrCorrupt, "page descriptor at %#x points at offset %#x, outside the file", p.src.fileOff(dOff), d.off)
	case !p.src.avail(d.off, int64(d.size)):
		if p.src.format == FormatFlattened {
			fail(ErrNotInDump, "flattened file truncated: no record holds the page data (rearranged offset %#x)", d.off)
		} else {
			fail(ErrNotInDump, "file truncated at %#x: page data was at %#x", p.size, d.off)
		}
	}
	return l
}

func (p *kdumpPager) pageState(pfn PFN) PageState { return p.locate(pfn, false).state }

func (p *kdumpPager) readPage(pfn PFN, buf []byte) error {
	l := p.locate(pfn, true)
	if l.err != nil {
		return l.err
	}
	if l.state == PageZero {
		clear(buf)
		return nil
	}
	pa := PhysAddr(uint64(pfn) * p.blockSize)
	d := l.desc
	corrupt := func(err error, msg string, args ...any) error {
		return &ReadError{Addr: pa, Err: formatErr(p.src.name, p.src.fileOff(d.off), err, "page %#x (descriptor at %#x, %d bytes, flags %#x): %s",
			uint64(pfn), p.src.fileOff(l.dOff), d.size, d.flags, fmt.Sprintf(msg, args...))}
	}
	if d.size == 0 || uint64(d.size) > p.blockSize {
		return corrupt(nil, "compressed size is not between 1 and the block size %d", p.blockSize)
	}
	if d.flags == 0 {
		if uint64(d.size) != p.blockSize {
			return corrupt(nil, "an uncompressed page must be %d bytes", p.blockSize)
		}
		if _, err := p.r.ReadAt(buf, d.off); err != nil && err != io.EOF {
			return corrupt(err, "reading page data")
		}
		return nil
	}
	src := make([]byte, d.size)
	if _, err := p.r.ReadAt(src, d.off); err != nil && err != io.EOF {
		return corrupt(err, "reading page data")
	}
	n, err := p.decompress(d.flags, src, buf)
	if err != nil {
		return corrupt(err, "decompression failed")
	}
	if n != len(buf) {
		return corrupt(nil, "decompressed to %d bytes, want %d", n, len(buf))
	}
	return nil
}

// StatusString names the DUMP_DH_* bits of the header status, e.g.
// "zlib|incomplete".
func (h *KdumpHeader) StatusString() string {
	s := h.Status
	var names []string
	for _, f := range []struct {
		bit  uint32
		name string
	}{{dumpCompressedZlib, "zlib"}, {dumpCompressedLZO, "lzo"}, {dumpCompressedSnappy, "snappy"},
		{dumpCompressedIncomplete, "incomplete"}, {dumpExcludedVmemmap, "excluded_vmemmap"}, {dumpCompressedZstd, "zstd"}} {
		if s&f.bit != 0 {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, "|")
}
