package analyze

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/kcrash/kcrash/symbols"
)

// mockScope is a tiny kernel: a struct task { int pid; char comm[4];
// struct task *next; } at 0x1000 whose next points to a second one at
// 0x2000, and an int array at 0x3000.
type mockScope struct {
	mem   map[uint64]byte
	vars  map[string]symbols.Var
	types map[string]dwarf.Type
}

func (m *mockScope) LookupVar(name string) (symbols.Var, error) {
	if v, ok := m.vars[name]; ok {
		return v, nil
	}
	return symbols.Var{}, symbols.ErrNotFound
}
func (m *mockScope) LookupFunc(name string) (symbols.Func, error) {
	return symbols.Func{}, symbols.ErrNotFound
}
func (m *mockScope) LookupEnumerator(name string) (int64, *dwarf.EnumType, error) {
	return 0, nil, symbols.ErrNotFound
}
func (m *mockScope) LookupType(name string) (dwarf.Type, error) {
	if t, ok := m.types[name]; ok {
		return t, nil
	}
	return nil, symbols.ErrNotFound
}
func (m *mockScope) Read(p []byte, addr uint64) error {
	for i := range p {
		b, ok := m.mem[addr+uint64(i)]
		if !ok {
			return fmt.Errorf("no memory at %#x", addr+uint64(i))
		}
		p[i] = b
	}
	return nil
}

func (m *mockScope) put(addr uint64, b []byte) {
	for i, c := range b {
		m.mem[addr+uint64(i)] = c
	}
}

func newMockScope() *mockScope {
	charT := &dwarf.CharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: "char"}}}
	task := &dwarf.StructType{StructName: "task", Kind: "struct"}
	task.ByteSize = 16
	task.Field = []*dwarf.StructField{
		{Name: "pid", Type: intType, ByteOffset: 0},
		{Name: "comm", Type: &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: 4}, Type: charT, Count: 4}, ByteOffset: 4},
		{Name: "next", Type: pointerTo(task), ByteOffset: 8},
	}
	arr := &dwarf.ArrayType{CommonType: dwarf.CommonType{ByteSize: 16}, Type: intType, Count: 4}
	m := &mockScope{mem: map[uint64]byte{},
		vars: map[string]symbols.Var{
			"t0":  {Name: "t0", Addr: 0x1000, Type: task},
			"arr": {Name: "arr", Addr: 0x3000, Type: arr},
		},
		types: map[string]dwarf.Type{"struct task": task, "int": intType, "unsigned long": ulongType, "char": charT},
	}
	le := binary.LittleEndian
	t0 := make([]byte, 16)
	le.PutUint32(t0, 7)
	copy(t0[4:], "abc")
	le.PutUint64(t0[8:], 0x2000)
	m.put(0x1000, t0)
	t1 := make([]byte, 16)
	le.PutUint32(t1, 42)
	copy(t1[4:], "xyz")
	m.put(0x2000, t1)
	a := make([]byte, 16)
	for i := range 4 {
		le.PutUint32(a[4*i:], uint32(10*(i+1)))
	}
	m.put(0x3000, a)
	return m
}

func TestEval(t *testing.T) {
	m := newMockScope()
	tests := []struct {
		expr     string
		wantType string
		want     int64 // the value for scalars
		wantAddr uint64
	}{
		{"t0.pid", "int", 7, 0},
		{"t0.next->pid", "int", 42, 0},
		{"(*t0.next).pid + 1", "int", 43, 0},
		{"t0.comm[1]", "char", 'b', 0},
		{"t0.comm[1] + 1", "int", 'c', 0},
		{"arr[2]", "int", 30, 0},
		{"*arr", "int", 10, 0},
		{"&t0", "struct task *", 0x1000, 0},
		{"&t0.next", "struct task **", 0x1008, 0},
		{"&arr[1]", "int *", 0x3004, 0},
		{"&arr[3] - &arr[1]", "long", 2, 0},
		{"(struct task *)0x2000", "struct task *", 0x2000, 0},
		{"((struct task *)0x2000)->pid", "int", 42, 0},
		{"((struct task *)0x1000)->next->comm[2]", "char", 'z', 0},
		{"sizeof(struct task)", "unsigned long", 16, 0},
		{"sizeof t0.comm", "unsigned long", 4, 0},
		{"7 % 3", "int", 1, 0},
		{"-7 / 2", "int", -3, 0},
		{"1 << 40", "int", 0, 0},
		{"1UL << 40", "unsigned long", 1 << 40, 0},
		{"~0", "int", -1, 0},
		{"(char)65", "char", 65, 0},
		{"t0.pid == 7", "int", 1, 0},
		{"t0.pid > 7 || !t0.pid", "int", 0, 0},
		{"0xffffffff + 1", "unsigned int", 0, 0},
		{"2147483647 + 1", "int", -2147483648, 0},
		{"sizeof(arr[1]@3)", "unsigned long", 12, 0},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			e, err := ParseExpr(tc.expr, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Eval(m, e)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got := symbols.TypeName(v.Type); got != tc.wantType {
				t.Errorf("type %q, want %q", got, tc.wantType)
			}
			u, err := evaluator{m}.uint(v)
			if err != nil {
				t.Fatal(err)
			}
			if int64(u) != tc.want {
				t.Errorf("value %d, want %d", int64(u), tc.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	m := newMockScope()
	for _, expr := range []string{"nosuch", "t0.nosuch", "t0.pid.x", "*t0.pid", "&1", "1 / 0", "(struct nosuch *)0", "t0.next->next->pid"} {
		t.Run(expr, func(t *testing.T) {
			e, err := ParseExpr(expr, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, err := Eval(m, e)
			if err == nil {
				_, err = Load(m, v)
			}
			if err == nil {
				t.Errorf("Eval(%q) succeeded", expr)
			}
		})
	}
}
