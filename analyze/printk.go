package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// LogRecord is one printk record.
type LogRecord struct {
	Seq      uint64
	TsNsec   uint64
	Level    uint8  // 0 (emerg) … 7 (debug)
	Facility uint8  // 0 kernel, 1 user …
	CallerID uint32 // bit 31 set: CPU id, else the task's pid (0 if not recorded)
	Text     string // may hold several lines
	// HasText is false for records that carry no text block; crash prints
	// them as empty lines.
	HasText   bool
	Subsystem string
	Device    string
}

// CallerIsCPU reports whether CallerID names a CPU rather than a task.
func (r LogRecord) CallerIsCPU() bool { return r.CallerID&0x80000000 != 0 }

// Caller returns the CPU number or pid in CallerID.
func (r LogRecord) Caller() uint32 { return r.CallerID &^ 0x80000000 }

// Bounds on what a dump may claim, so a corrupt ring cannot make us
// allocate gigabytes (the kernel caps log_buf at 2^25 bytes with
// CONFIG_LOG_BUF_SHIFT=25).
const (
	maxLogBuf      = 1 << 28
	maxDescriptors = 1 << 22
)

// prbLayout is what the lockless ring buffer's reader needs to know,
// all of it published in VMCOREINFO by log_buf_vmcoreinfo_setup()
// (kernel/printk/printk.c), so no debug info is needed.
type prbLayout struct {
	prb                                                VirtAddr // SYMBOL(prb): a pointer to the ring buffer
	sizePRB, offDescRing, offTextRing                  int64
	offCountBits, offDescs, offInfos, offHead, offTail int64
	sizeDesc, offStateVar, offTextLpos                 int64
	offBegin, offNext                                  int64
	sizeInfo, offSeq, offTs, offTextLen, offCaller     int64
	offDevInfo, offSubsystem, offDevice                int64
	lenSubsystem, lenDevice                            int64
	offSizeBits, offData                               int64
}

var errNoPrintkInfo = errors.New("VMCOREINFO lacks the printk ring buffer layout")

// errBadLogLayout: VMCOREINFO describes the log's structures with
// fields that do not fit in them (a corrupt dump).
var errBadLogLayout = errors.New("implausible printk layout in VMCOREINFO")

// maxRingBytes bounds what the descriptor and info arrays may take.
const maxRingBytes = 1 << 28

// check refuses a layout whose fields do not fit in the structures
// VMCOREINFO sizes.
func (l *prbLayout) check() error {
	fits := func(off, n, size int64) bool { return off >= 0 && n >= 0 && off+n <= size }
	lpos := max(l.offBegin, l.offNext) + 8
	dev := max(l.offSubsystem+l.lenSubsystem, l.offDevice+l.lenDevice)
	ok := l.sizeDesc > 0 && l.sizeDesc <= 4096 && l.sizeInfo > 0 && l.sizeInfo <= 4096 &&
		fits(l.offStateVar, 8, l.sizeDesc) && l.offBegin >= 0 && l.offNext >= 0 && fits(l.offTextLpos, lpos, l.sizeDesc) &&
		fits(l.offSeq, 8, l.sizeInfo) && fits(l.offTs, 8, l.sizeInfo) && fits(l.offTextLen, 4, l.sizeInfo) &&
		fits(l.offCaller, 4, l.sizeInfo) && l.offSubsystem >= 0 && l.offDevice >= 0 &&
		l.lenSubsystem >= 0 && l.lenDevice >= 0 && fits(l.offDevInfo, dev, l.sizeInfo)
	if !ok {
		return fmt.Errorf("%w: prb_desc of %d bytes, printk_info of %d", errBadLogLayout, l.sizeDesc, l.sizeInfo)
	}
	return nil
}

func (k *Kernel) prbLayout() (*prbLayout, error) {
	vi := k.vi
	if vi == nil {
		return nil, errNoPrintkInfo
	}
	prb, ok := vi.Symbol("prb")
	if !ok {
		return nil, errNoPrintkInfo
	}
	l := &prbLayout{prb: VirtAddr(prb)}
	var missing []string
	get := func(m map[string]int64, key string, dst *int64) {
		v, ok := m[key]
		if !ok {
			missing = append(missing, key)
		}
		*dst = v
	}
	get(vi.Sizes, "printk_ringbuffer", &l.sizePRB)
	get(vi.Offsets, "printk_ringbuffer.desc_ring", &l.offDescRing)
	get(vi.Offsets, "printk_ringbuffer.text_data_ring", &l.offTextRing)
	get(vi.Offsets, "prb_desc_ring.count_bits", &l.offCountBits)
	get(vi.Offsets, "prb_desc_ring.descs", &l.offDescs)
	get(vi.Offsets, "prb_desc_ring.infos", &l.offInfos)
	get(vi.Offsets, "prb_desc_ring.head_id", &l.offHead)
	get(vi.Offsets, "prb_desc_ring.tail_id", &l.offTail)
	get(vi.Sizes, "prb_desc", &l.sizeDesc)
	get(vi.Offsets, "prb_desc.state_var", &l.offStateVar)
	get(vi.Offsets, "prb_desc.text_blk_lpos", &l.offTextLpos)
	get(vi.Offsets, "prb_data_blk_lpos.begin", &l.offBegin)
	get(vi.Offsets, "prb_data_blk_lpos.next", &l.offNext)
	get(vi.Sizes, "printk_info", &l.sizeInfo)
	get(vi.Offsets, "printk_info.seq", &l.offSeq)
	get(vi.Offsets, "printk_info.ts_nsec", &l.offTs)
	get(vi.Offsets, "printk_info.text_len", &l.offTextLen)
	get(vi.Offsets, "printk_info.caller_id", &l.offCaller)
	get(vi.Offsets, "printk_info.dev_info", &l.offDevInfo)
	get(vi.Offsets, "dev_printk_info.subsystem", &l.offSubsystem)
	get(vi.Offsets, "dev_printk_info.device", &l.offDevice)
	get(vi.Lengths, "printk_info_subsystem", &l.lenSubsystem)
	get(vi.Lengths, "printk_info_device", &l.lenDevice)
	get(vi.Offsets, "prb_data_ring.size_bits", &l.offSizeBits)
	get(vi.Offsets, "prb_data_ring.data", &l.offData)
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %v", errNoPrintkInfo, missing)
	}
	return l, nil
}

// LogRecords reads the kernel log. It handles the lockless ring buffer of
// Linux 5.10+ (commit 896fbe20b4e2, "printk: use the lockless
// ringbuffer"); older kernels' variable-length log_buf is decoded by
// decodeLegacyLog, which needs the struct printk_log layout.
func LogRecords(k *Kernel) ([]LogRecord, error) {
	l, err := k.prbLayout()
	if err != nil {
		if k.vi != nil {
			if _, legacy := k.vi.Symbol("log_first_idx"); legacy {
				return k.legacyLog()
			}
		}
		return nil, err
	}
	read := func(p []byte, va VirtAddr, what string) error { return k.ReadVirtual(p, va, what) }
	return readLockless(read, l)
}

type readFunc func(p []byte, va VirtAddr, what string) error

func readLockless(read readFunc, l *prbLayout) ([]LogRecord, error) {
	le := binary.LittleEndian
	var pb [8]byte
	if err := read(pb[:], l.prb, "prb"); err != nil {
		return nil, err
	}
	rbAddr := VirtAddr(le.Uint64(pb[:]))
	if err := l.check(); err != nil {
		return nil, err
	}
	if l.sizePRB <= 0 || l.sizePRB > 4096 {
		return nil, fmt.Errorf("SIZE(printk_ringbuffer)=%d is implausible", l.sizePRB)
	}
	rb := make([]byte, l.sizePRB)
	if err := read(rb, rbAddr, "printk_ringbuffer"); err != nil {
		return nil, err
	}
	field := func(off int64, n int) ([]byte, error) {
		if off < 0 || off+int64(n) > int64(len(rb)) {
			return nil, fmt.Errorf("printk_ringbuffer field at %d beyond its %d bytes", off, len(rb))
		}
		return rb[off : off+int64(n)], nil
	}
	dr := l.offDescRing
	countBits, err := field(dr+l.offCountBits, 4)
	if err != nil {
		return nil, err
	}
	count := uint64(1) << (le.Uint32(countBits) & 63)
	if count > maxDescriptors || count*uint64(max(l.sizeDesc, l.sizeInfo)) > maxRingBytes {
		return nil, fmt.Errorf("printk descriptor ring of %d entries is implausible", count)
	}
	ptr := func(off int64) (VirtAddr, error) {
		b, err := field(off, 8)
		if err != nil {
			return 0, err
		}
		return VirtAddr(le.Uint64(b)), nil
	}
	descsAddr, err := ptr(dr + l.offDescs)
	if err != nil {
		return nil, err
	}
	infosAddr, err := ptr(dr + l.offInfos)
	if err != nil {
		return nil, err
	}
	headID, err := ptr(dr + l.offHead)
	if err != nil {
		return nil, err
	}
	tailID, err := ptr(dr + l.offTail)
	if err != nil {
		return nil, err
	}
	tr := l.offTextRing
	sizeBits, err := field(tr+l.offSizeBits, 4)
	if err != nil {
		return nil, err
	}
	textSize := uint64(1) << (le.Uint32(sizeBits) & 63)
	if textSize > maxLogBuf {
		return nil, fmt.Errorf("printk text ring of %d bytes is implausible", textSize)
	}
	textAddr, err := ptr(tr + l.offData)
	if err != nil {
		return nil, err
	}

	descs := make([]byte, count*uint64(l.sizeDesc))
	if err := read(descs, descsAddr, "prb_desc_ring descs"); err != nil {
		return nil, err
	}
	infos := make([]byte, count*uint64(l.sizeInfo))
	if err := read(infos, infosAddr, "prb_desc_ring infos"); err != nil {
		return nil, err
	}
	text := make([]byte, textSize)
	if err := read(text, textAddr, "prb text_data_ring"); err != nil {
		return nil, err
	}

	// state_var packs a 2-bit state above the descriptor id
	// (kernel/printk/printk_ringbuffer.h: DESC_SV_BITS = BITS_PER_LONG).
	const (
		flagsShift = 62
		idMask     = ^uint64(3 << flagsShift)
		committed  = 1
		finalized  = 2
	)
	var recs []LogRecord
	emit := func(id uint64) {
		d := descs[(id%count)*uint64(l.sizeDesc):][:l.sizeDesc]
		info := infos[(id%count)*uint64(l.sizeInfo):][:l.sizeInfo]
		sv := le.Uint64(d[l.offStateVar:])
		if st := sv >> flagsShift; sv&idMask != id&idMask || (st != committed && st != finalized) {
			return
		}
		r := LogRecord{
			Seq:      le.Uint64(info[l.offSeq:]),
			TsNsec:   le.Uint64(info[l.offTs:]),
			CallerID: le.Uint32(info[l.offCaller:]),
		}
		// struct printk_info: u16 text_len; u8 facility; u8 flags:5,
		// level:3 — the bytes right after text_len.
		r.Facility = info[l.offTextLen+2]
		r.Level = info[l.offTextLen+3] >> 5
		textLen := uint64(le.Uint16(info[l.offTextLen:]))
		dev := info[l.offDevInfo:]
		r.Subsystem = cstr(dev[l.offSubsystem : l.offSubsystem+l.lenSubsystem])
		r.Device = cstr(dev[l.offDevice : l.offDevice+l.lenDevice])
		begin := le.Uint64(d[l.offTextLpos+l.offBegin:]) % textSize
		next := le.Uint64(d[l.offTextLpos+l.offNext:]) % textSize
		if begin != next {
			if begin > next { // the block wrapped: its data starts at 0
				begin = 0
			}
			begin += 8 // each data block starts with its descriptor id
			if begin <= next {
				textLen = min(textLen, next-begin)
				r.Text = string(text[begin : begin+textLen])
				r.HasText = true
			}
		}
		recs = append(recs, r)
	}
	for id, n := uint64(tailID), uint64(0); ; id, n = (id+1)&idMask, n+1 {
		if n > count {
			return recs, errors.New("printk ring: tail never reaches head (corrupt ids)")
		}
		emit(id)
		if id == uint64(headID)&idMask {
			break
		}
	}
	return recs, nil
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
