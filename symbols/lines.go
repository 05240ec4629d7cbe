package symbols

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"io"
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
type LineTable struct {
	units []lineUnit
	seqs  []lineSeq // address ranges of the units' sequences, by lo
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
		var secs lineSections
		for name, dst := range map[string]*[]byte{".debug_line": &secs.line, ".debug_line_str": &secs.lineStr, ".debug_str": &secs.str} {
			if sec := v.f.Section(name); sec != nil {
				if *dst, err = sec.Data(); err != nil {
					v.linesErr = fmt.Errorf("%s: %s: %w", v.Path, name, err)
					return
				}
			}
		}
		v.lines, v.linesErr = buildLineTable(d, secs)
		if v.linesErr != nil {
			v.linesErr = fmt.Errorf("%s: %w", v.Path, v.linesErr)
		}
	})
	return v.lines, v.linesErr
}

// linesState holds Lines' lazily built table and FuncRange's index
// (embedded in Vmlinux), with the DWARF data both read.
type linesState struct {
	linesOnce sync.Once
	lines     *LineTable
	linesErr  error

	dwarfOnce sync.Once
	dwarfData *dwarf.Data
	dwarfErr  error

	funcState
}

func (v *Vmlinux) dwarfForLines() (*dwarf.Data, error) {
	v.dwarfOnce.Do(func() {
		v.dwarfData, v.dwarfErr = v.f.DWARF()
		if v.dwarfErr != nil {
			v.dwarfErr = fmt.Errorf("%s: no usable DWARF: %w", v.Path, v.dwarfErr)
		}
	})
	return v.dwarfData, v.dwarfErr
}

// buildLineTable reads the line program of every compilation unit in d;
// secs supplies the file names verbatim.
func buildLineTable(d *dwarf.Data, secs lineSections) (*LineTable, error) {
	t := &LineTable{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("line table: %w", err)
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
		lr, err := d.LineReader(e)
		if err != nil {
			return nil, fmt.Errorf("line table: unit at %#x: %w", e.Offset, err)
		}
		if e.Children {
			r.SkipChildren()
		}
		if lr == nil {
			continue
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
		if err := t.addUnit(lr, compDir, names); err != nil {
			return nil, fmt.Errorf("line table: unit at %#x: %w", e.Offset, err)
		}
	}
	sort.Slice(t.seqs, func(i, j int) bool { return t.seqs[i].lo < t.seqs[j].lo })
	return t, nil
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

func (t *LineTable) addUnit(lr *dwarf.LineReader, compDir string, raw map[*dwarf.LineFile]string) error {
	b := &unitBuilder{byName: map[string]*lineFile{}}
	unit := len(t.units)
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
				t.seqs = append(t.seqs, lineSeq{lo: seqLo, hi: e.Address, unit: unit})
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
	t.units = append(t.units, u)
	return nil
}

// Lookup returns the source position of the link-time address pc.
func (t *LineTable) Lookup(pc uint64) (LineInfo, bool) {
	if t == nil {
		return LineInfo{}, false
	}
	i := sort.Search(len(t.seqs), func(i int) bool { return t.seqs[i].lo > pc })
	unit := -1
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		if s := t.seqs[j]; pc >= s.lo && pc < s.hi {
			unit = s.unit
			break
		}
	}
	if unit < 0 {
		return LineInfo{}, false
	}
	return t.units[unit].lookup(pc)
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
