package analyze

import (
	"encoding/binary"
	"testing"
)

// No dump of a 3.5–5.9 kernel is at hand, so the legacy log_buf decoder
// is tested on a buffer built here with struct printk_log's real layout
// on x86_64 with CONFIG_PRINTK_CALLER (u64 ts_nsec; u16 len, text_len,
// dict_len; u8 facility; u8 flags:5, level:3; u32 caller_id: 20 bytes,
// records padded to 8).
func TestDecodeLegacyLog(t *testing.T) {
	l := legacyLayout{size: 20, offTs: 0, offLen: 8, offTextLen: 10, offDictLen: 12, offCaller: 16}
	buf := make([]byte, 256)
	put := func(at int, ts uint64, level byte, caller uint32, text string) int {
		n := (20 + len(text) + 7) &^ 7
		binary.LittleEndian.PutUint64(buf[at:], ts)
		binary.LittleEndian.PutUint16(buf[at+8:], uint16(n))
		binary.LittleEndian.PutUint16(buf[at+10:], uint16(len(text)))
		buf[at+15] = level << 5
		binary.LittleEndian.PutUint32(buf[at+16:], caller)
		copy(buf[at+20:], text)
		return at + n
	}
	// Oldest record near the end, then the wrap marker, then newer ones.
	first := 200
	end := put(first, 1_500_000, 6, 1, "old")
	binary.LittleEndian.PutUint16(buf[end+8:], 0) // len 0: wrap
	next := put(0, 2_000_000_000, 4, 0x80000001, "second line")
	next = put(next, 3_000_001_000, 0, 42, "multi\nline")
	recs, err := decodeLegacyLog(buf, uint32(first), uint32(next), l)
	if err != nil {
		t.Fatal(err)
	}
	want := []LogRecord{
		{Seq: 0, TsNsec: 1_500_000, Level: 6, CallerID: 1, Text: "old", HasText: true},
		{Seq: 1, TsNsec: 2_000_000_000, Level: 4, CallerID: 0x80000001, Text: "second line", HasText: true},
		{Seq: 2, TsNsec: 3_000_001_000, Level: 0, CallerID: 42, Text: "multi\nline", HasText: true},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	for i := range want {
		if recs[i] != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, recs[i], want[i])
		}
	}
	// A corrupt length must stop the walk with an error, not loop.
	binary.LittleEndian.PutUint16(buf[8:], 7)
	if _, err := decodeLegacyLog(buf, 0, uint32(next), l); err == nil {
		t.Error("corrupt record accepted")
	}
}
