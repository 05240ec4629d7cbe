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

	// seen has a bit per table for each .debug_str offset already
	// indexed: the linker merges equal strings, so every unit's "u32"
	// typedef names the same offset, and one byte test replaces a map
	// lookup for the millions of repeated declarations. Scanner only.
	seen []uint8
}

const (
	seenStruct = 1 << iota
	seenUnion
	seenEnum
	seenTypedef
	seenBase
	seenDeclVar
	seenFunc
	seenEnumVal
)

// isNew reports whether the name at .debug_str offset strOff-1 is not
// yet in table bit, and marks it. Names stored elsewhere (strOff 0) are
// always new; the map decides.
func (ix *typeIndex) isNew(bit uint8, strOff uint64) bool {
	if strOff == 0 || strOff > uint64(len(ix.seen)) {
		return true
	}
	if ix.seen[strOff-1]&bit != 0 {
		return false
	}
	ix.seen[strOff-1] |= bit
	return true
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

func spansOf(units []unitHeader) []unitSpan {
	spans := make([]unitSpan, len(units))
	for i, u := range units {
		spans[i] = unitSpan{uint64(u.start), uint64(u.end)}
	}
	return spans
}

// scanParallel indexes units on every CPU. Units vary a hundredfold in
// size, so workers take small batches from a shared counter; the merge
// keeps, for each name, the entry of the earliest unit (the smallest
// DIE offset), whatever the scheduling.
func scanParallel(s *dieSections, units []unitHeader) (*typeIndex, error) {
	const batch = 16
	workers := min(runtime.GOMAXPROCS(0), max(len(units)/batch, 1))
	parts := make([]*typeIndex, workers)
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ix := newTypeIndex()
			ix.seen = make([]uint8, len(s.str))
			parts[w] = ix
			abbrevs := map[uint64]abbrevTable{}
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= len(units) {
					return
				}
				for i := lo; i < min(lo+batch, len(units)); i++ {
					if err := ix.scanUnitCached(s, &units[i], abbrevs); err != nil {
						errs[w] = err
						return
					}
				}
				s.release(units[lo].start, units[min(lo+batch, len(units))-1].end)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ix := parts[0]
	for _, p := range parts[1:] {
		ix.merge(p)
	}
	ix.seen = nil
	ix.sortVars()
	return ix, nil
}

// scanUnitCached scans one unit, parsing its abbreviations unless a
// unit before it shared them.
func (ix *typeIndex) scanUnitCached(s *dieSections, u *unitHeader, abbrevs map[uint64]abbrevTable) error {
	tab, ok := abbrevs[u.abbrevOff]
	if !ok {
		var err error
		if tab, err = parseAbbrevs(s.abbrev, u.abbrevOff); err != nil {
			return fmt.Errorf("%v: %w", *u, err)
		}
		abbrevs[u.abbrevOff] = tab
	}
	u.abbrev = tab
	defer func() { u.abbrev = nil }()
	if err := ix.scanUnitFast(s, u); err != nil {
		return fmt.Errorf("%v: %w", *u, err)
	}
	return nil
}

// lazyIndex answers from the units scanned so far, in file order, and
// scans more only when a name is not there yet. A kernel's common types
// are all defined in its first units (init/main.c includes most of the
// headers), so a session that asks about task_struct, mm_struct or
// new_utsname reads a few MB of DWARF instead of all of it. Because
// units are taken in order, the first definition found is the one the
// full index would choose.
//
// A session saves what it scanned (see Types.close), and the next one
// starts from that prefix (base) and scans on from where it ended.
type lazyIndex struct {
	mu       sync.Mutex
	s        *dieSections
	units    []unitHeader // nil until a scan needs the headers
	total    int          // number of units
	base     *cachedIndex // units[:baseNext], from the cache; or nil
	baseNext int
	next     int        // units[:next] are in base or ix
	ix       *typeIndex // units[baseNext:next]
	abbrevs  map[uint64]abbrevTable
	err      error
	onDone   func(*typeIndex)           // called once, when every unit is in
	fallback func() (*typeIndex, error) // when the scanner fails: debug/dwarf's reader

	stop   chan struct{} // closed to stop the read-ahead
	bg     sync.WaitGroup
	wanted bool // a lookup was answered from units past the base
}

// readAhead scans on in file order in the background, a few units at a
// time, while the session reads its symbol table and dump: by the time
// a command asks for a type defined further in (struct rq lives in the
// scheduler's units, a tenth of the way), it is usually there. Stop it
// before the mapping goes.
func (l *lazyIndex) readAhead() {
	l.stop = make(chan struct{})
	l.bg.Go(func() {
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			l.mu.Lock()
			if l.done() {
				l.mu.Unlock()
				return
			}
			l.step(4)
			l.mu.Unlock()
		}
	})
}

// stopReadAhead stops the background scan and waits for it.
func (l *lazyIndex) stopReadAhead() {
	if l.stop != nil {
		select {
		case <-l.stop:
		default:
			close(l.stop)
		}
		l.bg.Wait()
	}
}

// step scans the next n units in order. l.mu must be held.
func (l *lazyIndex) step(n int) {
	var err error
	if l.units == nil {
		if l.units, err = scanUnits(l.s); err == nil && len(l.units) != l.total {
			err = fmt.Errorf("%w: %d units, the cache has %d", errScan, len(l.units), l.total)
		}
	}
	for end := min(l.next+n, l.total); err == nil && l.next < end; l.next++ {
		err = l.ix.scanUnitCached(l.s, &l.units[l.next], l.abbrevs)
	}
	l.finish(err)
}

func newLazyIndex(s *dieSections, total int, base *cachedIndex) *lazyIndex {
	ix := newTypeIndex()
	ix.seen = make([]uint8, len(s.str))
	l := &lazyIndex{s: s, total: total, ix: ix, abbrevs: map[uint64]abbrevTable{}}
	if base != nil {
		l.base, l.baseNext, l.next = base, base.covered, base.covered
	}
	return l
}

func (l *lazyIndex) isDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done()
}

func (l *lazyIndex) done() bool { return l.next >= l.total || l.err != nil }

// more scans the next units: the first few in order, then at least as
// many again as are behind (or up to upTo), in parallel. l.mu must be
// held.
func (l *lazyIndex) more(upTo int) {
	if l.done() {
		return
	}

	if l.next == 0 || l.units == nil {
		// The first units hold the common types: read them in order.
		l.step(8)
		return
	}
	// Then a quarter as many units again as are behind (at least 32),
	// on every CPU: a rare type costs a few rounds and is found at most
	// a quarter past where it is (struct rq: a tenth of the way in; full
	// doublings scanned up to twice what was needed), a missing one the
	// whole section.
	end := min(max(l.next+max(32, l.next/4), upTo), l.total)
	part, err := scanParallel(l.s, l.units[l.next:end])
	if err == nil {
		l.ix.merge(part)
		l.next = end
	}
	l.finish(err)
}

// finish handles the end of a scan step: the fallback on an error, the
// completion hook when every unit is in. l.mu must be held.
func (l *lazyIndex) finish(err error) {
	if err != nil {
		// DWARF the scanner does not know: index it all with debug/dwarf.
		l.base, l.ix, l.next = nil, nil, l.total
		if l.fallback == nil {
			l.err = err
		} else if l.ix, l.err = l.fallback(); l.err != nil {
			l.ix = newTypeIndex()
		}
		return
	}
	if l.done() {
		l.ix.seen, l.abbrevs = nil, nil
		l.ix.sortVars()
		if l.onDone != nil {
			l.onDone(l.merged())
		}
	}
}

// merged is the index of every unit scanned, base and new. l.mu must be
// held.
func (l *lazyIndex) merged() *typeIndex {
	if l.base == nil {
		return l.ix
	}
	m := l.base.toTypeIndex()
	m.merge(l.ix) // base's units come first, so its entries win
	return m
}

// grown reports new units scanned since the base, and returns the index
// to save with how many units it covers.
func (l *lazyIndex) grown() (*typeIndex, int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Units only the read-ahead reached are not worth the write: the
	// next session reads ahead as well.
	if !l.wanted || l.next <= l.baseNext || l.err != nil || l.done() {
		return nil, 0, false // a complete index was saved by onDone
	}
	return l.merged(), l.next, true
}

// complete scans every unit not yet scanned.
func (l *lazyIndex) complete() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.done() {
		l.more(l.total)
	}
	return l.err
}

func (l *lazyIndex) first(tab int, name string) (a, b uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.base != nil {
			if a, b, ok := l.base.first(tab, name); ok {
				return a, b, true
			}
		}
		if a, b, ok := l.ix.first(tab, name); ok {
			l.wanted = true
			return a, b, true
		}
		if l.done() {
			return 0, 0, false
		}
		l.more(0)
	}
}

// all returns the definitions found so far once there is one; a caller
// that needs every unit's (LookupVar, when all it has is incomplete)
// calls complete first.
func (l *lazyIndex) all(tab int, name string) [][2]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		var r [][2]uint64
		if l.base != nil {
			r = l.base.all(tab, name)
		}
		more := l.ix.all(tab, name)
		l.wanted = l.wanted || len(more) > 0
		r = append(r, more...)
		if len(r) > 0 || l.done() {
			return r
		}
		l.more(0)
	}
}

func (l *lazyIndex) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.merged().size()
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
