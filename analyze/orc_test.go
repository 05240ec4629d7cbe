package analyze

import (
	"encoding/binary"
	"testing"
)

// orcBytes builds a 6-byte struct orc_entry.
func orcBytes(sp, bp int16, flags uint16) []byte {
	b := make([]byte, 6)
	binary.LittleEndian.PutUint16(b, uint16(sp))
	binary.LittleEndian.PutUint16(b[2:], uint16(bp))
	binary.LittleEndian.PutUint16(b[4:], flags)
	return b
}

func TestDecodeORCEntry(t *testing.T) {
	// flags: sp_reg bits 0-3, bp_reg 4-7, then the layout's type/signal/end.
	tests := []struct {
		name   string
		layout ORCLayout
		sp, bp int16
		flags  uint16
		want   ORCEntry
	}{
		{"v1 call sp+8", ORCLayoutV1, 8, 0, orcRegSP,
			ORCEntry{SPOffset: 8, SPReg: orcRegSP, Type: ORCCall}},
		{"v1 call bp-based, bp prev_sp-16", ORCLayoutV1, 16, -16, orcRegBP | orcRegPrevSP<<4,
			ORCEntry{SPOffset: 16, BPOffset: -16, SPReg: orcRegBP, BPReg: orcRegPrevSP, Type: ORCCall}},
		{"v1 regs", ORCLayoutV1, 0, 0, orcRegSP | 1<<8,
			ORCEntry{SPReg: orcRegSP, Type: ORCRegs, Signal: true}},
		{"v1 regs_partial", ORCLayoutV1, 8, 0, orcRegSP | 2<<8,
			ORCEntry{SPOffset: 8, SPReg: orcRegSP, Type: ORCRegsPartial, Signal: true}},
		{"v1 end of stack", ORCLayoutV1, 0, 0, orcRegUndefined | 1<<10,
			ORCEntry{Type: ORCEndOfStack}},
		{"v1 undefined", ORCLayoutV1, 0, 0, orcRegUndefined,
			ORCEntry{Type: ORCUndefined}},
		{"v1 sp_indirect", ORCLayoutV1, 8, 0, orcRegSPIndirect,
			ORCEntry{SPOffset: 8, SPReg: orcRegSPIndirect, Type: ORCCall}},
		{"v2 signal bit 10, end bit 11", ORCLayoutV2, 0, 0, orcRegUndefined | 1<<11,
			ORCEntry{Type: ORCEndOfStack}},
		{"v2 call with signal", ORCLayoutV2, 8, 0, orcRegSP | 1<<10,
			ORCEntry{SPOffset: 8, SPReg: orcRegSP, Type: ORCCall, Signal: true}},
		{"v2 bit 10 is not end", ORCLayoutV2, 0, 0, orcRegUndefined | 1<<10,
			ORCEntry{Type: ORCUndefined, Signal: true}},
		{"v3 undefined", ORCLayoutV3, 0, 0, 0,
			ORCEntry{Type: ORCUndefined}},
		{"v3 end of stack", ORCLayoutV3, 0, 0, 1 << 8,
			ORCEntry{Type: ORCEndOfStack}},
		{"v3 call", ORCLayoutV3, 8, 0, orcRegSP | 2<<8,
			ORCEntry{SPOffset: 8, SPReg: orcRegSP, Type: ORCCall}},
		{"v3 regs", ORCLayoutV3, 0, 0, orcRegSP | 3<<8 | 1<<11,
			ORCEntry{SPReg: orcRegSP, Type: ORCRegs, Signal: true}},
		{"v3 regs_partial", ORCLayoutV3, 8, 0, orcRegSP | 4<<8,
			ORCEntry{SPOffset: 8, SPReg: orcRegSP, Type: ORCRegsPartial}},
		{"v3 unknown type", ORCLayoutV3, 0, 0, orcRegSP | 7<<8,
			ORCEntry{SPReg: orcRegSP, Type: ORCUndefined}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DecodeORCEntry(orcBytes(tc.sp, tc.bp, tc.flags), tc.layout)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestORCTableLookup(t *testing.T) {
	// Three entries at 0x1000, 0x1010, 0x1040 (given out of order, as a
	// module's table may be before sorting), with the ip table at 0x8000:
	// each slot holds target - slot address.
	const base = 0x8000
	targets := []uint64{0x1010, 0x1000, 0x1040}
	ips := make([]byte, 4*len(targets))
	for i, tg := range targets {
		binary.LittleEndian.PutUint32(ips[4*i:], uint32(int32(int64(tg)-int64(base+4*i))))
	}
	var ents []byte
	for _, sp := range []int16{16, 8, 24} {
		ents = append(ents, orcBytes(sp, 0, orcRegSP)...)
	}
	tab, err := NewORCTable(base, ips, ents, ORCLayoutV1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pc     uint64
		ok     bool
		wantSP int16
	}{
		{0x0fff, false, 0},
		{0x1000, true, 8},
		{0x100f, true, 8},
		{0x1010, true, 16},
		{0x103f, true, 16},
		{0x1040, true, 24},
		{0x9999, true, 24},
	}
	for _, tc := range tests {
		e, ok := tab.Lookup(tc.pc)
		if ok != tc.ok || ok && e.SPOffset != tc.wantSP {
			t.Errorf("Lookup(%#x) = %+v, %v; want sp_offset %d, %v", tc.pc, e, ok, tc.wantSP, tc.ok)
		}
	}
	if tab.Covers(0x0fff) || !tab.Covers(0x1040) || tab.Covers(0x1041) {
		t.Error("Covers is wrong at the table's ends")
	}
	if _, err := NewORCTable(base, ips, ents[:6], ORCLayoutV1); err == nil {
		t.Error("short entry table accepted")
	}
}

func TestGuessORCLayout(t *testing.T) {
	v1 := append(orcBytes(8, 0, orcRegSP), orcBytes(0, 0, 1<<10)...)       // call, v1 end
	v2 := append(orcBytes(8, 0, orcRegSP|1<<10), orcBytes(0, 0, 1<<11)...) // signal, v2 end
	if got := guessORCLayout(v1); got != ORCLayoutV1 {
		t.Errorf("v1 table guessed as %d", got)
	}
	if got := guessORCLayout(v2); got != ORCLayoutV2 {
		t.Errorf("v2 table guessed as %d", got)
	}
}
