package symbols

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Types answers questions about the kernel's C types from the vmlinux's
// DWARF, through Go's debug/dwarf (which, unlike delve's godwarf, honours
// DW_AT_data_bit_offset, the bitfield form GCC 12 emits for DWARF 5).
//
// The first question builds a name index over every compilation unit
// (see typeIndex); types are then decoded on demand. debug/dwarf's type
// cache is a plain map, so every decode holds mu.
type Types struct {
	v        *Vmlinux
	once     sync.Once
	ix       nameIndex
	lazy     *lazyIndex // ix, while it is built as lookups need it
	err      error
	cacheDir string // where the index is saved and found; "" for none

	mapping  []byte // the mapped vmlinux, or nil
	fileSize uint64
	secs     *dieSections // the mapped DWARF sections, or nil
	units    []unitSpan   // with secs: every unit, in file order
	cacheMap []byte       // the mapped index cache file, or nil
	stats    IndexStats
	percpu   [2]uint64 // .data..percpu [start, end)

	// mu guards what follows: debug/dwarf's type caches are plain maps.
	mu        sync.Mutex
	unitData  map[int]*dwarf.Data // by unit; nil: use global
	global    *dwarf.Data
	globalErr error
	flexDone  map[dwarf.Offset]bool

	namerMu sync.Mutex
	namers  map[uint64]*AddrNamer // by KASLR slide
}

// Types returns the vmlinux's type information.
func (v *Vmlinux) Types() *Types {
	v.typesOnce.Do(func() { v.types = &Types{v: v, cacheDir: v.cacheDir} })
	return v.types
}

// ErrNoDWARF: the vmlinux has no usable debug information.
var ErrNoDWARF = errors.New("no usable DWARF debug info")

func (t *Types) index() (nameIndex, error) {
	t.once.Do(func() {
		start := time.Now()
		if s := t.v.f.Section(".data..percpu"); s != nil {
			t.percpu = [2]uint64{s.Addr, s.Addr + s.Size}
		}
		if t.mapFile() == nil && t.openMapped(start) {
			return
		}
		// The file cannot be mapped, or the scanner met DWARF it does
		// not know: debug/dwarf reads all of it, as one reader over the
		// whole section.
		t.secs = nil
		ix, err := t.fallbackIndex()
		if err != nil {
			t.err = err
			return
		}
		t.ix = ix
		t.stats = IndexStats{Units: len(t.units), Names: ix.size(), Duration: time.Since(start), Mapped: t.mapping != nil}
	})
	return t.ix, t.err
}

// openMapped sets up the index over the mapped DWARF: from a complete
// cache file, or lazily from a cached prefix or from nothing.
func (t *Types) openMapped(start time.Time) bool {
	key := indexKey{buildID: t.v.BuildID, fileSize: t.fileSize, infoSize: uint64(len(t.secs.info))}
	var base *cachedIndex
	if t.cacheDir != "" && key.buildID != "" {
		if c, m, err := loadIndexCache(indexCachePath(t.cacheDir, key.buildID), key); err == nil {
			t.units, t.cacheMap = c.units, m
			if c.covered == len(c.units) {
				t.ix = c
				t.stats = IndexStats{Units: len(c.units), Names: c.size(), Duration: time.Since(start), Mapped: true, Fast: true, Cached: true}
				return true
			}
			base = c
		}
	}
	if base == nil {
		units, err := scanUnits(t.secs)
		if err != nil {
			return false
		}
		t.units = spansOf(units)
	}
	total := len(t.units)
	t.lazy = newLazyIndex(t.secs, total, base)
	t.lazy.onDone = func(ix *typeIndex) { t.saveIndex(ix, total, true) }
	t.lazy.fallback = t.fallbackIndex
	if base == nil {
		// A first session reads ahead; later ones start from what the
		// earlier ones needed and scan on only when they must.
		t.lazy.readAhead()
	}
	t.ix = t.lazy
	t.stats = IndexStats{Units: total, Mapped: true, Fast: true, Cached: base != nil}
	return true
}

// fallbackIndex builds the index with debug/dwarf's reader, for DWARF
// the scanner does not handle.
func (t *Types) fallbackIndex() (*typeIndex, error) {
	t.mu.Lock()
	d, err := t.globalLocked()
	t.mu.Unlock()
	if err != nil {
		return nil, err
	}
	ix, _, err := buildIndex(d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", t.v.Path, ErrNoDWARF, err)
	}
	return ix, nil
}

// saveIndex writes the index of the first covered units to the cache,
// in the background when the session goes on.
func (t *Types) saveIndex(ix *typeIndex, covered int, background bool) {
	if t.cacheDir == "" || t.v.BuildID == "" || t.secs == nil {
		return
	}
	key := indexKey{buildID: t.v.BuildID, fileSize: t.fileSize, infoSize: uint64(len(t.secs.info))}
	units := t.units
	save := func() { writeCacheFile(indexCachePath(t.cacheDir, key.buildID), encodeIndex(key, units, covered, ix)) }
	if background {
		t.v.saving.Go(save)
	} else {
		save()
	}
}

// completeIndex makes a lazy index scan every unit.
func (t *Types) completeIndex() error {
	if t.lazy == nil {
		return nil
	}
	return t.lazy.complete()
}

// Stats completes the index if needed and describes it.
func (t *Types) Stats() (IndexStats, error) {
	start := time.Now()
	if _, err := t.index(); err != nil {
		return t.stats, err
	}
	if t.lazy != nil {
		if err := t.completeIndex(); err != nil {
			return t.stats, err
		}
		t.stats.Duration += time.Since(start)
	}
	t.stats.Names = t.ix.size()
	return t.stats, nil
}

// close waits for the index cache to be written and unmaps the files.
func (t *Types) close() error {
	if t == nil {
		return nil
	}
	if t.lazy != nil {
		t.lazy.stopReadAhead() // before the mapping goes
		// Save the units this session scanned, so the next one starts
		// from them (a complete index was saved when it completed).
		if ix, covered, ok := t.lazy.grown(); ok {
			t.saveIndex(ix, covered, false)
		}
	}
	var err error
	for _, m := range []*[]byte{&t.mapping, &t.cacheMap} {
		if *m != nil {
			err = errors.Join(err, syscall.Munmap(*m))
			*m = nil
		}
	}
	return err
}

// typeAt decodes the type whose DIE is at off.
func (t *Types) typeAt(off dwarf.Offset) (dwarf.Type, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, base, err := t.unitOf(off)
	if err != nil {
		return nil, err
	}
	return d.Type(off - base)
}

// TypeError reports a type name that the debug info does not define.
type TypeError struct{ Name string }

func (e *TypeError) Error() string { return "no type named " + e.Name }

// Is makes errors.Is(err, ErrNotFound) hold.
func (e *TypeError) Is(target error) bool { return target == ErrNotFound }

// LookupType resolves a C type name: "struct task_struct", "union x",
// "enum y", a typedef, a base type ("unsigned long", "int"), or a bare
// struct/union/enum tag ("task_struct"), tried in that order. Complete
// definitions are preferred over declarations.
func (t *Types) LookupType(name string) (dwarf.Type, error) {
	ix, err := t.index()
	if err != nil {
		return nil, err
	}
	name = strings.Join(strings.Fields(name), " ")
	var a uint64
	var ok bool
	switch {
	case strings.HasPrefix(name, "struct "):
		a, _, ok = ix.first(tabStructs, strings.TrimPrefix(name, "struct "))
	case strings.HasPrefix(name, "union "):
		a, _, ok = ix.first(tabUnions, strings.TrimPrefix(name, "union "))
	case strings.HasPrefix(name, "enum "):
		a, _, ok = ix.first(tabEnums, strings.TrimPrefix(name, "enum "))
	default:
		for _, tab := range []int{tabTypedefs, tabBases, tabStructs, tabUnions, tabEnums} {
			if a, _, ok = ix.first(tab, name); ok {
				break
			}
		}
		if !ok {
			if bt := builtinType(name); bt != nil {
				return bt, nil
			}
		}
	}
	if !ok {
		return nil, &TypeError{Name: name}
	}
	off := dwarf.Offset(a)
	typ, err := t.typeAt(off)
	if err != nil {
		return nil, err
	}
	if st, ok := typ.(*dwarf.StructType); ok {
		t.markFlexible(st, off)
	}
	return typ, nil
}

// markFlexible restores the difference between a flexible array member
// ("unsigned long cpu_bitmap[];", a subrange without bounds) and a
// zero-length one ("atomic_long_t vm_numa_event[0];", DW_AT_count 0),
// which debug/dwarf erases (it gives both Count 0) and gdb prints.
func (t *Types) markFlexible(st *dwarf.StructType, off dwarf.Offset) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.flexDone == nil {
		t.flexDone = map[dwarf.Offset]bool{}
	}
	if t.flexDone[off] {
		return
	}
	t.flexDone[off] = true
	d, base, err := t.unitOf(off)
	if err != nil {
		return
	}
	flexible := map[string]bool{}
	r := d.Reader()
	r.Seek(off - base)
	if e, err := r.Next(); err != nil || e == nil || !e.Children {
		return
	}
	for {
		e, err := r.Next()
		if err != nil || e == nil || e.Tag == 0 {
			break
		}
		if e.Children {
			r.SkipChildren()
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		at, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
		if e.Tag != dwarf.TagMember || name == "" || !ok {
			continue
		}
		if unboundedArray(d, at) {
			flexible[name] = true
		}
	}
	for _, f := range st.Field {
		if a, ok := f.Type.(*dwarf.ArrayType); ok && flexible[f.Name] && a.Count == 0 {
			c := *a
			c.Count = -1
			f.Type = &c
		}
	}
}

// unboundedArray reports an array type DIE whose first subrange has
// neither DW_AT_count nor DW_AT_upper_bound.
func unboundedArray(d *dwarf.Data, off dwarf.Offset) bool {
	r := d.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil || e.Tag != dwarf.TagArrayType || !e.Children {
		return false
	}
	sub, err := r.Next()
	if err != nil || sub == nil || sub.Tag != dwarf.TagSubrangeType {
		return false
	}
	return sub.Val(dwarf.AttrCount) == nil && sub.Val(dwarf.AttrUpperBound) == nil
}

// Var is a global variable: its link-time address (for a per-CPU
// variable, the offset into the per-CPU area) and its type.
type Var struct {
	Name   string
	Addr   uint64
	Type   dwarf.Type
	PerCPU bool
}

// LookupVar finds a global variable with a fixed address (DW_OP_addr).
func (t *Types) LookupVar(name string) (Var, error) {
	ix, err := t.index()
	if err != nil {
		return Var{}, err
	}
	var cands []varEntry
	for _, r := range ix.all(tabVars, name) {
		cands = append(cands, varEntry{typ: dwarf.Offset(r[0]), addr: r[1]})
	}
	if t.lazy != nil && len(cands) > 0 && !t.lazy.isDone() {
		// A weak, incomplete definition may come before the real one
		// in a unit not scanned yet.
		complete := false
		for _, c := range cands {
			if ct, err := t.typeAt(c.typ); err == nil && !incompleteArray(ct) {
				complete = true
				break
			}
		}
		if !complete {
			if err := t.completeIndex(); err != nil {
				return Var{}, err
			}
			return t.LookupVar(name)
		}
	}
	if len(cands) == 0 {
		// Only declared in the debug info: the address comes from the
		// symbol table.
		typ, _, ok1 := ix.first(tabDeclVars, name)
		sym, ok2 := t.v.symtab.Lookup(name)
		if !ok1 || !ok2 {
			return Var{}, fmt.Errorf("no variable %s: %w", name, ErrNotFound)
		}
		cands = []varEntry{{typ: dwarf.Offset(typ), addr: sym.Addr}}
	}
	// Prefer a definition whose type is complete: a weak definition
	// ("const char linux_banner[] __weak") may precede the real one.
	var e varEntry
	var typ dwarf.Type
	for i, c := range cands {
		ct, err := t.typeAt(c.typ)
		if err != nil {
			return Var{}, fmt.Errorf("variable %s: %w", name, err)
		}
		if i == 0 || !incompleteArray(ct) {
			e, typ = c, ct
		}
		if !incompleteArray(ct) {
			break
		}
	}
	pc := e.addr >= t.percpu[0] && e.addr < t.percpu[1]
	return Var{Name: name, Addr: e.addr, Type: typ, PerCPU: pc}, nil
}

// Func is a function with code: its entry address and its type.
type Func struct {
	Name string
	Addr uint64
	Type *dwarf.FuncType
}

// LookupFunc finds a function by name.
func (t *Types) LookupFunc(name string) (Func, error) {
	ix, err := t.index()
	if err != nil {
		return Func{}, err
	}
	die, addr, ok := ix.first(tabFuncs, name)
	if !ok {
		return Func{}, fmt.Errorf("no function %s: %w", name, ErrNotFound)
	}
	ft, err := t.subprogramType(dwarf.Offset(die))
	if err != nil {
		return Func{}, fmt.Errorf("function %s: %w", name, err)
	}
	return Func{Name: name, Addr: addr, Type: ft}, nil
}

// subprogramType builds a function's type from its DW_TAG_subprogram
// (debug/dwarf decodes only DW_TAG_subroutine_type): the return type
// and the formal parameters' types.
func (t *Types) subprogramType(off dwarf.Offset) (*dwarf.FuncType, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, base, err := t.unitOf(off)
	if err != nil {
		return nil, err
	}
	r := d.Reader()
	r.Seek(off - base)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil, fmt.Errorf("reading DIE %#x: %v", off, err)
	}
	ft := &dwarf.FuncType{ReturnType: &dwarf.VoidType{}}
	if rt, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
		if ft.ReturnType, err = d.Type(rt); err != nil {
			return nil, err
		}
	}
	for e.Children {
		kid, err := r.Next()
		if err != nil {
			return nil, err
		}
		if kid == nil || kid.Tag == 0 {
			break
		}
		switch kid.Tag {
		case dwarf.TagFormalParameter:
			pt, ok := kid.Val(dwarf.AttrType).(dwarf.Offset)
			if !ok {
				return nil, fmt.Errorf("parameter without a type at %#x", kid.Offset)
			}
			typ, err := d.Type(pt)
			if err != nil {
				return nil, err
			}
			ft.ParamType = append(ft.ParamType, typ)
		case dwarf.TagUnspecifiedParameters:
			ft.ParamType = append(ft.ParamType, &dwarf.DotDotDotType{})
		}
		if kid.Children {
			r.SkipChildren()
		}
	}
	return ft, nil
}

// LookupEnumerator finds an enumeration constant and its enum type.
func (t *Types) LookupEnumerator(name string) (int64, *dwarf.EnumType, error) {
	ix, err := t.index()
	if err != nil {
		return 0, nil, err
	}
	enum, _, ok := ix.first(tabEnumVals, name)
	if !ok {
		return 0, nil, fmt.Errorf("no enumerator %s: %w", name, ErrNotFound)
	}
	typ, err := t.typeAt(dwarf.Offset(enum))
	if err != nil {
		return 0, nil, err
	}
	et, ok := typ.(*dwarf.EnumType)
	if !ok {
		return 0, nil, fmt.Errorf("enumerator %s: DWARF type is %T", name, typ)
	}
	for _, v := range et.Val {
		if v.Name == name {
			return v.Val, et, nil
		}
	}
	return 0, nil, fmt.Errorf("no enumerator %s: %w", name, ErrNotFound)
}

// Struct returns the definition (not a declaration) of struct name.
func (t *Types) Struct(name string) (*dwarf.StructType, error) {
	typ, err := t.LookupType("struct " + name)
	if err != nil {
		return nil, fmt.Errorf("struct %s: %w", name, ErrNotFound)
	}
	st, ok := typ.(*dwarf.StructType)
	if !ok {
		return nil, fmt.Errorf("struct %s: DWARF type is %T", name, typ)
	}
	return st, nil
}

// MemberOffset returns the byte offset of member (which may name a
// member of an anonymous struct or union nested in it) within struct s.
func (t *Types) MemberOffset(s, member string) (uint64, error) {
	off, _, err := t.MemberLayout(s, member)
	return off, err
}

// Member is a resolved struct or union member.
type Member struct {
	Name    string
	Type    dwarf.Type
	Offset  uint64 // bytes from the start of the outermost struct
	BitPos  int64  // bit position from the start of the outermost struct; meaningful with BitSize
	BitSize int64  // zero unless a bitfield
}

// FindMember looks member up in st, descending into anonymous structs
// and unions the way C does.
func FindMember(st *dwarf.StructType, member string) (Member, bool) {
	for _, f := range st.Field {
		if f.Name == member {
			bp := FieldBitPos(f)
			return Member{Name: f.Name, Type: f.Type, Offset: uint64(bp / 8), BitPos: bp, BitSize: f.BitSize}, true
		}
		if f.Name == "" {
			if inner, ok := Unqualify(f.Type).(*dwarf.StructType); ok {
				if m, ok := FindMember(inner, member); ok {
					m.Offset += uint64(f.ByteOffset)
					m.BitPos += f.ByteOffset * 8
					return m, true
				}
			}
		}
	}
	return Member{}, false
}

// FieldBitPos returns a member's bit position from the start of its
// struct, for both DWARF 5's DW_AT_data_bit_offset and DWARF 4's
// big-endian-relative DW_AT_bit_offset (x86_64 is little endian).
func FieldBitPos(f *dwarf.StructField) int64 {
	if f.BitSize == 0 {
		return f.ByteOffset * 8
	}
	if f.DataBitOffset != 0 || f.BitOffset == 0 && f.ByteOffset == 0 {
		return f.DataBitOffset
	}
	unit := f.ByteSize
	if unit == 0 {
		unit = f.Type.Size()
	}
	return f.ByteOffset*8 + unit*8 - f.BitOffset - f.BitSize
}

// Unqualify strips typedefs, const and volatile.
func Unqualify(t dwarf.Type) dwarf.Type {
	for {
		switch x := t.(type) {
		case *dwarf.TypedefType:
			t = x.Type
		case *dwarf.QualType:
			t = x.Type
		default:
			return t
		}
	}
}

// incompleteArray reports an array of unknown bound ("x[]").
func incompleteArray(t dwarf.Type) bool {
	a, ok := Unqualify(t).(*dwarf.ArrayType)
	return ok && a.Count < 0
}

// Complete returns the definition of a struct or union that t only
// declares (DW_AT_declaration in the unit that referenced it), found by
// name as gdb finds opaque types; other types come back unchanged.
func (t *Types) Complete(typ dwarf.Type) dwarf.Type {
	st, ok := Unqualify(typ).(*dwarf.StructType)
	if !ok || !st.Incomplete || st.StructName == "" {
		return typ
	}
	full, err := t.LookupType(st.Kind + " " + st.StructName)
	if err != nil {
		return typ
	}
	return full
}
