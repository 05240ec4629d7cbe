package symbols

import (
	"debug/dwarf"
	"fmt"
	"slices"
	"sort"
	"sync"
)

// funcRange is one function's code range from DWARF.
type funcRange struct{ lo, hi uint64 }

// funcState caches, per compilation unit, its functions' ranges
// (inside linesState).
type funcState struct {
	funcsMu sync.Mutex
	funcs   map[int][]funcRange // by LineTable unit, sorted by lo
}

// FuncRange returns the link-time code range [lo, hi) of the function
// containing pc, from its DW_TAG_subprogram low_pc/high_pc — what gdb's
// find_pc_partial_function answers and crash's "dis" disassembles.
// Only the units whose code covers pc (from the line table's unit
// ranges) are read: walking every unit's DIEs takes seconds on a
// distribution kernel.
func (v *Vmlinux) FuncRange(pc uint64) (lo, hi uint64, ok bool, err error) {
	t, err := v.Lines()
	if err != nil {
		return 0, 0, false, err
	}
	for _, u := range t.unitsCovering(pc) {
		fr, err := v.unitFuncs(t, u)
		if err != nil {
			return 0, 0, false, err
		}
		i := sort.Search(len(fr), func(i int) bool { return fr[i].lo > pc })
		for j := i - 1; j >= 0 && j >= i-16; j-- {
			if f := fr[j]; pc >= f.lo && pc < f.hi {
				return f.lo, f.hi, true, nil
			}
		}
	}
	return 0, 0, false, nil
}

// unitsCovering lists the units one of whose ranges holds pc.
func (t *LineTable) unitsCovering(pc uint64) []int {
	var out []int
	i := sort.Search(len(t.spans), func(i int) bool { return t.spans[i].lo > pc })
	for j := i - 1; j >= 0 && t.maxHi[j] > pc; j-- {
		if s := t.spans[j]; pc < s.hi && !slices.Contains(out, s.unit) {
			out = append(out, s.unit)
		}
	}
	slices.Sort(out)
	return out
}

// unitFuncs reads the ranges of unit u's top-level functions, once.
func (v *Vmlinux) unitFuncs(t *LineTable, u int) ([]funcRange, error) {
	v.funcsMu.Lock()
	defer v.funcsMu.Unlock()
	if fr, ok := v.funcs[u]; ok {
		return fr, nil
	}
	r := t.d.Reader()
	r.Seek(t.units[u].Offset)
	fr, err := readFuncRanges(r, true)
	if err != nil {
		return nil, fmt.Errorf("unit at %#x: %w", t.units[u].Offset, err)
	}
	if v.funcs == nil {
		v.funcs = map[int][]funcRange{}
	}
	v.funcs[u] = fr
	return fr, nil
}

// readFuncRanges reads the functions of the units r is at, to the end
// of the section or, with oneUnit, of the first unit.
func readFuncRanges(r *dwarf.Reader, oneUnit bool) ([]funcRange, error) {
	var out []funcRange
	units := 0
scan:
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("function ranges: %w", err)
		}
		if e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			if units++; oneUnit && units > 1 {
				break scan
			}
			continue // descend to the unit's top-level DIEs
		case dwarf.TagSubprogram:
			lo, ok := e.Val(dwarf.AttrLowpc).(uint64)
			if ok {
				f := e.AttrField(dwarf.AttrHighpc)
				switch {
				case f == nil:
				case f.Class == dwarf.ClassAddress:
					out = append(out, funcRange{lo, f.Val.(uint64)})
				case f.Class == dwarf.ClassConstant:
					out = append(out, funcRange{lo, lo + uint64(f.Val.(int64))})
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out, nil
}
