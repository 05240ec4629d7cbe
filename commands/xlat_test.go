package commands

import (
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kcrash/kcrash/symbols"
)

// testSymView is a small kernel symbol table in crash's order.
func testSymView() *symView {
	all := []symbols.Symbol{
		{Name: "__per_cpu_start", Addr: 0, Type: 'D'},
		{Name: "fixed_percpu_data", Addr: 0, Type: 'D'},
		{Name: "not_percpu", Addr: 0x10, Type: 'A'},
		{Name: "_text", Addr: 0xffffffff81000000, Type: 'T'},
		{Name: "_stext", Addr: 0xffffffff81000000, Type: 'T'},
		{Name: ".text", Addr: 0xffffffff81000000, Type: 't'},
		{Name: "startup_64", Addr: 0xffffffff81000000, Type: 'T'},
		{Name: "panic", Addr: 0xffffffff81001000, Type: 'T'},
		{Name: "f.isra.0", Addr: 0xffffffff81002000, Type: 't'},
		{Name: "memcpy", Addr: 0xffffffff81003000, Type: 'W'},
		{Name: "__memcpy", Addr: 0xffffffff81003000, Type: 'T'},
		{Name: "_etext", Addr: 0xffffffff81004000, Type: 'T'},
		{Name: "jiffies", Addr: 0xffffffff81005000, Type: 'D'},
		{Name: "_end", Addr: 0xffffffff81006000, Type: 'B'},
	}
	return &symView{table: all}
}

func TestCrashSymbolList(t *testing.T) {
	v := testSymView()
	var names []string
	for _, s := range v.syms() {
		names = append(names, s.Name)
	}
	// ".text" sorts before "_stext" and is dropped with everything else
	// before it; per-CPU symbols stay; clone suffixes go.
	want := []string{"__per_cpu_start", "fixed_percpu_data", "_stext", "_text", "startup_64",
		"panic", "f", "__memcpy", "memcpy", "_etext", "jiffies", "_end"}
	if len(names) != len(want) {
		t.Fatalf("symbols %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("symbols %q, want %q", names, want)
		}
	}
	if k := v.listKeys(); !k.hasStart || k.start.addr != 0xffffffff81000000 {
		t.Errorf("the list starts at %+v", k.start)
	}
}

// TestSymViewSearch asks each address twice: of a fresh view, which
// answers from one pass over the unsorted symbols, and of one whose
// sorted list is built.
func TestSymViewSearch(t *testing.T) {
	sorted := testSymView()
	sorted.syms()
	for _, tc := range []struct {
		addr uint64
		want string // value_to_symstr, "" for none
		text bool
	}{
		{0xffffffff81000000, "_stext", true},        // first at the address
		{0xffffffff81000010, "startup_64+16", true}, // last below it, decimal offset
		{0xffffffff81001000, "panic", true},
		{0xffffffff81002004, "f+4", true},
		{0xffffffff81003000, "__memcpy", true},
		{0xffffffff81003002, "memcpy+2", true}, // weak, inside [_stext, _etext)
		{0xffffffff81005008, "jiffies+8", false},
		{0xffffffff81006000, "_end", false},
		{0xffffffff81006001, "", false}, // beyond the last symbol
		{0x10, "", false},               // per-CPU offsets are not in range
		{0xffffffff80000000, "", false},
	} {
		for _, v := range []*symView{testSymView(), sorted} {
			if got := v.symStr(tc.addr); got != tc.want {
				t.Errorf("symStr(%#x) = %q, want %q (list built: %v)", tc.addr, got, tc.want, v.list != nil)
			}
			if got := v.isText(tc.addr); got != tc.text {
				t.Errorf("isText(%#x) = %v, want %v (list built: %v)", tc.addr, got, tc.text, v.list != nil)
			}
		}
	}
}

func TestStripSymbolEnd(t *testing.T) {
	for in, want := range map[string]string{
		"f.isra.0": "f", "g.part.3": "g", "h.llvm.123": "h", "k.constprop.0": "k.constprop.0", "plain": "plain",
	} {
		if got := stripSymbolEnd(in); got != want {
			t.Errorf("stripSymbolEnd(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMkCenter(t *testing.T) {
	for _, tc := range []struct {
		s     string
		width int
		rjust bool
		want  string
	}{
		{"PTE", 16, false, "      PTE       "},
		{"PTE", 7, false, "  PTE  "},
		{"1000", 8, true, "  1000  "},
		{"5e49000", 8, true, " 5e49000"},
		{"5e49000", 8, false, "5e49000 "},
		{"toolongvalue", 4, false, "toolongvalue"},
	} {
		if got := mkCenter(tc.s, tc.width, tc.rjust); got != tc.want {
			t.Errorf("mkCenter(%q, %d, %v) = %q, want %q", tc.s, tc.width, tc.rjust, got, tc.want)
		}
	}
}

func TestTranslatePTE(t *testing.T) {
	for _, tc := range []struct {
		pte  uint64
		want string
	}{
		{0x8000000005e49161, "      PTE         PHYSICAL  FLAGS\n8000000005e49161   5e49000  (PRESENT|ACCESSED|DIRTY|GLOBAL|NX)\n"},
		{0x58001e1, "  PTE    PHYSICAL  FLAGS\n58001e1   5800000  (PRESENT|ACCESSED|DIRTY|PSE|GLOBAL)\n"},
		{0x8000000000001163, "      PTE         PHYSICAL  FLAGS\n8000000000001163    1000    (PRESENT|RW|ACCESSED|DIRTY|GLOBAL|NX)\n"},
	} {
		var b stringsBuilder
		translatePTE(&b.Builder, tc.pte)
		if got := b.String(); got != tc.want {
			t.Errorf("translatePTE(%#x):\n%q\nwant\n%q", tc.pte, got, tc.want)
		}
	}
}

// TestGdbFormat checks x86asm's output rewritten as gdb prints it. The
// expected texts are crash 8.0.6's (gdb 10.2) for the same bytes.
func TestGdbFormat(t *testing.T) {
	v := testSymView()
	const pc = 0xffffffff81001000
	for _, tc := range []struct {
		hex  string
		want string
	}{
		{"48c7c784cf308c", "mov    $0xffffffff8c30cf84,%rdi"},
		{"83c8ff", "or     $0xffffffff,%eax"},
		{"fa", "cli    "},
		{"c3", "ret    "},
		{"f3ab", "rep stos %eax,%es:(%rdi)"},
		{"4898", "cltq   "},
		{"9c", "pushf  "},
		{"6a00", "push   $0x0"},
		{"4963ef", "movslq %r15d,%rbp"},
		{"49b96301000000000080", "movabs $0x8000000000000163,%r9"},
		{"488b1cc580a7318c", "mov    -0x73ce5880(,%rax,8),%rbx"},
		{"488db820fcffff", "lea    -0x3e0(%rax),%rdi"},
		{"418b542418", "mov    0x18(%r12),%edx"},
		{"807c10ff0a", "cmpb   $0xa,-0x1(%rax,%rdx,1)"},
		{"e8fb0f0000", "call   0xffffffff81002000 <f>"}, // to a symbol
		{"ebfe", "jmp    0xffffffff81001000 <panic>"},   // to itself
		{"8b05fa3f0000", "mov    0x3ffa(%rip),%eax        # 0xffffffff81005000 <jiffies>"},
		{"8b0500000000", "mov    0x0(%rip),%eax        # 0xffffffff81001006 <panic+6>"},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := x86asm.Decode(b, 64)
		if err != nil {
			t.Fatalf("%s: %v", tc.hex, err)
		}
		if got := gdbFormat(inst, pc, v); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.hex, got, tc.want)
		}
	}
}

type stringsBuilder struct{ strings.Builder }
