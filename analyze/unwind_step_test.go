package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// fakeMachine is memory (8-byte words), ORC entries by text range and
// two stacks, for testing the unwinder's stepping without a dump.
type fakeMachine struct {
	words map[VirtAddr]uint64
	orc   []fakeORC
}

type fakeORC struct {
	lo, hi uint64
	e      ORCEntry
}

var (
	fakeTask = StackRange{Kind: StackTask, Base: 0x10000, Top: 0x14000}
	fakeIRQ  = StackRange{Kind: StackIRQ, Base: 0x20000, Top: 0x24000}
)

func (m *fakeMachine) unwinder() *unwinder {
	return &unwinder{
		readMem: func(p []byte, a VirtAddr) error {
			for i := 0; i < len(p); i += 8 {
				v, ok := m.words[a+VirtAddr(i)]
				if !ok {
					return &FaultError{Addr: a + VirtAddr(i), What: "stack contents", Err: errors.New("page excluded")}
				}
				binary.LittleEndian.PutUint64(p[i:], v)
			}
			return nil
		},
		lookup: func(pc uint64) (ORCEntry, bool) {
			for _, o := range m.orc {
				if pc >= o.lo && pc < o.hi {
					return o.e, true
				}
			}
			return ORCEntry{}, false
		},
		stackOf: func(a VirtAddr) StackRange {
			for _, s := range []StackRange{fakeTask, fakeIRQ} {
				if s.Contains(a) {
					return s
				}
			}
			return StackRange{}
		},
	}
}

// putRegs stores a pt_regs at a.
func (m *fakeMachine) putRegs(a VirtAddr, r Regs) {
	for i, v := range r.Slice()[:21] {
		m.words[a+VirtAddr(8*i)] = v
	}
}

func call(sp int16) ORCEntry { return ORCEntry{SPReg: orcRegSP, SPOffset: sp, Type: ORCCall} }

func describe(fs []Frame) string {
	s := ""
	for _, f := range fs {
		s += fmt.Sprintf("[%x %x cfa=%x int=%v exc=%v] ", uint64(f.PC), uint64(f.SP), uint64(f.CFA), f.Interrupted, f.Exception != nil)
	}
	return s
}

func TestUnwindSteps(t *testing.T) {
	t.Run("calls down to a user-mode pt_regs", func(t *testing.T) {
		m := &fakeMachine{words: map[VirtAddr]uint64{0x13f08: 0x2005, 0x13f28: 0x3005}, orc: []fakeORC{
			{0x1000, 0x1100, call(16)},
			{0x2000, 0x2100, call(32)},
			{0x3000, 0x3100, ORCEntry{SPReg: orcRegSP, Type: ORCRegs}},
		}}
		m.putRegs(0x13f30, Regs{RIP: 0x401000, CS: 0x33, RSP: 0x7ffe0000, SS: 0x2b})
		fs, err := m.unwinder().walk(Regs{RIP: 0x1005, RSP: 0x13f00}, true, 0)
		if err != nil {
			t.Fatal(err, describe(fs))
		}
		want := []Frame{
			{PC: 0x1005, SP: 0x13f00, CFA: 0x13f10, Interrupted: true},
			{PC: 0x2005, SP: 0x13f08, CFA: 0x13f30},
			{PC: 0x3005, SP: 0x13f28, CFA: 0x13f30},
		}
		checkFrames(t, fs, want)
		if e := fs[2].Exception; e == nil || !e.UserMode() || e.Addr != 0x13f30 || e.Regs.RIP != 0x401000 {
			t.Errorf("exception frame %+v", fs[2].Exception)
		}
	})
	t.Run("IRQ stack, kernel pt_regs, rbp-based frame, end of stack", func(t *testing.T) {
		m := &fakeMachine{words: map[VirtAddr]uint64{
			0x23ff0: 0x5005,  // handler's return into the stack switcher
			0x23ff8: 0x13e00, // call_on_irqstack's saved task rsp
			0x13e00: 0x6005,  // switcher's return into the entry stub
			0x13f40: 0x9999,  // F's saved rbp
			0x13f48: 0x8005,  // F's return address
		}, orc: []fakeORC{
			{0x4000, 0x4100, call(0xf8)},
			{0x5000, 0x5100, ORCEntry{SPReg: orcRegSPIndirect, SPOffset: 8, Type: ORCCall}},
			{0x6000, 0x6100, ORCEntry{SPReg: orcRegSP, Type: ORCRegs}},
			{0x7000, 0x7100, ORCEntry{SPReg: orcRegBP, SPOffset: 16, BPReg: orcRegPrevSP, BPOffset: -16, Type: ORCCall}},
			{0x8000, 0x8100, ORCEntry{Type: ORCEndOfStack}},
		}}
		m.putRegs(0x13e08, Regs{RIP: 0x7005, CS: 0x10, RSP: 0x13f00, RBP: 0x13f40})
		fs, err := m.unwinder().walk(Regs{RIP: 0x4005, RSP: 0x23f00}, true, 0)
		if err != nil {
			t.Fatal(err, describe(fs))
		}
		want := []Frame{
			{PC: 0x4005, SP: 0x23f00, CFA: 0x23ff8, Interrupted: true},
			{PC: 0x5005, SP: 0x23ff0, CFA: 0x13e08},
			{PC: 0x6005, SP: 0x13e00, CFA: 0x13e08},
			{PC: 0x7005, SP: 0x13f00, CFA: 0x13f50, Interrupted: true},
			{PC: 0x8005, SP: 0x13f48, CFA: 0x13f50},
		}
		checkFrames(t, fs, want)
		if fs[0].Stack != fakeIRQ || fs[1].Stack != fakeIRQ || fs[2].Stack != fakeTask {
			t.Errorf("stacks: %v %v %v", fs[0].Stack, fs[1].Stack, fs[2].Stack)
		}
		if e := fs[2].Exception; e == nil || e.UserMode() {
			t.Errorf("want a kernel-mode exception frame at the stub, got %+v", e)
		}
	})
	t.Run("iret frame (REGS_PARTIAL)", func(t *testing.T) {
		m := &fakeMachine{words: map[VirtAddr]uint64{}, orc: []fakeORC{
			{0x1000, 0x1100, ORCEntry{SPReg: orcRegSP, SPOffset: 0, Type: ORCRegsPartial}},
			{0x2000, 0x2100, ORCEntry{Type: ORCEndOfStack}},
		}}
		// CFA = rsp = 0x13f00 points at pt_regs.ip; pt_regs starts 128 below.
		for i, v := range []uint64{0x2005, 0x10, 0x246, 0x13f80, 0x18} {
			m.words[0x13f00+VirtAddr(8*i)] = v
		}
		fs, err := m.unwinder().walk(Regs{RIP: 0x1005, RSP: 0x13f00}, true, 0)
		if err != nil {
			t.Fatal(err, describe(fs))
		}
		checkFrames(t, fs, []Frame{
			{PC: 0x1005, SP: 0x13f00, CFA: 0x13f00, Interrupted: true},
			{PC: 0x2005, SP: 0x13f80, CFA: 0x13f80, Interrupted: true},
		})
		if e := fs[0].Exception; e == nil || !e.Partial || e.Addr != 0x13f00-128 {
			t.Errorf("partial exception frame %+v", e)
		}
	})
	t.Run("sleeping task starts at its return-address slot", func(t *testing.T) {
		m := &fakeMachine{words: map[VirtAddr]uint64{0x13f38: 0x2005}, orc: []fakeORC{
			{0x1000, 0x1100, call(0x38)}, // looked up at ret-1
			{0x2000, 0x2100, ORCEntry{Type: ORCEndOfStack}},
		}}
		fs, err := m.unwinder().walk(Regs{RIP: 0x1100, RSP: 0x13f08}, false, 0x13f00)
		if err != nil {
			t.Fatal(err, describe(fs))
		}
		checkFrames(t, fs, []Frame{{PC: 0x1100, SP: 0x13f00, CFA: 0x13f40}, {PC: 0x2005, SP: 0x13f38, CFA: 0x13f40}})
	})
	t.Run("frame pointers in a kernel without ORC", func(t *testing.T) {
		m := &fakeMachine{words: map[VirtAddr]uint64{0x13f20: 0x13f60, 0x13f28: 0x2005}, orc: []fakeORC{
			{0x2000, 0x2100, ORCEntry{Type: ORCEndOfStack}},
		}}
		u := m.unwinder()
		u.noORC = ErrNoORC
		fs, err := u.walk(Regs{RIP: 0x1005, RSP: 0x13f00, RBP: 0x13f20}, true, 0)
		if err != nil {
			t.Fatal(err, describe(fs))
		}
		checkFrames(t, fs, []Frame{{PC: 0x1005, SP: 0x13f00, CFA: 0x13f30, Interrupted: true}, {PC: 0x2005, SP: 0x13f28, CFA: 0x13f30}})
	})
	t.Run("stack scan below a function ORC leaves undefined", func(t *testing.T) {
		m := &fakeMachine{words: map[VirtAddr]uint64{
			0x13f00: 1, 0x13f08: 0x1050, 0x13f10: 0x2005, 0x13f18: 0x3005,
		}, orc: []fakeORC{
			{0x1000, 0x1100, ORCEntry{Type: ORCUndefined}},
			{0x2000, 0x2100, call(8)},
			{0x3000, 0x3100, ORCEntry{Type: ORCEndOfStack}},
		}}
		u := m.unwinder()
		// 0x1050 is text but follows no call: a saved pc, not a return address.
		u.isReturn = func(v uint64) bool { return v == 0x2005 || v == 0x3005 }
		fs, err := u.walk(Regs{RIP: 0x1005, RSP: 0x13f00}, true, 0)
		if err != nil {
			t.Fatal(err, describe(fs))
		}
		checkFrames(t, fs, []Frame{
			{PC: 0x1005, SP: 0x13f00, CFA: 0x13f18, Interrupted: true},
			{PC: 0x2005, SP: 0x13f10, CFA: 0x13f20},
			{PC: 0x3005, SP: 0x13f18, CFA: 0x13f20},
		})
		if !fs[1].Scanned || fs[2].Scanned {
			t.Errorf("scanned flags %v %v", fs[1].Scanned, fs[2].Scanned)
		}
	})
	stops := []struct {
		name  string
		m     *fakeMachine
		regs  Regs
		want  error
		count int
	}{
		{"unreadable page", &fakeMachine{words: map[VirtAddr]uint64{}, orc: []fakeORC{{0x1000, 0x1100, call(16)}}},
			Regs{RIP: 0x1005, RSP: 0x13f00}, &FaultError{}, 1},
		{"undefined ORC entry", &fakeMachine{orc: []fakeORC{{0x1000, 0x1100, ORCEntry{Type: ORCUndefined}}}},
			Regs{RIP: 0x1005, RSP: 0x13f00}, ErrUnwindUndef, 1},
		{"no ORC and no frame pointer", &fakeMachine{},
			Regs{RIP: 0x1005, RSP: 0x13f00, RBP: 0x5}, ErrUnwindNoORC, 1},
		{"stack pointer does not advance", &fakeMachine{words: map[VirtAddr]uint64{0x13ef8: 0x1005}, orc: []fakeORC{{0x1000, 0x1100, call(0)}}},
			Regs{RIP: 0x1005, RSP: 0x13f00}, ErrUnwindLoop, 1},
		{"stack pointer leaves the stacks", &fakeMachine{words: map[VirtAddr]uint64{0x13ff8: 0x1005}, orc: []fakeORC{{0x1000, 0x1100, call(0x100)}}},
			Regs{RIP: 0x1005, RSP: 0x13f00}, ErrUnwindOffStack, 1},
		{"start off every stack", &fakeMachine{},
			Regs{RIP: 0x1005, RSP: 0x99000}, ErrUnwindOffStack, 1},
	}
	for _, tc := range stops {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := tc.m.unwinder().walk(tc.regs, true, 0)
			var fe *FaultError
			if _, isFault := tc.want.(*FaultError); isFault {
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a FaultError", err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(fs) != tc.count {
				t.Errorf("%d frames, want %d: %s", len(fs), tc.count, describe(fs))
			}
		})
	}
}

func checkFrames(t *testing.T, got []Frame, want []Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d: %s", len(got), len(want), describe(got))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.PC != w.PC || g.SP != w.SP || g.CFA != w.CFA || g.Interrupted != w.Interrupted {
			t.Errorf("frame %d: got %s, want %s", i, describe(got[i:i+1]), describe(want[i:i+1]))
		}
	}
}
