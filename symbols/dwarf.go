package symbols

import (
	"debug/dwarf"
	"fmt"
	"sync"
)

// Types answers questions about the kernel's C types from the vmlinux's
// DWARF, through Go's debug/dwarf (which, unlike delve's godwarf, honours
// DW_AT_data_bit_offset, the bitfield form GCC 12 emits for DWARF 5).
//
// This first version finds a struct by scanning the compilation units'
// top-level DIEs on demand and caches what it found; the name index
// built once over all units comes with the struct/whatis commands.
type Types struct {
	v    *Vmlinux
	once sync.Once
	data *dwarf.Data
	err  error

	mu      sync.Mutex
	structs map[string]*dwarf.StructType
}

// Types returns the vmlinux's type information.
func (v *Vmlinux) Types() *Types {
	v.typesOnce.Do(func() { v.types = &Types{v: v, structs: map[string]*dwarf.StructType{}} })
	return v.types
}

func (t *Types) dwarfData() (*dwarf.Data, error) {
	t.once.Do(func() {
		t.data, t.err = t.v.f.DWARF()
		if t.err != nil {
			t.err = fmt.Errorf("%s: no usable DWARF: %w", t.v.Path, t.err)
		}
	})
	return t.data, t.err
}

// Struct returns the definition (not a declaration) of struct name.
func (t *Types) Struct(name string) (*dwarf.StructType, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.structs[name]; ok {
		return s, nil
	}
	d, err := t.dwarfData()
	if err != nil {
		return nil, err
	}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, fmt.Errorf("struct %s: %w", name, ErrNotFound)
		}
		if e.Tag == dwarf.TagCompileUnit {
			continue // descend into the unit's top-level DIEs
		}
		if e.Tag == dwarf.TagStructType && e.Val(dwarf.AttrName) == name && e.Val(dwarf.AttrDeclaration) == nil {
			typ, err := d.Type(e.Offset)
			if err != nil {
				return nil, fmt.Errorf("struct %s: %w", name, err)
			}
			st, ok := typ.(*dwarf.StructType)
			if !ok {
				return nil, fmt.Errorf("struct %s: DWARF type is %T", name, typ)
			}
			t.structs[name] = st
			return st, nil
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

// MemberOffset returns the byte offset of member (which may name a
// member of an anonymous struct or union nested in it) within struct s.
func (t *Types) MemberOffset(s, member string) (uint64, error) {
	st, err := t.Struct(s)
	if err != nil {
		return 0, err
	}
	if off, ok := findMember(st, member); ok {
		return off, nil
	}
	return 0, fmt.Errorf("struct %s has no member %s: %w", s, member, ErrNotFound)
}

func findMember(st *dwarf.StructType, member string) (uint64, bool) {
	for _, f := range st.Field {
		if f.Name == member {
			return uint64(f.ByteOffset), true
		}
		if f.Name == "" {
			if inner, ok := f.Type.(*dwarf.StructType); ok {
				if off, ok := findMember(inner, member); ok {
					return uint64(f.ByteOffset) + off, true
				}
			}
		}
	}
	return 0, false
}
