package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file is a fast reader for the name index: it walks .debug_info
// with the abbreviation tables and decodes only the attributes the index
// needs (name, declaration, type, specification, location, low_pc,
// sibling), skipping every other value by its form. debug/dwarf's
// Reader decodes and allocates every attribute of every DIE, which on a
// kernel is most of the index's time. Anything this reader does not
// understand makes buildIndex fall back to debug/dwarf (DWARF 2-5,
// section 7.5).

// errScan makes the index fall back to debug/dwarf's reader.
var errScan = errors.New("DIE scanner: unsupported DWARF")

// DWARF constants used here (DWARF 5, section 7).
const (
	atSibling       = 0x01
	atLocation      = 0x02
	atName          = 0x03
	atLowPC         = 0x11
	atDeclaration   = 0x3c
	atSpecification = 0x47
	atType          = 0x49
	atStrOffsetBase = 0x72
	atAddrBase      = 0x73

	tagEnumerationType = 0x04
	tagStructureType   = 0x13
	tagTypedef         = 0x16
	tagUnionType       = 0x17
	tagBaseType        = 0x24
	tagEnumerator      = 0x28
	tagSubprogram      = 0x2e
	tagVariable        = 0x34
	tagCompileUnit     = 0x11
	tagPartialUnit     = 0x3c
)

type abbrevAttr struct {
	attr, form uint64
	implicit   int64
}

type abbrev struct {
	tag      uint64
	children bool
	attrs    []abbrevAttr
}

// dieSections are the raw sections the scanner reads.
type dieSections struct {
	info, abbrev, str, lineStr, strOffsets, addr []byte
	all                                          map[string][]byte // every mapped .debug_* section
	releaseFn                                    func(sec []byte, lo, hi int)
	readHeader                                   func(b []byte, off int) (int, error) // pread of .debug_info
}

type dieBuf struct {
	b   []byte
	off int
	err error
}

func (d *dieBuf) fail() {
	if d.err == nil {
		d.err = errScan
	}
	d.off = len(d.b)
}

func (d *dieBuf) u8() uint64 {
	if d.off+1 > len(d.b) {
		d.fail()
		return 0
	}
	d.off++
	return uint64(d.b[d.off-1])
}

func (d *dieBuf) fixed(n int) uint64 {
	if n < 0 || d.off+n > len(d.b) {
		d.fail()
		return 0
	}
	switch n {
	case 4:
		d.off += 4
		return uint64(binary.LittleEndian.Uint32(d.b[d.off-4:]))
	case 8:
		d.off += 8
		return binary.LittleEndian.Uint64(d.b[d.off-8:])
	case 2:
		d.off += 2
		return uint64(binary.LittleEndian.Uint16(d.b[d.off-2:]))
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(d.b[d.off+i])
	}
	d.off += n
	return v
}

func (d *dieBuf) skip(n uint64) {
	if n > uint64(len(d.b)-d.off) {
		d.fail()
		return
	}
	d.off += int(n)
}

func (d *dieBuf) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if d.off >= len(d.b) || shift > 63 {
			d.fail()
			return 0
		}
		c := d.b[d.off]
		d.off++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (d *dieBuf) sleb() int64 {
	var v int64
	var shift uint
	for {
		if d.off >= len(d.b) || shift > 63 {
			d.fail()
			return 0
		}
		c := d.b[d.off]
		d.off++
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

func (d *dieBuf) cstring() []byte {
	start := d.off
	for d.off < len(d.b) {
		if d.b[d.off] == 0 {
			d.off++
			return d.b[start : d.off-1]
		}
		d.off++
	}
	d.fail()
	return nil
}

// abbrevTable is indexed by abbreviation code; compilers number them
// from 1 without gaps, and a code past maxAbbrevCode sends the index
// to debug/dwarf's reader.
type abbrevTable []*abbrev

const maxAbbrevCode = 1 << 16

func parseAbbrevs(b []byte, off uint64) (abbrevTable, error) {
	if off >= uint64(len(b)) {
		return nil, errScan
	}
	d := &dieBuf{b: b, off: int(off)}
	// A unit's table has hundreds of entries: collect every attribute
	// in one slice and every entry in another, then point the entries
	// into them, rather than allocate per entry.
	type span struct {
		code, tag  uint64
		children   bool
		start, end int
	}
	// Count first, so that both slices are allocated once at their
	// size: growing them by appending was most of the parse's time.
	nSpans, nAttrs := 0, 0
	for c := (&dieBuf{b: b, off: int(off)}); ; nSpans++ {
		if code := c.uleb(); code == 0 || c.err != nil {
			break
		}
		c.uleb()
		c.u8()
		for c.err == nil {
			at, form := c.uleb(), c.uleb()
			if at == 0 && form == 0 {
				break
			}
			if form == 0x21 { // DW_FORM_implicit_const
				c.sleb()
			}
			nAttrs++
		}
	}
	spans := make([]span, 0, nSpans)
	attrs := make([]abbrevAttr, 0, nAttrs)
	maxCode := uint64(0)
	for {
		code := d.uleb()
		if code == 0 || d.err != nil {
			break
		}
		if code > maxAbbrevCode {
			return nil, errScan
		}
		sp := span{code: code, tag: d.uleb(), children: d.u8() != 0, start: len(attrs)}
		for {
			at, form := d.uleb(), d.uleb()
			if d.err != nil {
				return nil, d.err
			}
			if at == 0 && form == 0 {
				break
			}
			aa := abbrevAttr{attr: at, form: form}
			if form == 0x21 { // DW_FORM_implicit_const
				aa.implicit = d.sleb()
			}
			attrs = append(attrs, aa)
		}
		sp.end = len(attrs)
		spans = append(spans, sp)
		maxCode = max(maxCode, code)
	}
	if d.err != nil {
		return nil, d.err
	}
	ents := make([]abbrev, len(spans))
	tab := make(abbrevTable, maxCode+1)
	for i, sp := range spans {
		ents[i] = abbrev{tag: sp.tag, children: sp.children, attrs: attrs[sp.start:sp.end:sp.end]}
		tab[sp.code] = &ents[i] // a repeated code: the last wins, as in debug/dwarf
	}
	return tab, nil
}

// unitHeader is what the scanner needs from a unit header.
type unitHeader struct {
	start, end int // the unit's bytes in .debug_info
	dieOff     int // first DIE
	offSize    int // 4 or 8 (64-bit DWARF)
	addrSize   int
	version    int
	abbrevOff  uint64
	abbrev     abbrevTable // parsed by whoever scans the unit
}

// scanUnits splits .debug_info into units, reading only their headers:
// the abbreviation tables are parsed by the workers that scan them.
func scanUnits(s *dieSections) ([]unitHeader, error) {
	var units []unitHeader
	for off := 0; off < len(s.info); {
		u, err := s.parseUnitHeader(off)
		if err != nil {
			return nil, err
		}
		units = append(units, u)
		off = u.end
	}
	return units, nil
}

// unitHeaderMax bounds a unit header: 64-bit DWARF 5 type unit.
const unitHeaderMax = 40

func (s *dieSections) parseUnitHeader(off int) (unitHeader, error) {
	// The header is read with pread when possible: touching one byte of
	// each unit through the mapping would map the pages around it too
	// (fault-around), a hundred MB of resident memory for nothing.
	var buf [unitHeaderMax]byte
	hdr := s.info[off:min(off+unitHeaderMax, len(s.info))]
	if s.readHeader != nil {
		if n, err := s.readHeader(buf[:len(hdr)], off); err == nil && n == len(hdr) {
			hdr = buf[:n]
		}
	}
	d := &dieBuf{b: hdr}
	u := unitHeader{start: off, offSize: 4}
	length := d.fixed(4)
	if length == 0xffffffff {
		length, u.offSize = d.fixed(8), 8
	}
	if d.err != nil || length > uint64(len(s.info)-off-d.off) {
		return u, errScan
	}
	u.end = off + d.off + int(length)
	u.version = int(d.fixed(2))
	switch {
	case u.version >= 2 && u.version <= 4:
		u.abbrevOff = d.fixed(u.offSize)
		u.addrSize = int(d.u8())
	case u.version == 5:
		unitType := d.u8()
		u.addrSize = int(d.u8())
		u.abbrevOff = d.fixed(u.offSize)
		switch unitType {
		case 1, 3: // DW_UT_compile, DW_UT_partial
		case 2, 6: // type units: signature and type offset
			d.skip(8 + uint64(u.offSize))
		case 4, 5: // skeleton, split: dwo id
			d.skip(8)
		default:
			return u, errScan
		}
	default:
		return u, errScan
	}
	if d.err != nil || off+d.off > u.end {
		return u, errScan
	}
	u.dieOff = off + d.off
	return u, nil
}

// release drops the mapped pages of .debug_info[lo:hi) from the
// process, once the index has scanned them: the file stays in the page
// cache, but a first run's resident size no longer grows by the whole
// 170 MB section. Best effort; the next read faults pages back in.
func (s *dieSections) release(lo, hi int) {
	if s.releaseFn != nil {
		s.releaseFn(s.info, lo, hi)
	}
}

// unitHeaderAt parses the header and abbreviations of the unit at off.
func (s *dieSections) unitHeaderAt(off int) (unitHeader, error) {
	u, err := s.parseUnitHeader(off)
	if err != nil {
		return u, err
	}
	u.abbrev, err = parseAbbrevs(s.abbrev, u.abbrevOff)
	return u, err
}

// dieAttrs holds the decoded attributes of one DIE.
type dieAttrs struct {
	name             []byte
	decl             bool
	typ, spec, sib   uint64 // absolute .debug_info offsets; 0 if absent
	loc              []byte
	lowPC            uint64
	hasLowPC         bool
	strBase, addrBas uint64
	hasAddrx         bool // lowPC is an index into .debug_addr
	strx             int64
	strOff           uint64 // the name's .debug_str offset + 1; 0 if elsewhere
}

// readDIE decodes one DIE's attributes at d.off; it returns the abbrev
// (nil for the null entry that ends a sibling list).
func (s *dieSections) readDIE(d *dieBuf, u *unitHeader, a *dieAttrs, strBase uint64) *abbrev {
	code := d.uleb()
	if code == 0 || d.err != nil {
		return nil
	}
	var ab *abbrev
	if code < uint64(len(u.abbrev)) {
		ab = u.abbrev[code]
	}
	if ab == nil {
		d.fail()
		return nil
	}
	*a = dieAttrs{strx: -1}
	for _, at := range ab.attrs {
		form := at.form
		if form == 0x16 { // DW_FORM_indirect
			form = d.uleb()
		}
		var val uint64
		var block []byte
		isRef, isStr, isStrx, isAddrx := false, false, false, false
		switch form {
		case 0x01: // addr
			val = d.fixed(u.addrSize)
		case 0x03:
			n := d.fixed(2)
			block = d.bytes(n)
		case 0x04:
			n := d.fixed(4)
			block = d.bytes(n)
		case 0x05:
			val = d.fixed(2)
		case 0x06:
			val = d.fixed(4)
		case 0x07:
			val = d.fixed(8)
		case 0x08: // string
			a.setName(at.attr, d.cstring())
			continue
		case 0x09:
			n := d.uleb()
			block = d.bytes(n)
		case 0x0a:
			n := d.u8()
			block = d.bytes(n)
		case 0x0b, 0x0c: // data1, flag
			val = d.u8()
		case 0x0d:
			val = uint64(d.sleb())
		case 0x0e: // strp
			val, isStr = d.fixed(u.offSize), true
		case 0x0f:
			val = d.uleb()
		case 0x10: // ref_addr
			val, isRef = d.fixed(u.offSize), true
			if at.attr == atType || at.attr == atSpecification || at.attr == atSibling {
				a.setRef(at.attr, val)
			}
			continue
		case 0x11:
			val, isRef = d.fixed(1), true
		case 0x12:
			val, isRef = d.fixed(2), true
		case 0x13:
			val, isRef = d.fixed(4), true
		case 0x14:
			val, isRef = d.fixed(8), true
		case 0x15:
			val, isRef = d.uleb(), true
		case 0x17: // sec_offset
			val = d.fixed(u.offSize)
		case 0x18: // exprloc
			n := d.uleb()
			block = d.bytes(n)
		case 0x19: // flag_present
			val = 1
		case 0x1a:
			val, isStrx = d.uleb(), true
		case 0x1b:
			val, isAddrx = d.uleb(), true
		case 0x1c:
			d.skip(4)
			continue
		case 0x1d, 0x1f: // strp_sup, line_strp
			off := d.fixed(u.offSize)
			if form == 0x1f && at.attr == atName {
				a.name = cstrAt(s.lineStr, off)
			}
			continue
		case 0x1e:
			d.skip(16)
			continue
		case 0x20:
			d.skip(8)
			continue
		case 0x21:
			val = uint64(at.implicit)
		case 0x22, 0x23: // loclistx, rnglistx
			d.uleb()
			continue
		case 0x24:
			d.skip(8)
			continue
		case 0x25, 0x26, 0x27, 0x28:
			val, isStrx = d.fixed(int(form-0x24)), true
		case 0x29, 0x2a, 0x2b, 0x2c:
			val, isAddrx = d.fixed(int(form-0x28)), true
		default:
			d.fail()
			return nil
		}
		if d.err != nil {
			return nil
		}
		switch at.attr {
		case atName:
			switch {
			case isStr:
				a.name, a.strOff = cstrAt(s.str, val), val+1
			case isStrx:
				a.name, a.strOff = s.strxName(val, strBase, u.offSize)
			}
		case atDeclaration:
			a.decl = val != 0
		case atType, atSpecification, atSibling:
			if isRef {
				a.setRef(at.attr, uint64(u.start)+val)
			}
		case atLocation:
			a.loc = block
		case atLowPC:
			a.lowPC, a.hasLowPC, a.hasAddrx = val, true, isAddrx
		case atStrOffsetBase:
			a.strBase = val
		case atAddrBase:
			a.addrBas = val
		}
	}
	return ab
}

func (a *dieAttrs) setName(attr uint64, b []byte) {
	if attr == atName {
		a.name = b
	}
}

func (a *dieAttrs) setRef(attr, off uint64) {
	switch attr {
	case atType:
		a.typ = off
	case atSpecification:
		a.spec = off
	case atSibling:
		a.sib = off
	}
}

func (d *dieBuf) bytes(n uint64) []byte {
	if n > uint64(len(d.b)-d.off) {
		d.fail()
		return nil
	}
	b := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return b
}

func cstrAt(sec []byte, off uint64) []byte {
	if off >= uint64(len(sec)) {
		return nil
	}
	b := sec[off:]
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return nil
}

func (s *dieSections) strxName(idx, base uint64, offSize int) ([]byte, uint64) {
	p := base + idx*uint64(offSize)
	if p+uint64(offSize) > uint64(len(s.strOffsets)) {
		return nil, 0
	}
	var off uint64
	if offSize == 8 {
		off = binary.LittleEndian.Uint64(s.strOffsets[p:])
	} else {
		off = uint64(binary.LittleEndian.Uint32(s.strOffsets[p:]))
	}
	return cstrAt(s.str, off), off + 1
}

// scanUnitFast indexes one unit's top-level DIEs like scanUnit.
func (ix *typeIndex) scanUnitFast(s *dieSections, u *unitHeader) error {
	d := &dieBuf{b: s.info[:u.end], off: u.dieOff}
	var cu dieAttrs
	ab := s.readDIE(d, u, &cu, 0)
	if ab == nil {
		return d.err
	}
	if ab.tag != tagCompileUnit && ab.tag != tagPartialUnit {
		return nil // type units and the like carry nothing the index needs
	}
	if !ab.children {
		return nil
	}
	strBase, addrBase := cu.strBase, cu.addrBas
	decls := map[uint64]dieAttrs{}
	var a dieAttrs
	for {
		off := d.off
		ab := s.readDIE(d, u, &a, strBase)
		if d.err != nil {
			return d.err
		}
		if ab == nil {
			return nil // end of the unit's children
		}
		// Most named DIEs repeat a name already indexed (every unit
		// has its own u32, list_head, ...): look up by the bytes and
		// make a string only for a new name.
		name := a.name
		switch ab.tag {
		case tagStructureType, tagUnionType:
			if len(name) > 0 && !a.decl {
				if ab.tag == tagStructureType {
					if ix.isNew(seenStruct, a.strOff) {
						addFirstBytes(ix.structs, name, dwOff(off))
					}
				} else if ix.isNew(seenUnion, a.strOff) {
					addFirstBytes(ix.unions, name, dwOff(off))
				}
			}
		case tagEnumerationType:
			if len(name) > 0 && !a.decl && ix.isNew(seenEnum, a.strOff) {
				addFirstBytes(ix.enums, name, dwOff(off))
			}
			if ab.children {
				if err := ix.scanEnumeratorsFast(s, d, u, off, strBase); err != nil {
					return err
				}
				continue
			}
		case tagTypedef:
			if len(name) > 0 && ix.isNew(seenTypedef, a.strOff) {
				addFirstBytes(ix.typedefs, name, dwOff(off))
			}
		case tagBaseType:
			if len(name) > 0 && ix.isNew(seenBase, a.strOff) {
				addFirst(ix.bases, gdbBaseName(string(name)), dwOff(off))
			}
		case tagVariable:
			if a.decl {
				decls[uint64(off)] = dieAttrs{name: a.name, typ: a.typ}
				if len(name) > 0 && a.typ != 0 && ix.isNew(seenDeclVar, a.strOff) {
					addFirstBytes(ix.declVars, name, dwOff(int(a.typ)))
				}
				break
			}
			typ := a.typ
			if a.spec != 0 {
				dc := decls[a.spec]
				if len(name) == 0 {
					name = dc.name
				}
				if typ == 0 {
					typ = dc.typ
				}
			}
			if len(name) > 0 && len(a.loc) == 9 && a.loc[0] == 0x03 {
				ix.vars[string(name)] = append(ix.vars[string(name)], varEntry{typ: dwOff(int(typ)), addr: le64(a.loc[1:]), die: dwOff(off)})
			}
		case tagSubprogram:
			if a.hasLowPC && len(name) > 0 && !a.decl && ix.isNew(seenFunc, a.strOff) {
				pc := a.lowPC
				if a.hasAddrx {
					p := addrBase + pc*uint64(u.addrSize)
					if p+8 > uint64(len(s.addr)) {
						return errScan
					}
					pc = binary.LittleEndian.Uint64(s.addr[p:])
				}
				if _, ok := ix.funcs[string(name)]; !ok {
					ix.funcs[string(name)] = funcEntry{die: dwOff(off), addr: pc}
				}
			}
		}
		if ab.children {
			if err := skipChildren(s, d, u, &a, strBase); err != nil {
				return err
			}
		}
	}
}

// skipChildren moves past a DIE's children, by DW_AT_sibling when the
// DIE has one.
func skipChildren(s *dieSections, d *dieBuf, u *unitHeader, a *dieAttrs, strBase uint64) error {
	if a.sib > uint64(d.off) && a.sib <= uint64(u.end) {
		d.off = int(a.sib)
		return nil
	}
	var kid dieAttrs
	for depth := 1; depth > 0; {
		ab := s.readDIE(d, u, &kid, strBase)
		if d.err != nil {
			return d.err
		}
		if ab == nil {
			depth--
			continue
		}
		if ab.children {
			if kid.sib > uint64(d.off) && kid.sib <= uint64(u.end) {
				d.off = int(kid.sib)
			} else {
				depth++
			}
		}
	}
	return nil
}

func (ix *typeIndex) scanEnumeratorsFast(s *dieSections, d *dieBuf, u *unitHeader, enum int, strBase uint64) error {
	var a dieAttrs
	for {
		ab := s.readDIE(d, u, &a, strBase)
		if d.err != nil {
			return d.err
		}
		if ab == nil {
			return nil
		}
		if ab.tag == tagEnumerator && len(a.name) > 0 && ix.isNew(seenEnumVal, a.strOff) {
			if _, seen := ix.enumVals[string(a.name)]; !seen {
				ix.enumVals[string(a.name)] = enumEntry{enum: dwOff(enum)}
			}
		}
		if ab.children {
			if err := skipChildren(s, d, u, &a, strBase); err != nil {
				return err
			}
		}
	}
}

func (u unitHeader) String() string {
	return fmt.Sprintf("unit at %#x (DWARF %d)", u.start, u.version)
}
