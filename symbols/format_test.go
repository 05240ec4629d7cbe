package symbols_test

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/symbols"
)

// Hand-built types, shaped like the kernel's.
var (
	charT  = &dwarf.CharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: "char"}}}
	ucharT = &dwarf.UcharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: "unsigned char"}}}
	intT   = &dwarf.IntType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 4, Name: "int"}}}
	uintT  = &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 4, Name: "unsigned int"}}}
	ulongT = &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 8, Name: "long unsigned int"}}}
	boolT  = &dwarf.BoolType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: "_Bool"}}}
	voidT  = &dwarf.VoidType{}
)

func ptr(t dwarf.Type) *dwarf.PtrType {
	return &dwarf.PtrType{CommonType: dwarf.CommonType{ByteSize: 8}, Type: t}
}

func array(t dwarf.Type, n int64) *dwarf.ArrayType {
	return &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: n * t.Size()}, Type: t, Count: n}
}

func qual(q string, t dwarf.Type) *dwarf.QualType {
	return &dwarf.QualType{CommonType: dwarf.CommonType{ByteSize: t.Size()}, Qual: q, Type: t}
}

func strct(kind, name string, size int64, fields ...*dwarf.StructField) *dwarf.StructType {
	s := &dwarf.StructType{StructName: name, Kind: kind, Field: fields}
	s.ByteSize = size
	return s
}

func TestDeclare(t *testing.T) {
	listHead := strct("struct", "list_head", 16)
	fn := &dwarf.FuncType{ReturnType: voidT, ParamType: []dwarf.Type{ptr(strct("struct", "callback_head", 16))}}
	variadic := &dwarf.FuncType{ReturnType: voidT, ParamType: []dwarf.Type{ptr(qual("const", charT)), &dwarf.DotDotDotType{}}}
	tests := []struct {
		t    dwarf.Type
		name string
		want string
	}{
		{listHead, "tasks", "struct list_head tasks"},
		{ptr(listHead), "next", "struct list_head *next"},
		{ptr(ptr(listHead)), "pprev", "struct list_head **pprev"},
		{array(charT, 16), "comm", "char comm[16]"},
		{array(array(intT, 3), 2), "m", "int m[2][3]"},
		{&dwarf.ArrayType{Type: ulongT, Count: -1}, "cpu_bitmap", "unsigned long cpu_bitmap[]"},
		{ptr(fn), "func", "void (*func)(struct callback_head *)"},
		{array(ptr(fn), 2), "fns", "void (*fns[2])(struct callback_head *)"},
		{ptr(array(charT, 16)), "", "char (*)[16]"},
		{ptr(qual("const", array(qual("const", charT), 155))), "", "const char (*)[155]"},
		{qual("const", array(qual("const", charT), 155)), "linux_banner", "const char linux_banner[155]"},
		{ptr(qual("const", listHead)), "p", "const struct list_head *p"},
		{qual("volatile", ulongT), "jiffies", "volatile unsigned long jiffies"},
		{qual("const", ptr(charT)), "s", "char * const s"},
		{ptr(voidT), "stack", "void *stack"},
		{variadic, "panic", "void panic(const char *, ...)"},
		{&dwarf.FuncType{ReturnType: voidT}, "schedule", "void schedule(void)"},
		{ptr(listHead), "", "struct list_head *"},
		{&dwarf.EnumType{EnumName: "pid_type"}, "type", "enum pid_type type"},
	}
	for _, tc := range tests {
		if got := symbols.Declare(tc.t, tc.name); got != tc.want {
			t.Errorf("Declare(%s) = %q, want %q", tc.want, got, tc.want)
		}
	}
}

func TestPtype(t *testing.T) {
	inner := strct("union", "", 8,
		&dwarf.StructField{Name: "a", Type: intT},
		&dwarf.StructField{Name: "b", Type: ptr(voidT)})
	s := strct("struct", "demo", 24,
		&dwarf.StructField{Name: "flags", Type: uintT, BitSize: 1, DataBitOffset: 0},
		&dwarf.StructField{Name: "on", Type: uintT, BitSize: 3, DataBitOffset: 1},
		&dwarf.StructField{Name: "", Type: inner, ByteOffset: 8},
		&dwarf.StructField{Name: "e", Type: &dwarf.EnumType{Val: []*dwarf.EnumValue{{Name: "X", Val: 0}, {Name: "Y", Val: 5}, {Name: "Z", Val: 6}}}, ByteOffset: 16})
	want := `struct demo {
    unsigned int flags : 1;
    unsigned int on : 3;
    union {
        int a;
        void *b;
    };
    enum {X, Y = 5, Z} e;
}`
	if got := symbols.Ptype(s); got != want {
		t.Errorf("Ptype:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrinterValues(t *testing.T) {
	le := binary.LittleEndian
	u32 := func(v uint32) []byte { b := make([]byte, 4); le.PutUint32(b, v); return b }
	u64 := func(v uint64) []byte { b := make([]byte, 8); le.PutUint64(b, v); return b }
	flags := &dwarf.EnumType{EnumName: "f", Val: []*dwarf.EnumValue{{Name: "A", Val: 1}, {Name: "B", Val: 2}, {Name: "C", Val: 4}}}
	flags.ByteSize = 4
	plain := &dwarf.EnumType{EnumName: "p", Val: []*dwarf.EnumValue{{Name: "P0", Val: 0}, {Name: "P3", Val: 3}}}
	plain.ByteSize = 4
	mem := map[uint64]string{0xffff888000001000: "hello\x00", 0xffff888000002000: strings.Repeat("x", 300)}
	read := func(p []byte, addr uint64) error {
		for base, s := range mem {
			if addr >= base && addr+uint64(len(p)) <= base+uint64(len(s)) {
				copy(p, s[addr-base:])
				return nil
			}
		}
		return errors.New("unmapped")
	}
	sym := func(addr uint64) string {
		switch addr {
		case 0xffffffff81000000:
			return "schedule"
		case 0xffffffff82000010:
			return "init_task+16"
		}
		return ""
	}
	pr := &symbols.Printer{Read: read, Symbolize: sym}
	tests := []struct {
		name string
		t    dwarf.Type
		b    []byte
		want string
	}{
		{"int", intT, u32(0xffffffff), "-1"},
		{"uint", uintT, u32(0xffffffff), "4294967295"},
		{"ulong", ulongT, u64(1 << 63), "9223372036854775808"},
		{"bool", boolT, []byte{1}, "true"},
		{"bool 0", boolT, []byte{0}, "false"},
		{"char", charT, []byte{'s'}, "115 's'"},
		{"char nul", charT, []byte{0}, "0 '\\000'"},
		{"char quote", charT, []byte{'\''}, "39 '\\''"},
		{"signed char -1", charT, []byte{0xff}, "-1 '\\377'"},
		{"uchar", ucharT, []byte{1}, "1 '\\001'"},
		{"comm", array(charT, 16), []byte("swapper/0\x00\x00\x00\x00\x00\x00\x00"), `"swapper/0\000\000\000\000\000\000"`},
		{"full string", array(charT, 3), []byte("abc"), `"abc"`},
		{"escapes", array(charT, 6), []byte("a\n\"\\\x00" + "1"), `"a\n\"\\\000\061"`},
		{"empty", array(charT, 1), []byte{0}, `""`},
		{"long string", array(charT, 300), []byte(strings.Repeat("y", 300)), `"` + strings.Repeat("y", 300) + `"`},
		{"ints", array(intT, 3), append(append(u32(1), u32(2)...), u32(3)...), "{1, 2, 3}"},
		{"null", ptr(voidT), u64(0), "0x0"},
		{"ptr", ptr(voidT), u64(0xffff888000000100), "0xffff888000000100"},
		{"ptr sym", ptr(voidT), u64(0xffffffff82000010), "0xffffffff82000010 <init_task+16>"},
		{"func ptr", ptr(&dwarf.FuncType{ReturnType: voidT}), u64(0xffffffff81000000), "0xffffffff81000000 <schedule>"},
		{"char ptr", ptr(charT), u64(0xffff888000001000), `0xffff888000001000 "hello"`},
		{"char ptr long", ptr(charT), u64(0xffff888000002000), `0xffff888000002000 "` + strings.Repeat("x", 256) + `"...`},
		{"cut after the run reaching 256", array(charT, 300), []byte(strings.Repeat("a", 250) + strings.Repeat("b", 10) + strings.Repeat("c", 40)), `"` + strings.Repeat("a", 250) + strings.Repeat("b", 10) + `"...`},
		{"char ptr fault", ptr(qual("const", charT)), u64(0xffff888000009000), "0xffff888000009000 <error: Cannot access memory at address 0xffff888000009000>"},
		{"enum", plain, u32(3), "P3"},
		{"enum unknown", plain, u32(2), "2"},
		{"flag enum", flags, u32(5), "(A | C)"},
		{"flag enum unknown", flags, u32(9), "(A | unknown: 0x8)"},
		{"flag enum zero", flags, u32(0), "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pr.Value(tc.t, tc.b, 0, 0); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestPrinterStruct(t *testing.T) {
	le := binary.LittleEndian
	lh := strct("struct", "list_head", 16,
		&dwarf.StructField{Name: "next", Type: nil, ByteOffset: 0},
		&dwarf.StructField{Name: "prev", Type: nil, ByteOffset: 8})
	lh.Field[0].Type, lh.Field[1].Type = ptr(lh), ptr(lh)
	empty := strct("struct", "empty", 0)
	anon := strct("union", "", 4, &dwarf.StructField{Name: "x", Type: intT}, &dwarf.StructField{Name: "y", Type: uintT})
	s := strct("struct", "demo", 64,
		&dwarf.StructField{Name: "a", Type: intT, ByteOffset: 0},
		&dwarf.StructField{Name: "bits", Type: intT, BitSize: 3, DataBitOffset: 32},
		&dwarf.StructField{Name: "more", Type: uintT, BitSize: 4, DataBitOffset: 35},
		&dwarf.StructField{Name: "tasks", Type: lh, ByteOffset: 8},
		&dwarf.StructField{Name: "st", Type: empty, ByteOffset: 24},
		&dwarf.StructField{Name: "", Type: anon, ByteOffset: 24},
		&dwarf.StructField{Name: "links", Type: array(lh, 2), ByteOffset: 28},
		&dwarf.StructField{Name: "tail", Type: &dwarf.ArrayType{Type: ulongT, Count: -1}, ByteOffset: 64})
	b := make([]byte, 64)
	le.PutUint32(b[0:], 5)
	b[4] = 0x07 | 0x5<<3 // bits = -1, more = 5
	le.PutUint64(b[8:], 0xffff888000000008)
	le.PutUint64(b[16:], 0xffff888000000008)
	le.PutUint32(b[24:], 0xffffffff)
	want := `{
  a = 5,
  bits = -1,
  more = 5,
  tasks = {
    next = 0xffff888000000008,
    prev = 0xffff888000000008
  },
  st = {<No data fields>},
  {
    x = -1,
    y = 4294967295
  },
  links = {{
      next = 0x0,
      prev = 0x0
    }, {
      next = 0x0,
      prev = 0x0
    }},
  tail = 0xffff888000000040
}`
	pr := &symbols.Printer{}
	if got := pr.Value(s, b, 0xffff888000000000, 0); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
