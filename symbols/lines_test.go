package symbols

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// TestLineUnitLookup checks gdb's find_pc_sect_line rules over one
// unit's files: the latest row at or below the PC wins across files, a
// tie goes to the file searched first (the primary), a line-0 end marker
// never wins, and a non-statement row gives way to a statement row at
// the same address.
func TestLineUnitLookup(t *testing.T) {
	u := lineUnit{files: []lineFile{
		{name: "/src/kernel/panic.c", rows: []lineRow{
			{pc: 0x100, line: 270, stmt: true},
			{pc: 0x110, line: 0, stmt: true}, // run ends: the header's turn
			{pc: 0x120, line: 276, stmt: true},
			{pc: 0x130, line: 280, stmt: true},
			{pc: 0x130, line: 281, stmt: false},
			{pc: 0x140, line: 0, stmt: true},
		}},
		{name: "/src/./include/linux/x.h", rows: []lineRow{
			{pc: 0x110, line: 12, stmt: true},
			{pc: 0x118, line: 13, stmt: false},
			{pc: 0x120, line: 14, stmt: true}, // tie with panic.c:276
			{pc: 0x124, line: 0, stmt: true},
		}},
	}}
	for _, tc := range []struct {
		pc   uint64
		want LineInfo
		ok   bool
	}{
		{0xff, LineInfo{}, false},
		{0x100, LineInfo{"/src/kernel/panic.c", 270}, true},
		{0x10f, LineInfo{"/src/kernel/panic.c", 270}, true},
		{0x110, LineInfo{"/src/./include/linux/x.h", 12}, true},
		{0x11c, LineInfo{"/src/./include/linux/x.h", 13}, true},
		{0x120, LineInfo{"/src/kernel/panic.c", 276}, true},
		{0x126, LineInfo{"/src/kernel/panic.c", 276}, true},
		{0x134, LineInfo{"/src/kernel/panic.c", 280}, true},
		{0x140, LineInfo{}, false}, // both files' last rows are end markers
	} {
		got, ok := u.lookup(tc.pc)
		if ok != tc.ok || got != tc.want {
			t.Errorf("lookup(%#x) = %+v, %v; want %+v, %v", tc.pc, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLineFileRecord(t *testing.T) {
	var f lineFile
	f.record(0x10, 5, true)
	f.record(0x20, 6, true)
	f.record(0x20, 7, false)
	f.record(0x20, 0, true) // drops the rows at 0x20
	want := []lineRow{{0x10, 5, true}, {0x20, 0, true}}
	if !reflect.DeepEqual(f.rows, want) {
		t.Errorf("rows %+v, want %+v", f.rows, want)
	}
}

// lineHeader builds a .debug_line unit header (no program) for tests.
func lineHeader(version int, body []byte) []byte {
	h := lineHeaderBody(version, body)
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(h))), h...)
}

func TestRawFileNames(t *testing.T) {
	cstr := func(ss ...string) []byte {
		var b []byte
		for _, s := range ss {
			b = append(append(b, s...), 0)
		}
		return b
	}
	// DWARF 4: directories and files as strings; directory 0 is the
	// unit's, left for the caller to prefix.
	v4 := cstr("./include/linux", "arch/x86/events/amd", "")
	v4 = append(v4, cstr("foo.h")...)
	v4 = append(v4, 1, 0, 0)
	v4 = append(v4, cstr("../perf_event.h")...)
	v4 = append(v4, 2, 0, 0)
	v4 = append(v4, cstr("main.c")...)
	v4 = append(v4, 0, 0, 0, 0)
	// DWARF 5: entry formats; directory 0 is the compilation directory.
	v5 := []byte{1, 1, 0x08, 2}
	v5 = append(v5, cstr("/comp", "./include")...)
	v5 = append(v5, 2, 1, 0x08, 2, 0x0b, 2)
	v5 = append(v5, cstr("a.c")...)
	v5 = append(v5, 0)
	v5 = append(v5, cstr("b.h")...)
	v5 = append(v5, 1)
	for _, tc := range []struct {
		name    string
		version int
		body    []byte
		want    []string
	}{
		{"dwarf4", 4, v4, []string{"", "./include/linux/foo.h", "arch/x86/events/amd/../perf_event.h", "main.c"}},
		{"dwarf5", 5, v5, []string{"/comp/a.c", "./include/b.h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rawFileNames(lineSections{line: lineHeader(tc.version, tc.body)}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("names %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := rawFileNames(lineSections{line: []byte{1, 2}}, 0); err == nil {
		t.Error("truncated header: no error")
	}
}

// lineHeaderBody is lineHeader's output after the unit_length field.
func lineHeaderBody(version int, body []byte) []byte {
	var h []byte
	h = binary.LittleEndian.AppendUint16(h, uint16(version))
	if version >= 5 {
		h = append(h, 8, 0)
	}
	rest := []byte{1}
	if version >= 4 {
		rest = append(rest, 1)
	}
	rest = append(rest, 1, 0xfb, 14, 13)
	rest = append(rest, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1)
	rest = append(rest, body...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(rest)))
	return append(h, rest...)
}
