package analyze

import (
	"encoding/binary"
	"errors"
	"testing"
)

// The 6.1 x86_64 layout VMCOREINFO publishes for the lockless printk
// ring buffer (the corpus kernels' values).
func prbLayout61() prbLayout {
	return prbLayout{
		prb: ringBase, sizePRB: 88, offDescRing: 0, offTextRing: 48,
		offCountBits: 0, offDescs: 8, offInfos: 16, offHead: 24, offTail: 32,
		sizeDesc: 24, offStateVar: 0, offTextLpos: 8, offBegin: 0, offNext: 8,
		sizeInfo: 88, offSeq: 0, offTs: 8, offTextLen: 16, offCaller: 20,
		offDevInfo: 24, offSubsystem: 0, offDevice: 16, lenSubsystem: 16, lenDevice: 48,
		offSizeBits: 0, offData: 8,
	}
}

const ringBase = 0xffffffff83000000

// ringImage is a 4-descriptor, 256-byte-text ring holding the given
// texts as finalized records, laid out at ringBase: the prb pointer,
// the struct printk_ringbuffer, the descriptors, the infos and the
// text ring.
func ringImage(texts ...string) []byte {
	le := binary.LittleEndian
	const (
		rb, descs, infos, data = 0x10, 0x100, 0x200, 0x400
		countBits, sizeBits    = 2, 8
	)
	mem := make([]byte, 0x500)
	le.PutUint64(mem, ringBase+rb)
	le.PutUint32(mem[rb:], countBits)
	le.PutUint64(mem[rb+8:], ringBase+descs)
	le.PutUint64(mem[rb+16:], ringBase+infos)
	le.PutUint64(mem[rb+48+8:], ringBase+data)
	le.PutUint32(mem[rb+48:], sizeBits)
	lpos := uint64(0)
	for id, text := range texts {
		d := mem[descs+24*id:]
		le.PutUint64(d, 2<<62|uint64(id)) // finalized
		le.PutUint64(d[8:], lpos)
		le.PutUint64(mem[data+lpos:], uint64(id))
		copy(mem[data+lpos+8:], text)
		lpos += (8 + uint64(len(text)) + 7) &^ 7
		le.PutUint64(d[16:], lpos)
		info := mem[infos+88*id:]
		le.PutUint64(info, uint64(id))
		le.PutUint64(info[8:], uint64(id)*1000)
		le.PutUint16(info[16:], uint16(len(text)))
		info[19] = 6 << 5
	}
	le.PutUint64(mem[rb+24:], uint64(max(len(texts)-1, 0))) // head
	return mem
}

func imageReader(mem []byte) readFunc {
	return func(p []byte, va VirtAddr, what string) error {
		off := uint64(va) - ringBase
		if uint64(va) < ringBase || off > uint64(len(mem)) || uint64(len(p)) > uint64(len(mem))-off {
			return errors.New(what + ": not in the image")
		}
		copy(p, mem[off:])
		return nil
	}
}

// TestRingImage: the fuzz seed decodes to its records.
func TestRingImage(t *testing.T) {
	l := prbLayout61()
	recs, err := readLockless(imageReader(ringImage("hello", "kcrash marker")), &l)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Text != "hello" || recs[1].Text != "kcrash marker" || recs[1].TsNsec != 1000 || recs[1].Level != 6 {
		t.Fatalf("records %+v", recs)
	}
}

// FuzzLockless: any ring buffer memory, and any layout VMCOREINFO may
// claim, gives records or an error: no panic, no endless walk, no
// allocation beyond the plausibility bounds.
func FuzzLockless(f *testing.F) {
	l := prbLayout61()
	f.Add(ringImage("hello", "kcrash marker"), l.sizeDesc, l.offTextLpos, l.sizeInfo, l.offDevInfo, l.offDevice, l.lenDevice)
	f.Add(ringImage(), l.sizeDesc, l.offTextLpos, l.sizeInfo, l.offDevInfo, l.offDevice, l.lenDevice)
	f.Fuzz(func(t *testing.T, mem []byte, sizeDesc, offTextLpos, sizeInfo, offDevInfo, offDevice, lenDevice int64) {
		l := prbLayout61()
		l.sizeDesc, l.offTextLpos, l.sizeInfo, l.offDevInfo, l.offDevice, l.lenDevice = sizeDesc, offTextLpos, sizeInfo, offDevInfo, offDevice, lenDevice
		readLockless(imageReader(mem), &l)
	})
}

// FuzzLegacyLog: decoding any log_buf with any first/next index and
// record layout never panics or loops.
func FuzzLegacyLog(f *testing.F) {
	buf := make([]byte, 64)
	binary.LittleEndian.PutUint16(buf[8:], 32)
	binary.LittleEndian.PutUint16(buf[10:], 5)
	copy(buf[20:], "hello")
	f.Add(buf, uint32(0), uint32(32), int64(20), int64(16))
	f.Fuzz(func(t *testing.T, buf []byte, first, next uint32, size, offCaller int64) {
		l := legacyLayout{size: size, offTs: 0, offLen: 8, offTextLen: 10, offDictLen: 12, offCaller: offCaller}
		decodeLegacyLog(buf, first, next, l)
	})
}

// FuzzORC: building an ORC table from any .orc_unwind_ip and
// .orc_unwind bytes, and looking addresses up in it, never panics.
func FuzzORC(f *testing.F) {
	ips := make([]byte, 12)
	binary.LittleEndian.PutUint32(ips[0:], 0)
	binary.LittleEndian.PutUint32(ips[4:], 0x10)
	binary.LittleEndian.PutUint32(ips[8:], 0x20)
	f.Add(ips, make([]byte, 18), uint8(ORCLayoutV1))
	f.Fuzz(func(t *testing.T, ips, entries []byte, layout uint8) {
		tab, err := NewORCTable(0xffffffff81000000, ips, entries, ORCLayout(layout))
		if err != nil {
			return
		}
		for _, pc := range []uint64{0, 0xffffffff81000000, 0xffffffff81000014, ^uint64(0)} {
			tab.Lookup(pc)
			tab.Covers(pc)
		}
	})
}
