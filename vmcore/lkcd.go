package vmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// LKCDHeader is the dump_header_t of an LKCD dump and, when present, its
// x86_64 dump_header_asm_t (crash:lkcd_dump_v8.h).
type LKCDHeader struct {
	Magic       uint64
	Version     uint32 // dh_version as written (flags included)
	HeaderSize  uint32
	DumpLevel   uint32
	PageSize    uint32
	MemorySize  uint64
	MemoryStart uint64
	MemoryEnd   uint64
	NumPages    uint32
	PanicString string
	TimeSec     int64
	TimeUsec    int64
	Utsname     Utsname
	CurrentTask uint64 // dh_current_task: the panic task
	Compress    uint32 // 0 none, 1 RLE, 2 GZIP (zlib)
	Flags       uint32
	Device      uint32
	FirstPage   int64 // offset of the first page record (v9: dh_dump_buffer_size)

	Asm *LKCDAsm // nil when the asm header is missing or not x86_64's

	// Records is the number of page records found by the scan; Ended
	// says the scan reached the END record.
	Records uint64
	Ended   bool
	// KcrashNotes: the file carries kcrash's copy of the original dump's
	// ELF notes (VMCOREINFO, every register of every CPU).
	KcrashNotes bool
}

// LKCDAsm is the x86_64 dump_header_asm_t.
type LKCDAsm struct {
	Version      uint32
	NumCPUs      uint32 // dha_smp_num_cpus
	DumpingCPU   uint32
	Regs         [][ptRegsSize / 8]uint64 // dha_smp_regs: pt_regs per CPU slot
	CurrentTasks []uint64                 // dha_smp_current_task
}

// lkcdRecord is one page record found by the scan.
type lkcdRecord struct {
	pfn   uint64
	off   int64 // of the data
	size  uint32
	flags uint32
}

type lkcdPager struct {
	r        io.ReaderAt
	size     int64
	pageSize uint64
	compress uint32
	recs     []lkcdRecord // sorted by pfn, unique
	zlibPool sync.Pool
}

func openLKCD(r io.ReaderAt, size int64, opts Options) (*backend, error) {
	const name = "lkcd"
	var mb [8]byte
	if n, _ := r.ReadAt(mb[:], 0); n < 8 {
		return nil, errUnrecognized
	}
	le := binary.LittleEndian
	magic := le.Uint64(mb[:])
	if magic != lkcdMagic && magic != lkcdMagicLive {
		return nil, errUnrecognized
	}
	hb, err := readFull(r, size, 0, lkcdHeaderV8, lkcdHeaderV8, name, "dump_header_t")
	if err != nil {
		return nil, err
	}
	h := &LKCDHeader{
		Magic:       magic,
		Version:     le.Uint32(hb[8:]),
		HeaderSize:  le.Uint32(hb[12:]),
		DumpLevel:   le.Uint32(hb[16:]),
		PageSize:    le.Uint32(hb[20:]),
		MemorySize:  le.Uint64(hb[24:]),
		MemoryStart: le.Uint64(hb[32:]),
		MemoryEnd:   le.Uint64(hb[40:]),
		NumPages:    le.Uint32(hb[48:]),
		PanicString: cstring(hb[52:308]),
		TimeSec:     int64(le.Uint64(hb[308:])),
		TimeUsec:    int64(le.Uint64(hb[316:])),
		CurrentTask: le.Uint64(hb[714:]),
		Compress:    le.Uint32(hb[722:]),
		Flags:       le.Uint32(hb[726:]),
		Device:      le.Uint32(hb[730:]),
		FirstPage:   lkcdFirstPageV8,
	}
	u := func(i int) string { return cstring(hb[324+65*i : 324+65*(i+1)]) }
	h.Utsname = Utsname{Sysname: u(0), Nodename: u(1), Release: u(2), Version: u(3), Machine: u(4), Domainname: u(5)}

	// crash's is_lkcd_compressed_dump: versions 8, 9 and 10 share the
	// v8 layout; only 9 has dh_dump_buffer_size.
	switch v := h.Version & 0xf; v {
	case 8, 10:
	case 9:
		bb, err := readFull(r, size, lkcdHeaderV8, 8, 8, name, "dh_dump_buffer_size")
		if err != nil {
			return nil, err
		}
		h.FirstPage = int64(le.Uint64(bb))
		if h.FirstPage < lkcdHeaderV9 || h.FirstPage > size {
			return nil, formatErr(name, lkcdHeaderV8, nil, "dh_dump_buffer_size %#x is not an offset in the %d-byte file", uint64(h.FirstPage), size)
		}
	default:
		return nil, formatErr(name, 8, nil, "LKCD version %d: only the v8 layout (versions 8, 9, 10) is supported", v)
	}
	ps := uint64(h.PageSize)
	if ps < 4096 || ps > 64<<10 || ps&(ps-1) != 0 {
		return nil, formatErr(name, 20, nil, "dh_page_size %d is not a power of two between 4 KiB and 64 KiB", ps)
	}
	switch h.Compress {
	case lkcdCompressNone, lkcdCompressRLE, lkcdCompressGzip:
	default:
		return nil, formatErr(name, 722, nil, "dh_dump_compress %d is none of NONE (0), RLE (1), GZIP (2)", h.Compress)
	}
	b := &backend{format: FormatLKCD, pageSize: ps, lkcd: h}
	b.compression = map[uint32]string{lkcdCompressNone: "none", lkcdCompressRLE: "rle", lkcdCompressGzip: "zlib"}[h.Compress]
	warn := func(format string, args ...any) { b.warnings = append(b.warnings, fmt.Sprintf(format, args...)) }

	asmEnd := parseLKCDAsm(r, h, warn)
	if notes, ok := lkcdNotes(r, h, asmEnd, warn); ok {
		b.notes = notes
		h.KcrashNotes = true
	} else if h.Asm != nil {
		b.notes = lkcdRegNotes(h.Asm)
	}

	p := &lkcdPager{r: r, size: size, pageSize: ps, compress: h.Compress}
	if err := p.scan(h, warn); err != nil {
		return nil, err
	}
	b.ranges = p.ranges()
	b.mem = newPagedMemory(p, ps, opts.CachePages)
	return b, nil
}

// parseLKCDAsm reads the x86_64 asm header at dh_header_size and returns
// where it ends. A missing or foreign asm header is a warning: the pages
// are still readable.
func parseLKCDAsm(r io.ReaderAt, h *LKCDHeader, warn func(string, ...any)) int64 {
	le := binary.LittleEndian
	off := int64(h.HeaderSize)
	if off < lkcdHeaderV8 || off+lkcdAsmFixed > h.FirstPage {
		warn("dh_header_size %d leaves no room for the asm header before the first page at %#x: no CPU registers", h.HeaderSize, h.FirstPage)
		return lkcdHeaderV8
	}
	var fixed [lkcdAsmFixed]byte
	if _, err := r.ReadAt(fixed[:], off); err != nil {
		warn("reading the asm header: %v", err)
		return off
	}
	if le.Uint64(fixed[:]) != lkcdAsmMagic {
		warn("asm header magic %#x is not x86_64's %#x: no CPU registers", le.Uint64(fixed[:]), uint64(lkcdAsmMagic))
		return off
	}
	size := int64(le.Uint32(fixed[12:]))
	if size < lkcdAsmFixed || off+size > h.FirstPage {
		warn("asm header size %d does not fit before the first page at %#x: no CPU registers", size, h.FirstPage)
		return off
	}
	nr := int((size - lkcdAsmFixed) / lkcdCPUInfo)
	if nr > lkcdMaxCPUs {
		warn("asm header claims %d CPUs, more than %d: no CPU registers", nr, lkcdMaxCPUs)
		return off
	}
	buf := make([]byte, size)
	if _, err := r.ReadAt(buf, off); err != nil {
		warn("reading the asm header: %v", err)
		return off
	}
	a := &LKCDAsm{Version: le.Uint32(buf[8:]), NumCPUs: le.Uint32(buf[184:]), DumpingCPU: le.Uint32(buf[188:])}
	a.Regs = make([][ptRegsSize / 8]uint64, nr)
	a.CurrentTasks = make([]uint64, nr)
	for i := 0; i < nr; i++ {
		for j := range a.Regs[i] {
			a.Regs[i][j] = le.Uint64(buf[lkcdAsmFixed+i*ptRegsSize+j*8:])
		}
		a.CurrentTasks[i] = le.Uint64(buf[lkcdAsmFixed+nr*ptRegsSize+i*8:])
	}
	h.Asm = a
	return off + size
}

// lkcdNotes reads kcrash's copy of the original notes, if the file has
// one right after the asm header.
func lkcdNotes(r io.ReaderAt, h *LKCDHeader, asmEnd int64, warn func(string, ...any)) ([]Note, bool) {
	off := (asmEnd + 7) &^ 7
	var mh [24]byte
	if off+24 > h.FirstPage {
		return nil, false
	}
	if _, err := r.ReadAt(mh[:], off); err != nil || !bytes.Equal(mh[:16], lkcdNotesMagic) {
		return nil, false
	}
	n := binary.LittleEndian.Uint64(mh[16:])
	if n > uint64(h.FirstPage-off-24) {
		warn("kcrash notes of %d bytes overrun the first page record at %#x: ignored", n, h.FirstPage)
		return nil, false
	}
	data := make([]byte, n)
	if _, err := r.ReadAt(data, off+24); err != nil {
		warn("reading kcrash notes: %v", err)
		return nil, false
	}
	notes, err := parseNotes(data, off+24, "lkcd")
	if err != nil {
		warn("%v", err)
	}
	return notes, true
}

// lkcdRegNotes turns the asm header's registers into NT_PRSTATUS notes,
// so that the CPUs of an LKCD dump look like those of any other dump.
// Only struct pt_regs is known: fs_base and the segment selectors past
// it read as zero, and so does pr_pid.
func lkcdRegNotes(a *LKCDAsm) []Note {
	n := len(a.Regs)
	if a.NumCPUs > 0 && int(a.NumCPUs) < n {
		n = int(a.NumCPUs)
	}
	notes := make([]Note, 0, n)
	for i := 0; i < n; i++ {
		desc := make([]byte, prstatusSize)
		for j, v := range a.Regs[i] {
			binary.LittleEndian.PutUint64(desc[prstatusRegOff+j*8:], v)
		}
		notes = append(notes, Note{Name: "CORE", Type: ntPRStatus, Desc: desc})
	}
	return notes
}

// scan indexes the page records from the first one to END. Each record
// is at least 16 bytes, so there are at most size/16 of them.
func (p *lkcdPager) scan(h *LKCDHeader, warn func(string, ...any)) error {
	le := binary.LittleEndian
	off := h.FirstPage
	maxRecs := uint64(p.size) / lkcdPageHdr
	var hdr [lkcdPageHdr]byte
	sorted := true
	for {
		if off+lkcdPageHdr > p.size {
			warn("no END record: the file ends at %#x after %d page records (truncated?)", p.size, len(p.recs))
			break
		}
		if uint64(len(p.recs)) >= maxRecs {
			return formatErr("lkcd", off, nil, "more than %d page records in a %d-byte file", maxRecs, p.size)
		}
		if _, err := p.r.ReadAt(hdr[:], off); err != nil {
			return formatErr("lkcd", off, err, "reading page record header")
		}
		addr, size, flags := le.Uint64(hdr[0:]), le.Uint32(hdr[8:]), le.Uint32(hdr[12:])
		if flags&lkcdEnd != 0 {
			h.Ended = true
			break
		}
		bad := func(msg string, args ...any) {
			warn("page record at file offset %#x: %s: the rest of the file is ignored", off, fmt.Sprintf(msg, args...))
		}
		switch {
		case flags&^(lkcdRaw|lkcdCompressed|0x80000000) != 0 || flags&(lkcdRaw|lkcdCompressed) == 0 || flags&lkcdRaw != 0 && flags&lkcdCompressed != 0:
			bad("flags %#x", flags)
		case uint64(size) > p.pageSize:
			bad("dp_size %d exceeds the page size %d", size, p.pageSize)
		case addr%p.pageSize != 0:
			bad("dp_address %#x is not page aligned", addr)
		case addr/p.pageSize >= maxPhysAddr/p.pageSize:
			bad("dp_address %#x is beyond the 52-bit physical address space", addr)
		case flags&lkcdRaw != 0 && size != 0 && uint64(size) != p.pageSize:
			bad("a raw page of %d bytes (want %d or 0)", size, p.pageSize)
		case flags&lkcdCompressed != 0 && (size == 0 || h.Compress == lkcdCompressNone):
			bad("compressed page of %d bytes in a dump whose dh_dump_compress is %d", size, h.Compress)
		case off+lkcdPageHdr+int64(size) > p.size:
			warn("page record at file offset %#x: data cut off by the end of the file (truncated)", off)
		default:
			pfn := addr / p.pageSize
			if n := len(p.recs); n > 0 && p.recs[n-1].pfn >= pfn {
				sorted = false
			}
			p.recs = append(p.recs, lkcdRecord{pfn: pfn, off: off + lkcdPageHdr, size: size, flags: flags})
			off += lkcdPageHdr + int64(size)
			continue
		}
		break
	}
	h.Records = uint64(len(p.recs))
	if !sorted {
		sort.SliceStable(p.recs, func(i, j int) bool { return p.recs[i].pfn < p.recs[j].pfn })
		out := p.recs[:0]
		dups := 0
		for _, r := range p.recs {
			if n := len(out); n > 0 && out[n-1].pfn == r.pfn {
				dups++ // crash reports a "conflicting page"; the first record wins
				continue
			}
			out = append(out, r)
		}
		p.recs = out
		if dups > 0 {
			warn("%d page addresses have more than one record: the first one is used", dups)
		}
	}
	return nil
}

func (p *lkcdPager) ranges() []Range {
	var out []Range
	for _, r := range p.recs {
		start := PhysAddr(r.pfn * p.pageSize)
		if n := len(out); n > 0 && out[n-1].End == start {
			out[n-1].End += PhysAddr(p.pageSize)
			continue
		}
		out = append(out, Range{start, start + PhysAddr(p.pageSize)})
	}
	return out
}

func (p *lkcdPager) find(pfn PFN) (lkcdRecord, bool) {
	i := sort.Search(len(p.recs), func(i int) bool { return p.recs[i].pfn >= uint64(pfn) })
	if i < len(p.recs) && p.recs[i].pfn == uint64(pfn) {
		return p.recs[i], true
	}
	return lkcdRecord{}, false
}

func (p *lkcdPager) pageState(pfn PFN) PageState {
	r, ok := p.find(pfn)
	switch {
	case !ok:
		return PageNotDumped
	case r.flags&lkcdRaw != 0 && r.size == 0:
		return PageZero
	}
	return PagePresent
}

func (p *lkcdPager) readPage(pfn PFN, buf []byte) error {
	pa := PhysAddr(uint64(pfn) * p.pageSize)
	r, ok := p.find(pfn)
	if !ok {
		return readErr(pa, ErrNotInDump, "")
	}
	corrupt := func(err error, msg string, args ...any) error {
		return &ReadError{Addr: pa, Err: formatErr("lkcd", r.off-lkcdPageHdr, err, "page record (%d bytes, flags %#x): %s", r.size, r.flags, fmt.Sprintf(msg, args...))}
	}
	if r.flags&lkcdRaw != 0 {
		if r.size == 0 {
			clear(buf)
			return nil
		}
		if _, err := p.r.ReadAt(buf, r.off); err != nil && err != io.EOF {
			return corrupt(err, "reading page data")
		}
		return nil
	}
	src := make([]byte, r.size)
	if _, err := p.r.ReadAt(src, r.off); err != nil && err != io.EOF {
		return corrupt(err, "reading page data")
	}
	var n int
	var err error
	if p.compress == lkcdCompressRLE {
		n, err = unRLE(src, buf)
	} else {
		n, err = p.inflate(src, buf)
	}
	if err != nil {
		return corrupt(err, "decompression failed")
	}
	if n != len(buf) {
		return corrupt(nil, "decompressed to %d bytes, want %d", n, len(buf))
	}
	return nil
}

// inflate decodes one zlib stream of exactly one page (what zlib's
// uncompress() accepts, as crash calls it).
func (p *lkcdPager) inflate(src, dst []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	var zr io.ReadCloser
	if v := p.zlibPool.Get(); v != nil {
		zr = v.(io.ReadCloser)
		err = zr.(zlib.Resetter).Reset(bytes.NewReader(src), nil)
	} else {
		zr, err = zlib.NewReader(bytes.NewReader(src))
	}
	if err != nil {
		return 0, err
	}
	n, err = io.ReadFull(zr, dst)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return n, nil // short: reported by the caller
	}
	if err != nil {
		return n, err
	}
	var one [1]byte
	if m, err := zr.Read(one[:]); m > 0 {
		return n + 1, nil
	} else if err != io.EOF {
		if err == nil {
			err = errors.New("zlib stream does not end after one page")
		}
		return n, err
	}
	p.zlibPool.Put(zr)
	return n, nil
}

// unRLE decodes LKCD's run-length encoding (crash:lkcd_common.c
// lkcd_uncompress_RLE): 0x00 0x00 is one zero byte, 0x00 n v (n ≥ 1) is
// n+1 copies of v, any other byte stands for itself. It reports one
// byte more than dst holds when the input would overflow it.
func unRLE(src, dst []byte) (int, error) {
	n := 0
	put := func(c byte, count int) bool {
		if count > len(dst)-n {
			n = len(dst) + 1
			return false
		}
		for i := 0; i < count; i++ {
			dst[n+i] = c
		}
		n += count
		return true
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != 0 {
			if !put(c, 1) {
				return n, nil
			}
			continue
		}
		if i+1 >= len(src) {
			return n, errors.New("RLE escape at the end of the data")
		}
		i++
		cnt := src[i]
		if cnt == 0 {
			if !put(0, 1) {
				return n, nil
			}
			continue
		}
		if i+1 >= len(src) {
			return n, errors.New("RLE run without a value at the end of the data")
		}
		i++
		if !put(src[i], int(cnt)+1) {
			return n, nil
		}
	}
	return n, nil
}
