package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"testing"
)

// seedDWARF returns the sections of testdata/fuzz/dwarf-seed.elf, a
// small C program's DWARF 5 (see dwarf-seed.c).
func seedDWARF(tb testing.TB) (info, abbrev, str, lineStr, line []byte, d *dwarf.Data) {
	tb.Helper()
	f, err := elf.Open("testdata/fuzz/dwarf-seed.elf")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sec := func(name string) []byte {
		s := f.Section(name)
		if s == nil {
			tb.Fatalf("dwarf-seed.elf has no %s", name)
		}
		b, err := s.Data()
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	if d, err = f.DWARF(); err != nil {
		tb.Fatal(err)
	}
	return sec(".debug_info"), sec(".debug_abbrev"), sec(".debug_str"), sec(".debug_line_str"), sec(".debug_line"), d
}

// scanAll indexes every unit of s with the fast scanner.
func scanAll(s *dieSections) (*typeIndex, error) {
	units, err := scanUnits(s)
	if err != nil {
		return nil, err
	}
	ix := newTypeIndex()
	ix.seen = make([]uint8, len(s.str))
	abbrevs := map[uint64]abbrevTable{}
	for i := range units {
		if err := ix.scanUnitCached(s, &units[i], abbrevs); err != nil {
			return nil, err
		}
	}
	return ix, nil
}

// TestDIEScanSeed: the fuzz seed is one the scanner reads whole, and it
// finds what debug/dwarf finds there, so mutations start from a valid
// unit.
func TestDIEScanSeed(t *testing.T) {
	info, abbrev, str, lineStr, _, d := seedDWARF(t)
	ix, err := scanAll(&dieSections{info: info, abbrev: abbrev, str: str, lineStr: lineStr})
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := buildIndex(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want map[string]dwarf.Offset
		names     []string
	}{
		{"struct", ix.structs, want.structs, []string{"task", "list_head"}},
		{"union", ix.unions, want.unions, []string{"u"}},
		{"enum", ix.enums, want.enums, []string{"state"}},
		{"typedef", ix.typedefs, want.typedefs, []string{"pid_t"}},
	} {
		for _, n := range c.names {
			if g, w := c.got[n], c.want[n]; g == 0 || g != w {
				t.Errorf("%s %s: scanner %#x, debug/dwarf %#x", c.what, n, g, w)
			}
		}
	}
	for _, n := range []string{"init_task", "jiffies"} {
		if len(ix.vars[n]) == 0 {
			t.Errorf("variable %s not indexed", n)
		}
	}
	if _, ok := ix.funcs["schedule"]; !ok {
		t.Error("function schedule not indexed")
	}
	if _, ok := ix.enumVals["TASK_DEAD"]; !ok {
		t.Error("enumerator TASK_DEAD not indexed")
	}
}

// FuzzDIEScan: the fast DWARF scanner, given any .debug_info,
// .debug_abbrev and .debug_str, returns an error or an index; it never
// panics, loops or allocates beyond its input's size.
func FuzzDIEScan(f *testing.F) {
	info, abbrev, str, lineStr, _, _ := seedDWARF(f)
	f.Add(info, abbrev, str)
	f.Add(info[:len(info)/2], abbrev, str)
	f.Add(info, abbrev[:len(abbrev)/3], str[:len(str)/2])
	f.Fuzz(func(t *testing.T, info, abbrev, str []byte) {
		ix, err := scanAll(&dieSections{info: info, abbrev: abbrev, str: str, lineStr: lineStr})
		if err != nil {
			return
		}
		ix.first(0, "task")
	})
}

// FuzzLineHeader: reading the file-name table of any .debug_line
// header (with any .debug_line_str and .debug_str) returns names or an
// error, never a panic or an allocation beyond the input.
func FuzzLineHeader(f *testing.F) {
	_, _, str, lineStr, line, _ := seedDWARF(f)
	if _, err := rawFileNames(lineSections{line: line, lineStr: lineStr, str: str}, 0); err != nil {
		f.Fatalf("the seed's own header: %v", err)
	}
	f.Add(line, lineStr)
	f.Add(line[:len(line)/2], lineStr)
	f.Fuzz(func(t *testing.T, line, lineStr []byte) {
		rawFileNames(lineSections{line: line, lineStr: lineStr, str: str}, 0)
	})
}
