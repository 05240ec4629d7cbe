package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// legacyLayout describes struct printk_log, the record header of the
// variable-length log_buf used from Linux 3.5 (commit 7ff9554bb578,
// "printk: convert byte-buffer to variable-length record buffer") until
// the lockless ring buffer replaced it in 5.10. VMCOREINFO publishes it.
type legacyLayout struct {
	size                                  int64 // SIZE(printk_log)
	offTs, offLen, offTextLen, offDictLen int64
	offCaller                             int64 // -1 without CONFIG_PRINTK_CALLER
}

// check refuses a layout whose fields do not fit in SIZE(printk_log):
// VMCOREINFO comes from the dump and may be corrupt.
func (l legacyLayout) check() error {
	fits := func(off, n int64) bool { return off >= 0 && off+n <= l.size }
	if l.size <= 0 || l.size > 4096 || !fits(l.offTs, 8) || !fits(l.offLen, 2) || !fits(l.offTextLen, 2) ||
		!fits(l.offDictLen, 4) || (l.offCaller >= 0 && !fits(l.offCaller, 4)) {
		return fmt.Errorf("%w: struct printk_log of %d bytes with fields at %d, %d, %d, %d, %d",
			errBadLogLayout, l.size, l.offTs, l.offLen, l.offTextLen, l.offDictLen, l.offCaller)
	}
	return nil
}

func (k *Kernel) legacyLog() ([]LogRecord, error) {
	vi := k.vi
	if vi == nil {
		return nil, errNoPrintkInfo
	}
	l := legacyLayout{offCaller: -1}
	need := map[string]*int64{
		"printk_log.ts_nsec": &l.offTs, "printk_log.len": &l.offLen,
		"printk_log.text_len": &l.offTextLen, "printk_log.dict_len": &l.offDictLen,
	}
	for key, dst := range need {
		v, ok := vi.Offsets[key]
		if !ok {
			return nil, fmt.Errorf("%w: no OFFSET(%s)", errNoPrintkInfo, key)
		}
		*dst = v
	}
	var ok bool
	if l.size, ok = vi.Sizes["printk_log"]; !ok {
		return nil, fmt.Errorf("%w: no SIZE(printk_log)", errNoPrintkInfo)
	}
	if v, ok := vi.Offsets["printk_log.caller_id"]; ok {
		l.offCaller = v
	}
	sym := func(name string) (VirtAddr, error) {
		v, ok := vi.Symbol(name)
		if !ok {
			return 0, fmt.Errorf("%w: no SYMBOL(%s)", errNoPrintkInfo, name)
		}
		return VirtAddr(v), nil
	}
	var b8 [8]byte
	u32 := func(name string) (uint32, error) {
		a, err := sym(name)
		if err != nil {
			return 0, err
		}
		if err := k.ReadVirtual(b8[:4], a, name); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint32(b8[:4]), nil
	}
	bufPtr, err := sym("log_buf")
	if err != nil {
		return nil, err
	}
	if err := k.ReadVirtual(b8[:], bufPtr, "log_buf"); err != nil {
		return nil, err
	}
	bufAddr := VirtAddr(binary.LittleEndian.Uint64(b8[:]))
	n, err := u32("log_buf_len")
	if err != nil {
		return nil, err
	}
	first, err := u32("log_first_idx")
	if err != nil {
		return nil, err
	}
	next, err := u32("log_next_idx")
	if err != nil {
		return nil, err
	}
	if n == 0 || n > maxLogBuf {
		return nil, fmt.Errorf("log_buf_len %d is implausible", n)
	}
	buf := make([]byte, n)
	if err := k.ReadVirtual(buf, bufAddr, "log_buf"); err != nil {
		return nil, err
	}
	return decodeLegacyLog(buf, first, next, l)
}

// decodeLegacyLog walks log_buf from log_first_idx to log_next_idx. A
// record whose len is 0 marks the wrap back to the start of the buffer.
func decodeLegacyLog(buf []byte, first, next uint32, l legacyLayout) ([]LogRecord, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var recs []LogRecord
	idx := uint64(first)
	var seq uint64
	for steps := 0; idx != uint64(next); steps++ {
		if steps > len(buf) {
			return recs, errors.New("log_buf: records never reach log_next_idx (corrupt)")
		}
		if idx+uint64(l.size) > uint64(len(buf)) {
			return recs, fmt.Errorf("log_buf: record header at %d beyond the %d-byte buffer", idx, len(buf))
		}
		h := buf[idx:]
		length := uint64(le.Uint16(h[l.offLen:]))
		if length == 0 {
			idx = 0
			continue
		}
		textLen := uint64(le.Uint16(h[l.offTextLen:]))
		if uint64(l.size)+textLen > length || idx+length > uint64(len(buf)) {
			return recs, fmt.Errorf("log_buf: record at %d (len %d, text %d) is corrupt", idx, length, textLen)
		}
		r := LogRecord{
			Seq:      seq,
			TsNsec:   le.Uint64(h[l.offTs:]),
			Facility: h[l.offDictLen+2],
			Level:    h[l.offDictLen+3] >> 5,
			Text:     string(h[l.size : uint64(l.size)+textLen]),
			HasText:  true,
		}
		if l.offCaller >= 0 {
			r.CallerID = le.Uint32(h[l.offCaller:])
		}
		recs = append(recs, r)
		seq++
		idx += length
	}
	return recs, nil
}
