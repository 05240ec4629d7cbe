package symbols

import (
	"debug/dwarf"
	"fmt"
)

// Most questions about a structure are where a member is and how big
// it is. debug/dwarf answers them by decoding the structure and every
// type it reaches, which for task_struct is much of the kernel and the
// better part of a warm session's time. MemberLayout and StructSize read
// the few DIEs the answer needs instead, and fall back to the full
// decode (the reference, FindMember) for anything unusual: bitfields,
// location expressions, arrays without bounds, declarations.

// StructSize returns sizeof(struct s).
func (t *Types) StructSize(s string) (uint64, error) {
	if off, ok := t.structDIE(s); ok {
		t.mu.Lock()
		size, ok := t.sizeAt(off)
		t.mu.Unlock()
		if ok {
			return size, nil
		}
	}
	st, err := t.Struct(s)
	if err != nil {
		return 0, err
	}
	return uint64(st.Size()), nil
}

// MemberLayout returns the byte offset and size of member m of struct
// s, looking through anonymous structs and unions as FindMember does.
func (t *Types) MemberLayout(s, m string) (off, size uint64, err error) {
	if die, ok := t.structDIE(s); ok {
		t.mu.Lock()
		off, size, found, ok := t.memberAt(die, m, 0)
		t.mu.Unlock()
		if ok && found {
			return off, size, nil
		}
	}
	st, err := t.Struct(s)
	if err != nil {
		return 0, 0, err
	}
	f, ok := FindMember(st, m)
	if !ok {
		return 0, 0, fmt.Errorf("struct %s has no member %s: %w", s, m, ErrNotFound)
	}
	return f.Offset, uint64(f.Type.Size()), nil
}

func (t *Types) structDIE(s string) (dwarf.Offset, bool) {
	ix, err := t.index()
	if err != nil {
		return 0, false
	}
	a, _, ok := ix.first(tabStructs, s)
	return dwarf.Offset(a), ok
}

// entryAt reads the DIE at off. t.mu must be held.
func (t *Types) entryAt(off dwarf.Offset) (*dwarf.Data, *dwarf.Reader, *dwarf.Entry, dwarf.Offset, bool) {
	d, base, err := t.unitOf(off)
	if err != nil {
		return nil, nil, nil, 0, false
	}
	r := d.Reader()
	r.Seek(off - base)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil, nil, nil, 0, false
	}
	return d, r, e, base, true
}

// memberAt finds member m in the struct or union at die. ok is false
// when the fast path cannot answer (the caller decodes the type).
// t.mu must be held.
func (t *Types) memberAt(die dwarf.Offset, m string, depth int) (off, size uint64, found, ok bool) {
	if depth > 8 {
		return 0, 0, false, false
	}
	_, r, e, base, ok := t.entryAt(die)
	if !ok || (e.Tag != dwarf.TagStructType && e.Tag != dwarf.TagUnionType) || !e.Children {
		return 0, 0, false, false
	}
	if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); decl {
		return 0, 0, false, false
	}
	for {
		kid, err := r.Next()
		if err != nil {
			return 0, 0, false, false
		}
		if kid == nil || kid.Tag == 0 {
			return 0, 0, false, true // not there
		}
		if kid.Children {
			r.SkipChildren()
		}
		if kid.Tag != dwarf.TagMember {
			continue
		}
		name, _ := kid.Val(dwarf.AttrName).(string)
		if name != m && name != "" {
			continue
		}
		if kid.Val(dwarf.AttrBitSize) != nil || kid.Val(dwarf.AttrDataBitOffset) != nil {
			if name == m {
				return 0, 0, false, false // a bitfield: the decoder's business
			}
			continue
		}
		var loc uint64
		switch v := kid.Val(dwarf.AttrDataMemberLoc).(type) {
		case nil: // a union member
		case int64:
			loc = uint64(v)
		default:
			return 0, 0, false, false // a location expression
		}
		typ, isRef := kid.Val(dwarf.AttrType).(dwarf.Offset)
		if !isRef {
			return 0, 0, false, false
		}
		typ += base
		if name == m {
			size, ok := t.sizeAt(typ)
			return loc, size, ok, ok
		}
		// An anonymous struct or union: look inside, as FindMember does.
		inner, innerSize, found, ok := t.memberAt(typ, m, depth+1)
		if !ok {
			return 0, 0, false, false
		}
		if found {
			return loc + inner, innerSize, true, true
		}
	}
}

// sizeAt returns the byte size of the type at off, following typedefs
// and qualifiers and multiplying out arrays. t.mu must be held.
func (t *Types) sizeAt(off dwarf.Offset) (uint64, bool) {
	for range 16 {
		_, r, e, base, ok := t.entryAt(off)
		if !ok {
			return 0, false
		}
		if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); decl {
			return 0, false
		}
		switch e.Tag {
		case dwarf.TagArrayType:
			elem, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
			if !ok || !e.Children {
				return 0, false
			}
			n := uint64(1)
			for {
				sub, err := r.Next()
				if err != nil {
					return 0, false
				}
				if sub == nil || sub.Tag == 0 {
					break
				}
				if sub.Tag != dwarf.TagSubrangeType {
					return 0, false
				}
				switch c, ub := sub.Val(dwarf.AttrCount), sub.Val(dwarf.AttrUpperBound); {
				case c != nil:
					v, ok := c.(int64)
					if !ok || v < 0 {
						return 0, false
					}
					n *= uint64(v)
				case ub != nil:
					v, ok := ub.(int64)
					if !ok || v < -1 {
						return 0, false
					}
					n *= uint64(v + 1)
				default:
					return 0, false // no bounds: let the decoder decide
				}
			}
			es, ok := t.sizeAt(elem + base)
			return n * es, ok
		case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType, dwarf.TagAtomicType:
			if sz, ok := e.Val(dwarf.AttrByteSize).(int64); ok {
				return uint64(sz), true
			}
			next, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
			if !ok {
				return 0, false // void
			}
			off = next + base
		default:
			sz, ok := e.Val(dwarf.AttrByteSize).(int64)
			if !ok || sz < 0 {
				return 0, false
			}
			return uint64(sz), true
		}
	}
	return 0, false
}
