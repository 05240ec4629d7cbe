package symbols

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"sync"
)

// funcRange is one function's code range from DWARF.
type funcRange struct{ lo, hi uint64 }

// funcState holds FuncRange's lazily built index (inside linesState).
type funcState struct {
	funcsOnce sync.Once
	funcs     []funcRange // sorted by lo
	funcsErr  error
}

// FuncRange returns the link-time code range [lo, hi) of the function
// containing pc, from its DW_TAG_subprogram low_pc/high_pc — what gdb's
// find_pc_partial_function answers and crash's "dis" disassembles.
func (v *Vmlinux) FuncRange(pc uint64) (lo, hi uint64, ok bool, err error) {
	v.funcsOnce.Do(func() {
		d, err := v.dwarfForLines()
		if err != nil {
			v.funcsErr = err
			return
		}
		v.funcs, v.funcsErr = readFuncRanges(d)
	})
	if v.funcsErr != nil {
		return 0, 0, false, v.funcsErr
	}
	i := sort.Search(len(v.funcs), func(i int) bool { return v.funcs[i].lo > pc })
	for j := i - 1; j >= 0 && j >= i-16; j-- {
		if f := v.funcs[j]; pc >= f.lo && pc < f.hi {
			return f.lo, f.hi, true, nil
		}
	}
	return 0, 0, false, nil
}

func readFuncRanges(d *dwarf.Data) ([]funcRange, error) {
	var out []funcRange
	r := d.Reader()
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
