package symbols

import (
	"container/list"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
)

// LineTable maps text addresses (link-time) to source file and line,
// from the vmlinux's DWARF line programs. It answers as gdb's
// find_pc_line does, which is what the crash utility prints after "sym"
// and "dis -l": gdb records each compilation unit's rows per source file
// ("subfile"), closes a file's run with a line-0 marker when the program
// switches files, and looks for the row at or below the PC in every file
// of the unit that covers the PC, the latest one winning.
//
// The table is lazy: building it only reads where each compilation unit
// lies (.debug_aranges, else the unit DIE's low_pc/high_pc or ranges), a
// small fraction of the cost of the line programs. A lookup decodes the
// line program of the units covering the PC and keeps the most recently
// used ones.
type LineTable struct {
	d     *dwarf.Data
	secs  lineSections
	units []*dwarf.Entry // compilation unit DIEs, in .debug_info order
	spans []lineUnitSpan // where the units' code lies, by lo
	maxHi []uint64       // maxHi[i]: the largest hi of spans[:i+1]

	mu     sync.Mutex
	cache  map[int]*list.Element // of *decodedUnit, by unit
	lru    list.List             // most recently used first
	failed map[int]error         // units whose program cannot be read
}

// lineCacheUnits bounds the decoded units a LineTable keeps.
const lineCacheUnits = 64

type lineUnitSpan struct {
	lo, hi uint64
	unit   int
}

// decodedUnit is one unit's line program, replayed.
type decodedUnit struct {
	index int
	lineUnit
	seqs []lineSeq // the program's sequences, by lo once cached
}

type lineUnit struct {
	files []lineFile // in gdb's search order: the unit's primary file first
}

type lineFile struct {
	name string
	rows []lineRow // sorted by pc; line 0 ends a run
}

type lineRow struct {
	pc   uint64
	line uint32
	stmt bool
}

type lineSeq struct {
	lo, hi uint64
	unit   int
}

// LineInfo is a resolved source position.
type LineInfo struct {
	File string // as DWARF names it: the unit's directory joined with the file
	Line int
}

// Lines returns the vmlinux's line table, built on first use.
func (v *Vmlinux) Lines() (*LineTable, error) {
	v.linesOnce.Do(func() {
		d, err := v.dwarfForLines()
		if err != nil {
			v.linesErr = err
			return
		}
		secs, err := v.lineSections()
		if err != nil {
			v.linesErr = err
			return
		}
		var aranges []byte
		if sec := v.f.Section(".debug_aranges"); sec != nil {
			if aranges, err = sec.Data(); err != nil {
				v.linesErr = fmt.Errorf("%s: .debug_aranges: %w", v.Path, err)
				return
			}
		}
		byUnit, err := parseAranges(aranges)
		if err != nil {
			// A table that cannot be read is as good as none: the units'
			// own ranges stand in.
			byUnit = nil
		}
		v.lines, v.linesErr = newLineTable(d, secs, byUnit)
		if v.linesErr != nil {
			v.linesErr = fmt.Errorf("%s: %w", v.Path, v.linesErr)
		}
	})
	return v.lines, v.linesErr
}

// lineSections returns the raw sections file names are read from: from
// the mapped file when the DWARF is mapped, else read.
func (v *Vmlinux) lineSections() (lineSections, error) {
	var secs lineSections
	for _, x := range []struct {
		name string
		dst  *[]byte
	}{{".debug_line", &secs.line}, {".debug_line_str", &secs.lineStr}, {".debug_str", &secs.str}} {
		sec := v.f.Section(x.name)
		if sec == nil || sec.Type == elf.SHT_NOBITS {
			continue
		}
		if m := v.Types().mapping; m != nil && sec.Flags&elf.SHF_COMPRESSED == 0 && sec.Offset+sec.Size <= uint64(len(m)) {
			*x.dst = m[sec.Offset : sec.Offset+sec.Size : sec.Offset+sec.Size]
			continue
		}
		b, err := sec.Data()
		if err != nil {
			return secs, fmt.Errorf("%s: %s: %w", v.Path, x.name, err)
		}
		*x.dst = b
	}
	return secs, nil
}

// linesState holds Lines' lazily built table and FuncRange's index
// (embedded in Vmlinux), with the DWARF data both read.
type linesState struct {
	linesOnce sync.Once
	lines     *LineTable
	linesErr  error

	funcState
}

// dwarfForLines returns the DWARF the line table and FuncRange read.
func (v *Vmlinux) dwarfForLines() (*dwarf.Data, error) {
	d, _, err := v.sharedDWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: no usable DWARF: %w", v.Path, err)
	}
	return d, nil
}

// sharedDWARF returns the one DWARF reader over the whole image that
// the line table and FuncRange share with the types: over the mapped
// file when it can be mapped (pages are read as they are touched; the
// mapping is returned too), else over debug/elf's copy of every debug
// section. debug/dwarf's Reader, LineReader and Ranges keep their state
// in the values they return, so they need no lock; Types serialises
// Type.
func (v *Vmlinux) sharedDWARF() (*dwarf.Data, []byte, error) {
	t := v.Types()
	t.index() // maps the file, or finds it cannot be mapped
	t.mu.Lock()
	defer t.mu.Unlock()
	d, err := t.globalLocked()
	return d, t.mapping, err
}

// newLineTable lists d's compilation units and where their code lies:
// byUnit (from .debug_aranges, keyed by unit header offset) first, else
// the unit DIE's ranges. A unit with neither but with a line program has
// that program decoded now, its sequences standing for its ranges.
func newLineTable(d *dwarf.Data, secs lineSections, byUnit map[uint64][][2]uint64) (*LineTable, error) {
	t := &LineTable{d: d, secs: secs, cache: map[int]*list.Element{}}
	var cus []*dwarf.Entry
	dieUnit := map[dwarf.Offset]int{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("line table: compilation units: %w", err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			dieUnit[e.Offset] = len(cus)
			cus = append(cus, e)
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	t.units = cus
	// .debug_aranges names a unit by its header's offset; the unit DIE
	// follows the header, whose size depends on the version, the offset
	// size and the unit type. The smallest size that lands on a unit
	// DIE is the right one: any other unit's DIE lies further on.
	fromAranges := make([][][2]uint64, len(cus))
	for hdr, rs := range byUnit {
		for _, size := range []uint64{11, 12, 20, 23, 24, 32} {
			if u, ok := dieUnit[dwarf.Offset(hdr+size)]; ok {
				fromAranges[u] = append(fromAranges[u], rs...)
				break
			}
		}
	}
	for u, e := range cus {
		rs := fromAranges[u]
		if len(rs) == 0 {
			rs, _ = d.Ranges(e) // a unit whose ranges cannot be read has none
		}
		n := 0
		for _, x := range rs {
			if x[1] > x[0] {
				t.spans = append(t.spans, lineUnitSpan{lo: x[0], hi: x[1], unit: u})
				n++
			}
		}
		if n > 0 {
			continue
		}
		du, err := decodeLineUnit(d, e, secs)
		if err != nil {
			continue // a lookup reports it should one reach the unit
		}
		for _, s := range du.seqs {
			t.spans = append(t.spans, lineUnitSpan{lo: s.lo, hi: s.hi, unit: u})
		}
	}
	sort.Slice(t.spans, func(i, j int) bool {
		a, b := t.spans[i], t.spans[j]
		if a.lo != b.lo {
			return a.lo < b.lo
		}
		return a.unit < b.unit
	})
	t.maxHi = make([]uint64, len(t.spans))
	var hi uint64
	for i, s := range t.spans {
		hi = max(hi, s.hi)
		t.maxHi[i] = hi
	}
	return t, nil
}

// unit returns unit u's decoded line program, from the cache or decoded
// now.
func (t *LineTable) unit(u int) (*decodedUnit, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.cache[u]; ok {
		t.lru.MoveToFront(el)
		return el.Value.(*decodedUnit), nil
	}
	if err, ok := t.failed[u]; ok {
		return nil, err
	}
	du, err := decodeLineUnit(t.d, t.units[u], t.secs)
	if err != nil {
		if t.failed == nil {
			t.failed = map[int]error{}
		}
		t.failed[u] = err // once is enough to find a program unreadable
		return nil, err
	}
	du.index = u
	sort.Slice(du.seqs, func(i, j int) bool { return du.seqs[i].lo < du.seqs[j].lo })
	t.cache[u] = t.lru.PushFront(du)
	if t.lru.Len() > lineCacheUnits {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.cache, old.Value.(*decodedUnit).index)
	}
	return du, nil
}

// decodeLineUnit reads the line program of the unit whose DIE is e;
// secs supplies the file names verbatim. A unit without a program has
// no rows.
func decodeLineUnit(d *dwarf.Data, e *dwarf.Entry, secs lineSections) (du *decodedUnit, err error) {
	defer func() {
		// debug/dwarf reports malformed input as errors; this is a last
		// guard so that no line program can take the session down.
		if p := recover(); p != nil {
			du, err = nil, fmt.Errorf("line table: unit at %#x: malformed line program: %v", e.Offset, p)
		}
	}()
	lr, err := d.LineReader(e)
	if err != nil {
		return nil, fmt.Errorf("line table: unit at %#x: %w", e.Offset, err)
	}
	du = &decodedUnit{}
	if lr == nil {
		return du, nil
	}
	compDir, _ := e.Val(dwarf.AttrCompDir).(string)
	names := map[*dwarf.LineFile]string{}
	if off, ok := e.Val(dwarf.AttrStmtList).(int64); ok {
		if raw, err := rawFileNames(secs, off); err == nil {
			for i, f := range lr.Files() {
				if f != nil && i < len(raw) {
					names[f] = raw[i]
				}
			}
		}
	}
	if err := du.read(lr, compDir, names); err != nil {
		return nil, fmt.Errorf("line table: unit at %#x: %w", e.Offset, err)
	}
	return du, nil
}

// unitBuilder replays a unit's rows the way gdb's lnp_state_machine and
// buildsym record them (gdb 10, dwarf2/read.c, buildsym.c).
type unitBuilder struct {
	files   []*lineFile
	byName  map[string]*lineFile
	primary *lineFile
}

func (b *unitBuilder) file(name string) *lineFile {
	if f, ok := b.byName[name]; ok {
		return f
	}
	f := &lineFile{name: name}
	b.byName[name] = f
	b.files = append(b.files, f)
	return f
}

// record is buildsym_compunit::record_line: a line-0 end marker first
// drops the rows already recorded at its address.
func (f *lineFile) record(pc uint64, line int, stmt bool) {
	if line == 0 {
		for len(f.rows) > 0 && f.rows[len(f.rows)-1].pc == pc {
			f.rows = f.rows[:len(f.rows)-1]
		}
	}
	f.rows = append(f.rows, lineRow{pc: pc, line: uint32(line), stmt: stmt})
}

// read replays a unit's line program into du.
func (du *decodedUnit) read(lr *dwarf.LineReader, compDir string, raw map[*dwarf.LineFile]string) error {
	b := &unitBuilder{byName: map[string]*lineFile{}}
	var (
		e          dwarf.LineEntry
		last       *lineFile // m_last_subfile
		lastLine   int
		lastAddr   uint64
		stmtAtAddr bool
		prevLine   int
		discrim    bool // m_line_has_non_zero_discriminator
		seqLo      uint64
		seqStarted bool
	)
	for {
		err := lr.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if !seqStarted {
			seqLo, seqStarted = e.Address, true
			last, lastLine, prevLine, discrim = nil, 0, 0, false
		}
		var cur *lineFile
		if e.File != nil {
			name, ok := raw[e.File]
			if !ok {
				name = e.File.Name
			}
			if !strings.HasPrefix(name, "/") && compDir != "" {
				// gdb prints a relative name after the unit's directory.
				name = compDir + "/" + name
			}
			cur = b.file(name)
			if b.primary == nil {
				b.primary = cur
			}
		}
		if e.Line != prevLine {
			discrim = e.Discriminator != 0
			prevLine = e.Line
		} else if e.Discriminator != 0 {
			discrim = true
		}
		if e.EndSequence {
			if last != nil {
				last.record(e.Address, 0, true)
			}
			if e.Address > seqLo {
				du.seqs = append(du.seqs, lineSeq{lo: seqLo, hi: e.Address})
			}
			seqStarted = false
			continue
		}
		if cur != nil {
			changed := cur != last
			ignore := (changed && lastAddr == e.Address && !e.IsStmt && stmtAtAddr) || e.Line == 0
			if changed && !ignore && last != nil {
				last.record(e.Address, 0, true)
			}
			if !ignore {
				if changed || e.Line != lastLine || !discrim {
					cur.record(e.Address, e.Line, e.IsStmt)
				}
				last, lastLine = cur, e.Line
			}
		}
		if lastAddr != e.Address {
			stmtAtAddr = false
			lastAddr = e.Address
		}
		stmtAtAddr = stmtAtAddr || e.IsStmt
	}
	// gdb's search order: the primary file, then the others newest first.
	u := lineUnit{}
	if b.primary != nil {
		u.files = append(u.files, *b.primary)
	}
	for i := len(b.files) - 1; i >= 0; i-- {
		if b.files[i] != b.primary {
			u.files = append(u.files, *b.files[i])
		}
	}
	for i := range u.files {
		rows := u.files[i].rows
		// Line-0 markers sort first among rows at one address.
		sort.SliceStable(rows, func(a, c int) bool {
			if rows[a].pc == rows[c].pc && (rows[a].line == 0) != (rows[c].line == 0) {
				return rows[a].line == 0
			}
			return rows[a].pc < rows[c].pc
		})
	}
	du.lineUnit = u
	return nil
}

// Lookup returns the source position of the link-time address pc.
func (t *LineTable) Lookup(pc uint64) (LineInfo, bool) {
	li, ok, _ := t.Find(pc)
	return li, ok
}

// Find is Lookup that also reports why a line program that covers pc
// could not be read.
//
// Of the line-program sequences holding pc, the one starting latest
// decides the unit (ties go to the unit first in .debug_info), as in the
// whole-kernel table this replaces. Only the units whose ranges hold pc,
// and the unit whose range starts last at or below it, are decoded: a
// sequence starts at one of its unit's functions and no other unit's
// code lies inside it.
func (t *LineTable) Find(pc uint64) (LineInfo, bool, error) {
	if t == nil {
		return LineInfo{}, false, nil
	}
	i := sort.Search(len(t.spans), func(i int) bool { return t.spans[i].lo > pc })
	var (
		best   *decodedUnit
		bestLo uint64
		tried  []int
		first  error
	)
	for j := i - 1; j >= 0 && (j == i-1 || t.maxHi[j] > pc); j-- {
		s := t.spans[j]
		// The span starting last at or below pc is tried even when pc
		// lies past its end: a line-program sequence runs on through the
		// padding between a unit's functions, which the unit's ranges
		// leave out.
		if (pc >= s.hi && j != i-1) || slices.Contains(tried, s.unit) {
			continue
		}
		tried = append(tried, s.unit)
		du, err := t.unit(s.unit)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("line of %#x: %w", pc, err)
			}
			continue
		}
		k := sort.Search(len(du.seqs), func(k int) bool { return du.seqs[k].lo > pc })
		for m := k - 1; m >= 0; m-- {
			q := du.seqs[m]
			if pc >= q.hi {
				continue
			}
			if best == nil || q.lo > bestLo || q.lo == bestLo && du.index < best.index {
				best, bestLo = du, q.lo
			}
			break
		}
	}
	if best == nil {
		return LineInfo{}, false, first
	}
	li, ok := best.lookup(pc)
	return li, ok, nil
}

// lookup is gdb's find_pc_sect_line over one unit's files.
func (u *lineUnit) lookup(pc uint64) (LineInfo, bool) {
	var best *lineRow
	var bestFile string
	for fi := range u.files {
		rows := u.files[fi].rows
		k := sort.Search(len(rows), func(k int) bool { return rows[k].pc > pc })
		if k == 0 {
			continue
		}
		prev := k - 1
		// A line-0 row ends a run of lines; it never wins.
		if rows[prev].line == 0 || best != nil && rows[prev].pc <= best.pc {
			continue
		}
		if !rows[prev].stmt {
			tmp := prev
			for tmp > 0 && rows[tmp-1].pc == rows[tmp].pc && rows[tmp-1].line != 0 && !rows[tmp].stmt {
				tmp--
			}
			if rows[tmp].stmt {
				prev = tmp
			}
		}
		best, bestFile = &rows[prev], u.files[fi].name
	}
	if best == nil || best.line == 0 {
		return LineInfo{}, false
	}
	return LineInfo{File: bestFile, Line: int(best.line)}, true
}
