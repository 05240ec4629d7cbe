package symbols

import (
	"container/list"
	"debug/dwarf"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
)

// eagerLines is the whole-kernel line table the lazy one replaced: every
// unit's line program decoded, the sequences of all units sorted
// together, a lookup taking the unit of the latest-starting sequence
// that holds the PC within 64 sequences back.
type eagerLines struct {
	units []*decodedUnit
	seqs  []lineSeq
}

func buildEagerLines(tb testing.TB, d *dwarf.Data, secs lineSections) *eagerLines {
	tb.Helper()
	t := &eagerLines{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			tb.Fatal(err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagCompileUnit && e.Tag != dwarf.TagPartialUnit {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		if e.Children {
			r.SkipChildren()
		}
		du, err := decodeLineUnit(d, e, secs)
		if err != nil {
			tb.Fatal(err)
		}
		for _, s := range du.seqs {
			t.seqs = append(t.seqs, lineSeq{lo: s.lo, hi: s.hi, unit: len(t.units)})
		}
		t.units = append(t.units, du)
	}
	sort.Slice(t.seqs, func(i, j int) bool { return t.seqs[i].lo < t.seqs[j].lo })
	return t
}

func (t *eagerLines) lookup(pc uint64) (LineInfo, bool) {
	i := sort.Search(len(t.seqs), func(i int) bool { return t.seqs[i].lo > pc })
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		if s := t.seqs[j]; pc >= s.lo && pc < s.hi {
			return t.units[s.unit].lookup(pc)
		}
	}
	return LineInfo{}, false
}

// linesVmlinux opens the vmlinux the line tests read: $KCRASH_LINES_VMLINUX
// (a distribution kernel, say), else the corpus's.
func linesVmlinux(tb testing.TB) *Vmlinux {
	tb.Helper()
	return openTestVmlinux(tb, os.Getenv("KCRASH_LINES_VMLINUX"))
}

// lineSample picks text addresses across the image: a share of the
// functions' starts, points inside them, their last bytes, and the edges of line-program
// sequences (where one unit's code ends and another's begins).
func lineSample(v *Vmlinux, e *eagerLines, n int) []uint64 {
	rng := rand.New(rand.NewPCG(1, 2))
	var text []Symbol
	for _, s := range v.Symtab().All() {
		if s.Type == 't' || s.Type == 'T' {
			text = append(text, s)
		}
	}
	sort.Slice(text, func(i, j int) bool { return text[i].Addr < text[j].Addr })
	var out []uint64
	for range n / 2 {
		k := rng.IntN(len(text))
		s := text[k]
		out = append(out, s.Addr)
		if k+1 < len(text) && text[k+1].Addr > s.Addr {
			// A point inside, and the last byte before the next
			// function: alignment padding, which the units' ranges
			// leave out but their line programs cover.
			out = append(out, s.Addr+rng.Uint64N(text[k+1].Addr-s.Addr), text[k+1].Addr-1)
		}
	}
	for range n / 4 {
		s := e.seqs[rng.IntN(len(e.seqs))]
		out = append(out, s.lo, s.hi-1, s.hi, s.lo-1)
	}
	for _, r := range v.TextRanges() {
		for range n / 8 {
			out = append(out, r.Start+rng.Uint64N(r.End-r.Start))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TestLazyLinesMatchEager checks that the lazy table answers every
// sampled text address as the whole-kernel table does: with the image's
// .debug_aranges, without any (the units' DW_AT_low_pc/high_pc/ranges
// stand in), and with a third of the units missing from it.
func TestLazyLinesMatchEager(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	v := linesVmlinux(t)
	d, err := v.dwarfForLines()
	if err != nil {
		t.Fatal(err)
	}
	secs, err := v.lineSections()
	if err != nil {
		t.Fatal(err)
	}
	eager := buildEagerLines(t, d, secs)
	var aranges []byte
	if sec := v.f.Section(".debug_aranges"); sec != nil {
		if aranges, err = sec.Data(); err != nil {
			t.Fatal(err)
		}
	}
	byUnit, err := parseAranges(aranges)
	if err != nil {
		t.Fatal(err)
	}
	if len(byUnit) == 0 {
		t.Log("the vmlinux has no .debug_aranges: only the fallback is tested")
	}
	full, err := newLineTable(d, secs, byUnit)
	if err != nil {
		t.Fatal(err)
	}
	sample := lineSample(v, eager, 6000)
	// The gaps between one unit's ranges: padding between functions,
	// inside a line-program sequence that runs on across them.
	gaps := 0
	for k := 1; k < len(full.spans); k++ {
		a, b := full.spans[k-1], full.spans[k]
		if a.unit == b.unit && a.hi < b.lo {
			sample = append(sample, a.hi, b.lo-1)
			gaps++
		}
	}
	t.Logf("%d gaps inside units", gaps)
	partial := map[uint64][][2]uint64{}
	i := 0
	for off, rs := range byUnit {
		if i%3 != 0 {
			partial[off] = rs
		}
		i++
	}
	for _, tc := range []struct {
		name   string
		byUnit map[uint64][][2]uint64
	}{
		{"aranges", byUnit},
		{"no-aranges", nil},
		{"partial-aranges", partial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lazy, err := newLineTable(d, secs, tc.byUnit)
			if err != nil {
				t.Fatal(err)
			}
			found, bad := 0, 0
			for _, pc := range sample {
				want, wok := eager.lookup(pc)
				got, gok, err := lazy.Find(pc)
				if err != nil {
					t.Errorf("%#x: %v", pc, err)
				}
				if wok {
					found++
				}
				if got != want || gok != wok {
					if bad++; bad <= 20 {
						t.Errorf("%#x: lazy %+v %v, eager %+v %v", pc, got, gok, want, wok)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d addresses differ", bad, len(sample))
			}
			if found < len(sample)/2 {
				t.Errorf("only %d of %d sampled addresses have a line", found, len(sample))
			}
			t.Logf("%d addresses, %d with a line, %d spans", len(sample), found, len(lazy.spans))
		})
	}
}

// TestLazyLinesDecodeOneUnit checks that a lookup decodes the unit that
// covers the address, not the kernel.
func TestLazyLinesDecodeOneUnit(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	v := linesVmlinux(t)
	s, ok := v.Symtab().Lookup("schedule")
	if !ok {
		t.Skip("no schedule")
	}
	lt, err := v.Lines()
	if err != nil {
		t.Fatal(err)
	}
	li, ok, err := lt.Find(s.Addr)
	if err != nil || !ok {
		t.Fatalf("schedule at %#x: %+v %v %v", s.Addr, li, ok, err)
	}
	if n := lt.lru.Len(); n != 1 {
		t.Errorf("%d units decoded for one address, want 1", n)
	}
	for off := range uint64(4096) {
		lt.Lookup(s.Addr + off)
	}
	if n := lt.lru.Len(); n > lineCacheUnits {
		t.Errorf("%d units cached, bound %d", n, lineCacheUnits)
	}
}

func TestParseAranges(t *testing.T) {
	set := func(unit uint32, tuples ...uint64) []byte {
		b := []byte{0, 0, 0, 0, 2, 0}
		b = append(b, byte(unit), byte(unit>>8), byte(unit>>16), byte(unit>>24), 8, 0)
		b = append(b, make([]byte, 4)...) // pad the header to 16
		for _, x := range append(tuples, 0, 0) {
			for i := range 8 {
				b = append(b, byte(x>>(8*i)))
			}
		}
		n := uint32(len(b) - 4)
		b[0], b[1], b[2], b[3] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		return b
	}
	b := append(set(0x10, 0x1000, 0x20, 0x3000, 0, 0x5000, 0x10), set(0x90, 0x2000, 0x8)...)
	got, err := parseAranges(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64][][2]uint64{0x10: {{0x1000, 0x1020}, {0x5000, 0x5010}}, 0x90: {{0x2000, 0x2008}}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, w := range want {
		if g := got[k]; len(g) != len(w) || g[0] != w[0] || g[len(g)-1] != w[len(w)-1] {
			t.Errorf("unit %#x: %v, want %v", k, g, w)
		}
	}
	// Every truncation and a corrupted byte anywhere: an error or a
	// result, never a panic.
	for n := range len(b) {
		parseAranges(b[:n])
		c := append([]byte(nil), b...)
		c[n] ^= 0xff
		parseAranges(c)
	}
	if _, err := parseAranges(b[:10]); err == nil {
		t.Error("truncated set: no error")
	}
}

// BenchmarkLineLookupCold is the first line lookup on a freshly opened
// vmlinux, as "sym ADDR" and "bt -l" do it.
func BenchmarkLineLookupCold(b *testing.B) {
	p := os.Getenv("KCRASH_LINES_VMLINUX")
	if p == "" {
		p = coretest.Path(b, "kernel/vmlinux")
	}
	for b.Loop() {
		b.StopTimer()
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		v, err := OpenVmlinux(f, f, p)
		if err != nil {
			b.Fatal(err)
		}
		s, ok := v.Symtab().Lookup("schedule")
		if !ok {
			b.Fatal("no schedule")
		}
		b.StartTimer()
		lt, err := v.Lines()
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := lt.Lookup(s.Addr + 0x10); !ok {
			b.Fatal("no line for schedule+0x10")
		}
		b.StopTimer()
		v.Close()
		b.StartTimer()
	}
}

// cachedLineTable is a LineTable over units already decoded, with the
// given ranges.
func cachedLineTable(units []*decodedUnit, spans []lineUnitSpan) *LineTable {
	t := &LineTable{units: make([]*dwarf.Entry, len(units)), cache: map[int]*list.Element{}}
	for i, du := range units {
		du.index = i
		t.cache[i] = t.lru.PushBack(du)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	t.spans = spans
	var hi uint64
	for _, s := range spans {
		hi = max(hi, s.hi)
		t.maxHi = append(t.maxHi, hi)
	}
	return t
}

// TestLazyLinesUnitChoice checks which unit answers: a sequence runs on
// through the padding its unit's ranges leave out; where sequences of
// two units overlap, the one starting later wins; an address past every
// range at or below it is looked up in the unit of the last of them.
func TestLazyLinesUnitChoice(t *testing.T) {
	file := func(name string, rows ...lineRow) lineFile { return lineFile{name: name, rows: rows} }
	a := &decodedUnit{
		lineUnit: lineUnit{files: []lineFile{file("a.c", lineRow{0x100, 1, true}, lineRow{0x120, 2, true}, lineRow{0x200, 0, true})}},
		seqs:     []lineSeq{{lo: 0x100, hi: 0x200}},
	}
	b := &decodedUnit{
		lineUnit: lineUnit{files: []lineFile{file("b.c", lineRow{0x180, 7, true}, lineRow{0x1a0, 0, true})}},
		seqs:     []lineSeq{{lo: 0x180, hi: 0x1a0}},
	}
	c := &decodedUnit{
		lineUnit: lineUnit{files: []lineFile{file("c.c", lineRow{0x300, 9, true}, lineRow{0x310, 0, true})}},
		seqs:     []lineSeq{{lo: 0x300, hi: 0x310}},
	}
	lt := cachedLineTable([]*decodedUnit{a, b, c}, []lineUnitSpan{
		{0x100, 0x110, 0}, {0x120, 0x130, 0}, // a's functions, padding between
		{0x180, 0x1a0, 1}, // b overlaps a's sequence
		{0x300, 0x310, 2},
	})
	for _, tc := range []struct {
		pc   uint64
		want LineInfo
		ok   bool
	}{
		{0xff, LineInfo{}, false},
		{0x100, LineInfo{"a.c", 1}, true},
		{0x115, LineInfo{"a.c", 1}, true}, // padding after a's first function
		{0x12f, LineInfo{"a.c", 2}, true},
		{0x140, LineInfo{"a.c", 2}, true}, // after a's last range, in its sequence
		{0x190, LineInfo{"b.c", 7}, true}, // b's sequence starts later
		// Past b, inside a's sequence again: the whole-kernel table
		// answered a.c:2, the lazy one looks no further back than the
		// unit whose range starts last below the address. Linked
		// kernels have no unit's code inside another's sequence.
		{0x1a0, LineInfo{}, false},
		{0x200, LineInfo{}, false},
		{0x2ff, LineInfo{}, false},
		{0x305, LineInfo{"c.c", 9}, true},
		{0x310, LineInfo{}, false},
	} {
		got, ok, err := lt.Find(tc.pc)
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("Find(%#x) = %+v, %v, %v; want %+v, %v", tc.pc, got, ok, err, tc.want, tc.ok)
		}
	}
}

// BenchmarkLineLookupEager is BenchmarkLineLookupCold the way it was
// done before the table was lazy: every line program decoded first.
func BenchmarkLineLookupEager(b *testing.B) {
	v := linesVmlinux(b)
	s, ok := v.Symtab().Lookup("schedule")
	if !ok {
		b.Fatal("no schedule")
	}
	d, err := v.dwarfForLines()
	if err != nil {
		b.Fatal(err)
	}
	secs, err := v.lineSections()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok := buildEagerLines(b, d, secs).lookup(s.Addr + 0x10); !ok {
			b.Fatal("no line for schedule+0x10")
		}
	}
}

// TestLazyLinesMalformed corrupts the line programs and checks that
// lookups report errors or answer, and never panic.
func TestLazyLinesMalformed(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	v := linesVmlinux(t)
	s, ok := v.Symtab().Lookup("schedule")
	if !ok {
		t.Skip("no schedule")
	}
	sec := func(name string) []byte {
		x := v.f.Section(name)
		if x == nil {
			return nil
		}
		b, err := x.Data()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	line := sec(".debug_line")
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 5 {
		bad := append([]byte(nil), line...)
		for range 2000 << round {
			bad[rng.IntN(len(bad))] = byte(rng.Uint32())
		}
		d, err := dwarf.New(sec(".debug_abbrev"), nil, nil, sec(".debug_info"), bad, nil, nil, sec(".debug_str"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range dwarf5Sections {
			if b := sec(name); b != nil {
				if err := d.AddSection(name, b); err != nil {
					t.Fatal(err)
				}
			}
		}
		lt, err := newLineTable(d, lineSections{line: bad, lineStr: sec(".debug_line_str"), str: sec(".debug_str")}, nil)
		if err != nil {
			continue
		}
		errs, panics := 0, 0
		var first error
		for off := uint64(0); off < 0x20000; off += 0x40 {
			if _, _, err := lt.Find(s.Addr + off); err != nil {
				if errs++; first == nil {
					first = err
				}
				if strings.Contains(err.Error(), "malformed line program") {
					panics++
				}
			}
		}
		t.Logf("round %d: %d lookups failed (%d caught panics), first: %v", round, errs, panics, first)
	}
}
