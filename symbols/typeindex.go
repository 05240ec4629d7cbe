package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
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
}

// loadDWARF returns the vmlinux's DWARF. Uncompressed sections are
// mapped from the file rather than copied into the heap (a distribution
// vmlinux carries hundreds of MiB of them); compressed ones, or a file
// that is not an *os.File, go through debug/elf. The reader is the
// Vmlinux's, shared with the line table.
func (t *Types) loadDWARF() (*dwarf.Data, error) {
	d, m, err := t.v.sharedDWARF()
	t.mapping = m
	return d, err
}

// dwarf5Sections are the sections debug/dwarf takes through AddSection.
var dwarf5Sections = []string{".debug_addr", ".debug_line_str", ".debug_str_offsets", ".debug_rnglists", ".debug_loclists"}

// dieSectionsOf returns the mapped sections the fast scanner reads, or
// nil when the DWARF is not mapped.
func (t *Types) dieSectionsOf() *dieSections {
	if t.mapping == nil {
		return nil
	}
	sec := func(name string) []byte {
		s := t.v.f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS || s.Offset+s.Size > uint64(len(t.mapping)) {
			return nil
		}
		return t.mapping[s.Offset : s.Offset+s.Size : s.Offset+s.Size]
	}
	return &dieSections{info: sec(".debug_info"), abbrev: sec(".debug_abbrev"), str: sec(".debug_str"),
		lineStr: sec(".debug_line_str"), strOffsets: sec(".debug_str_offsets"), addr: sec(".debug_addr")}
}

// buildIndexFast is buildIndex with the DIE scanner of diescan.go.
func buildIndexFast(s *dieSections) (*typeIndex, int, error) {
	units, err := scanUnits(s)
	if err != nil {
		return nil, 0, err
	}
	workers := min(runtime.GOMAXPROCS(0), max(len(units), 1))
	parts := make([]*typeIndex, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := len(units)*w/workers, len(units)*(w+1)/workers
		wg.Go(func() {
			parts[w] = newTypeIndex()
			for i := lo; i < hi; i++ {
				if err := parts[w].scanUnitFast(s, &units[i]); err != nil {
					errs[w] = fmt.Errorf("%v: %w", units[i], err)
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

func dwOff(o int) dwarf.Offset { return dwarf.Offset(o) }

func mapDWARF(f *elf.File, file *os.File) (*dwarf.Data, []byte, error) {
	st, err := file.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() <= 0 || st.Size() != int64(int(st.Size())) {
		return nil, nil, errors.New("cannot map the file")
	}
	m, err := syscall.Mmap(int(file.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	sec := func(name string) ([]byte, error) {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			return nil, nil
		}
		if s.Flags&elf.SHF_COMPRESSED != 0 || s.Offset+s.Size > uint64(len(m)) {
			return nil, fmt.Errorf("section %s cannot be mapped", name)
		}
		return m[s.Offset : s.Offset+s.Size : s.Offset+s.Size], nil
	}
	var b [8][]byte
	for i, name := range []string{".debug_abbrev", ".debug_aranges", ".debug_frame", ".debug_info", ".debug_line", ".debug_pubnames", ".debug_ranges", ".debug_str"} {
		if b[i], err = sec(name); err != nil {
			syscall.Munmap(m)
			return nil, nil, err
		}
	}
	d, err := dwarf.New(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7])
	if err == nil {
		for _, name := range dwarf5Sections {
			var s []byte
			if s, err = sec(name); err != nil {
				break
			}
			if s != nil {
				if err = d.AddSection(name, s); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		syscall.Munmap(m)
		return nil, nil, err
	}
	return d, m, nil
}

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

func mergeMap[V any](dst, src map[string]V) {
	for k, v := range src {
		if _, ok := dst[k]; !ok {
			dst[k] = v
		}
	}
}

func (ix *typeIndex) merge(o *typeIndex) {
	mergeMap(ix.structs, o.structs)
	mergeMap(ix.unions, o.unions)
	mergeMap(ix.enums, o.enums)
	mergeMap(ix.typedefs, o.typedefs)
	mergeMap(ix.bases, o.bases)
	for k, v := range o.vars {
		ix.vars[k] = append(ix.vars[k], v...)
	}
	mergeMap(ix.declVars, o.declVars)
	mergeMap(ix.funcs, o.funcs)
	mergeMap(ix.enumVals, o.enumVals)
}

func (ix *typeIndex) size() int {
	return len(ix.structs) + len(ix.unions) + len(ix.enums) + len(ix.typedefs) + len(ix.bases) + len(ix.vars) + len(ix.funcs) + len(ix.enumVals)
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
				ix.vars[name] = append(ix.vars[name], varEntry{typ: typ, addr: le64(loc[1:])})
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
