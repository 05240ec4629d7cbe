package symbols

import (
	"encoding/binary"
	"errors"
	"testing"
)

// kallsymsImage lays out kallsyms tables the way the kernel does
// (num_syms, a token table of 256 strings and its index, the
// length-prefixed names, 32-bit offsets from relative_base) in a small
// memory image at kallsymsBase. Token i is the byte i, so a name is
// stored as its own bytes.
const kallsymsBase = 0xffffffff82000000

var kallsymsLayout = KallsymsLayout{
	NumSyms: kallsymsBase, TokenIndex: kallsymsBase + 0x10, TokenTable: kallsymsBase + 0x300,
	Names: kallsymsBase + 0x600, Offsets: kallsymsBase + 0x800, RelativeBase: kallsymsBase + 0x900,
}

func kallsymsImage(syms []Symbol) []byte {
	le := binary.LittleEndian
	mem := make([]byte, 0x1000) // memory comes in pages
	le.PutUint32(mem[0:], uint32(len(syms)))
	for i := range 256 {
		le.PutUint16(mem[0x10+2*i:], uint16(2*i))
		mem[0x300+2*i] = byte(i) // "i\0"
	}
	names := mem[0x600:0x600]
	for i, s := range syms {
		n := append([]byte{s.Type}, s.Name...)
		names = append(names, byte(len(n)))
		names = append(names, n...)
		le.PutUint32(mem[0x800+4*i:], uint32(s.Addr-0xffffffff81000000))
	}
	le.PutUint64(mem[0x900:], 0xffffffff81000000)
	return mem
}

func memReader(mem []byte, base uint64) ReadFunc {
	return func(p []byte, addr uint64) error {
		if addr < base || addr-base > uint64(len(mem)) || uint64(len(p)) > uint64(len(mem))-(addr-base) {
			return errors.New("not in the image")
		}
		copy(p, mem[addr-base:])
		return nil
	}
}

// TestKallsymsImage: the fuzz seed decodes to its symbols.
func TestKallsymsImage(t *testing.T) {
	want := []Symbol{{"_text", 0xffffffff81000000, 'T'}, {"schedule", 0xffffffff81001000, 't'}, {"jiffies", 0xffffffff81800000, 'D'}}
	tab, err := ReadKallsyms(memReader(kallsymsImage(want), kallsymsBase), kallsymsLayout)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if s, ok := tab.Lookup(w.Name); !ok || s != w {
			t.Errorf("%s: %v %v", w.Name, s, ok)
		}
	}
}

// FuzzKallsyms: decoding kallsyms from any memory never panics, loops
// or allocates more than the symbol count's plausible bound allows.
func FuzzKallsyms(f *testing.F) {
	f.Add(kallsymsImage([]Symbol{{"_text", 0xffffffff81000000, 'T'}, {"schedule", 0xffffffff81001000, 't'}}))
	f.Add(kallsymsImage(nil))
	f.Fuzz(func(t *testing.T, mem []byte) {
		if len(mem) > 1<<16 {
			return
		}
		mem = append(mem, make([]byte, -len(mem)&0xfff)...) // whole pages, as memory is
		tab, err := ReadKallsyms(memReader(mem, kallsymsBase), kallsymsLayout)
		if err != nil {
			return
		}
		tab.Lookup("schedule")
		tab.ByAddr(0xffffffff81001004)
	})
}
