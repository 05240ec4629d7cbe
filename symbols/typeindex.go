package symbols

import (
	"cmp"
	"debug/dwarf"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// typeIndex maps names to DIE offsets. It is built once over every
// compilation unit's top-level DIEs; types are decoded only when asked
// for (debug/dwarf resolves a type and everything it references, which
// for task_struct is a large part of the kernel).
type typeIndex struct {
	structs  map[string]dwarf.Offset
	unions   map[string]dwarf.Offset
	enums    map[string]dwarf.Offset
	typedefs map[string]dwarf.Offset
	bases    map[string]dwarf.Offset
	vars     map[string][]varEntry   // every definition, in unit order (a weak one may come first)
	declVars map[string]dwarf.Offset // declared only (extern), e.g. jiffies, an alias the linker script makes
	funcs    map[string]funcEntry
	enumVals map[string]enumEntry
}

type varEntry struct {
	typ  dwarf.Offset
	addr uint64
	die  dwarf.Offset // orders definitions across units; not cached
}

type funcEntry struct {
	die  dwarf.Offset
	addr uint64
}

type enumEntry struct {
	enum dwarf.Offset // the enum type; the value is read from it
}

// IndexStats describes the name index, for kcrash's diagnostics and
// the benchmark.
type IndexStats struct {
	Units    int
	Names    int
	Duration time.Duration
	Mapped   bool // the DWARF sections are read from a memory mapping
	Fast     bool // built by the DIE scanner rather than debug/dwarf's reader
	Cached   bool // read from the on-disk index cache
}

// dwarf5Sections are the sections debug/dwarf takes through AddSection.
var dwarf5Sections = []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists", ".debug_loclists"}

// buildIndexFast is buildIndex with the DIE scanner of diescan.go. Units
// vary a hundredfold in size, so workers take small batches from a
// shared counter; the merge keeps, for each name, the entry of the
// earliest unit (the smallest DIE offset), whatever the scheduling.
func buildIndexFast(s *dieSections) (*typeIndex, []unitSpan, error) {
	units, err := scanUnits(s)
	if err != nil {
		return nil, nil, err
	}
	const batch = 16
	workers := min(runtime.GOMAXPROCS(0), max(len(units)/batch, 1))
	parts := make([]*typeIndex, workers)
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ix := newTypeIndex()
			parts[w] = ix
			abbrevs := map[uint64]abbrevTable{}
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= len(units) {
					return
				}
				for i := lo; i < min(lo+batch, len(units)); i++ {
					u := &units[i]
					tab, ok := abbrevs[u.abbrevOff]
					if !ok {
						if tab, err = parseAbbrevs(s.abbrev, u.abbrevOff); err != nil {
							errs[w] = fmt.Errorf("%v: %w", *u, err)
							return
						}
						abbrevs[u.abbrevOff] = tab
					}
					u.abbrev = tab
					if err := ix.scanUnitFast(s, u); err != nil {
						errs[w] = fmt.Errorf("%v: %w", *u, err)
						return
					}
					u.abbrev = nil
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	ix := parts[0]
	for _, p := range parts[1:] {
		ix.merge(p)
	}
	ix.sortVars()
	spans := make([]unitSpan, len(units))
	for i, u := range units {
		spans[i] = unitSpan{uint64(u.start), uint64(u.end)}
	}
	return ix, spans, nil
}

func dwOff(o int) dwarf.Offset { return dwarf.Offset(o) }

// buildIndex scans every unit's top-level DIEs, a share of the units per
// CPU. Each worker fills its own maps; they are merged in unit order so
// the first definition wins whatever the scheduling.
func buildIndex(d *dwarf.Data) (*typeIndex, int, error) {
	var units []dwarf.Offset
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, 0, err
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			units = append(units, e.Offset)
		}
		r.SkipChildren()
	}
	workers := min(runtime.GOMAXPROCS(0), max(len(units), 1))
	parts := make([]*typeIndex, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := len(units)*w/workers, len(units)*(w+1)/workers
		wg.Go(func() {
			parts[w] = newTypeIndex()
			for _, u := range units[lo:hi] {
				if err := parts[w].scanUnit(d, u); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	ix := parts[0]
	for _, p := range parts[1:] {
		ix.merge(p)
	}
	return ix, len(units), nil
}

func newTypeIndex() *typeIndex {
	return &typeIndex{
		structs: map[string]dwarf.Offset{}, unions: map[string]dwarf.Offset{},
		enums: map[string]dwarf.Offset{}, typedefs: map[string]dwarf.Offset{},
		bases: map[string]dwarf.Offset{}, vars: map[string][]varEntry{}, declVars: map[string]dwarf.Offset{},
		funcs: map[string]funcEntry{}, enumVals: map[string]enumEntry{},
	}
}

// mergeMap keeps, for each name, the entry from the earlier unit: DIE
// offsets grow with the unit order.
func mergeMap[V any](dst, src map[string]V, off func(V) dwarf.Offset) {
	for k, v := range src {
		if d, ok := dst[k]; !ok || off(v) < off(d) {
			dst[k] = v
		}
	}
}

func (ix *typeIndex) merge(o *typeIndex) {
	id := func(o dwarf.Offset) dwarf.Offset { return o }
	mergeMap(ix.structs, o.structs, id)
	mergeMap(ix.unions, o.unions, id)
	mergeMap(ix.enums, o.enums, id)
	mergeMap(ix.typedefs, o.typedefs, id)
	mergeMap(ix.bases, o.bases, id)
	for k, v := range o.vars {
		ix.vars[k] = append(ix.vars[k], v...)
	}
	mergeMap(ix.declVars, o.declVars, id)
	mergeMap(ix.funcs, o.funcs, func(f funcEntry) dwarf.Offset { return f.die })
	mergeMap(ix.enumVals, o.enumVals, func(e enumEntry) dwarf.Offset { return e.enum })
}

// sortVars puts each variable's definitions back in unit order.
func (ix *typeIndex) sortVars() {
	for _, v := range ix.vars {
		if len(v) > 1 {
			slices.SortStableFunc(v, func(a, b varEntry) int { return cmp.Compare(a.die, b.die) })
		}
	}
}

// size counts records as the cache file does: a variable defined in
// several units counts once per definition.
func (ix *typeIndex) size() int {
	n := len(ix.structs) + len(ix.unions) + len(ix.enums) + len(ix.typedefs) + len(ix.bases) + len(ix.declVars) + len(ix.funcs) + len(ix.enumVals)
	for _, v := range ix.vars {
		n += len(v)
	}
	return n
}

func addFirstBytes(m map[string]dwarf.Offset, name []byte, off dwarf.Offset) {
	if _, ok := m[string(name)]; !ok {
		m[string(name)] = off
	}
}

func addFirst(m map[string]dwarf.Offset, name string, off dwarf.Offset) {
	if _, ok := m[name]; !ok {
		m[name] = off
	}
}

// scanUnit indexes one unit's top-level DIEs.
func (ix *typeIndex) scanUnit(d *dwarf.Data, unit dwarf.Offset) error {
	r := d.Reader()
	r.Seek(unit)
	cu, err := r.Next()
	if err != nil || cu == nil {
		return err
	}
	if !cu.Children {
		return nil
	}
	// Declarations a definition's DW_AT_specification points back to
	// (an extern declaration followed by the definition in one unit).
	type decl struct {
		name string
		typ  dwarf.Offset
	}
	decls := map[dwarf.Offset]decl{}
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		isDecl, _ := e.Val(dwarf.AttrDeclaration).(bool)
		switch e.Tag {
		case dwarf.TagStructType, dwarf.TagUnionType:
			if name != "" && !isDecl {
				if e.Tag == dwarf.TagStructType {
					addFirst(ix.structs, name, e.Offset)
				} else {
					addFirst(ix.unions, name, e.Offset)
				}
			}
		case dwarf.TagEnumerationType:
			if name != "" && !isDecl {
				addFirst(ix.enums, name, e.Offset)
			}
			if e.Children {
				if err := ix.scanEnumerators(r, e.Offset); err != nil {
					return err
				}
				continue
			}
		case dwarf.TagTypedef:
			if name != "" {
				addFirst(ix.typedefs, name, e.Offset)
			}
		case dwarf.TagBaseType:
			if name != "" {
				addFirst(ix.bases, gdbBaseName(name), e.Offset)
			}
		case dwarf.TagVariable:
			typ, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
			if isDecl {
				decls[e.Offset] = decl{name, typ}
				if name != "" && typ != 0 {
					addFirst(ix.declVars, name, typ)
				}
				break
			}
			if spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
				dc := decls[spec]
				if name == "" {
					name = dc.name
				}
				if typ == 0 {
					typ = dc.typ
				}
			}
			loc, _ := e.Val(dwarf.AttrLocation).([]byte)
			if name != "" && len(loc) == 9 && loc[0] == 0x03 { // DW_OP_addr
				ix.vars[name] = append(ix.vars[name], varEntry{typ: typ, addr: le64(loc[1:]), die: e.Offset})
			}
		case dwarf.TagSubprogram:
			if pc, ok := e.Val(dwarf.AttrLowpc).(uint64); ok && name != "" && !isDecl {
				if _, ok := ix.funcs[name]; !ok {
					ix.funcs[name] = funcEntry{die: e.Offset, addr: pc}
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

func (ix *typeIndex) scanEnumerators(r *dwarf.Reader, enum dwarf.Offset) error {
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil || e.Tag == 0 {
			return nil
		}
		if e.Tag == dwarf.TagEnumerator {
			name, _ := e.Val(dwarf.AttrName).(string)
			if _, seen := ix.enumVals[name]; name != "" && !seen {
				ix.enumVals[name] = enumEntry{enum: enum}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// gdbBaseName spells a base type the way gdb prints it: GCC names
// unsigned long "long unsigned int", gdb (and so crash) "unsigned long".
func gdbBaseName(name string) string {
	if n, ok := baseNames[name]; ok {
		return n
	}
	return name
}

var baseNames = map[string]string{
	"long int":               "long",
	"long unsigned int":      "unsigned long",
	"long long int":          "long long",
	"long long unsigned int": "unsigned long long",
	"short int":              "short",
	"short unsigned int":     "unsigned short",
}
