package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Printer formats typed values the way gdb does with "set print pretty
// on", which is what crash's "p" and "struct NAME ADDR" show. Crash runs
// its gdb with unlimited "print elements" and "print repeats", so
// arrays and strings are printed whole and never as "<repeats N
// times>".
//
// Read fetches memory for the strings char pointers point to; Symbolize
// names an address gdb-style ("init_task+168") or returns "" (see
// AddrNamer). Either may be nil.
type Printer struct {
	Read      ReadFunc
	Symbolize func(addr uint64) string
	// Complete replaces a struct declaration (an opaque type in the unit
	// that referenced it) with its definition, as gdb looks opaque
	// types up by name. May be nil.
	Complete func(dwarf.Type) dwarf.Type
	// Hex prints integers, characters, booleans and bitfields in
	// hexadecimal, as gdb does with "output-radix 16" (crash's -x and
	// "set radix 16"); strings, enums and pointers are unchanged.
	Hex bool
}

// Value formats the value of type t held in b (at least t.Size() bytes),
// read from addr (0 if it is not in memory), at nesting level recurse
// (0 for a top-level value).
func (p *Printer) Value(t dwarf.Type, b []byte, addr uint64, recurse int) string {
	var sb strings.Builder
	p.value(&sb, t, b, addr, recurse)
	return sb.String()
}

func (p *Printer) value(sb *strings.Builder, t dwarf.Type, b []byte, addr uint64, recurse int) {
	if recurse > 64 {
		sb.WriteString("<nested too deep>")
		return
	}
	u := Unqualify(t)
	if st, ok := u.(*dwarf.StructType); ok && st.Incomplete && p.Complete != nil {
		u = Unqualify(p.Complete(st))
	}
	if sz := u.Size(); sz > 0 && int64(len(b)) < sz {
		if _, ok := u.(*dwarf.ArrayType); !ok {
			sb.WriteString("<value truncated>")
			return
		}
	}
	switch u.(type) {
	case *dwarf.BoolType, *dwarf.CharType, *dwarf.UcharType, *dwarf.IntType, *dwarf.UintType:
		if p.Hex {
			fmt.Fprintf(sb, "%#x", le(b, int(u.Size())))
			return
		}
	}
	switch x := u.(type) {
	case *dwarf.StructType:
		p.structValue(sb, x, b, addr, recurse)
	case *dwarf.ArrayType:
		p.arrayValue(sb, x, b, addr, recurse)
	case *dwarf.PtrType:
		p.pointer(sb, x, le(b, 8))
	case *dwarf.FuncType:
		sb.WriteString("{" + TypeName(x) + "} ")
		p.address(sb, addr)
	case *dwarf.EnumType:
		writeEnum(sb, x, b)
	case *dwarf.BoolType:
		v := le(b, int(x.ByteSize))
		switch v {
		case 0:
			sb.WriteString("false")
		case 1:
			sb.WriteString("true")
		default:
			sb.WriteString(strconv.FormatUint(v, 10))
		}
	case *dwarf.CharType, *dwarf.UcharType:
		v := le(b, 1)
		if _, signed := x.(*dwarf.CharType); signed {
			fmt.Fprintf(sb, "%d", int8(v))
		} else {
			fmt.Fprintf(sb, "%d", v)
		}
		sb.WriteString(" '" + escapeChars([]byte{byte(v)}, '\'') + "'")
	case *dwarf.IntType:
		sb.WriteString(strconv.FormatInt(signExtend(le(b, int(x.ByteSize)), int(x.ByteSize)*8), 10))
	case *dwarf.UintType, *dwarf.AddrType:
		sb.WriteString(strconv.FormatUint(le(b, int(u.Size())), 10))
	case *dwarf.FloatType:
		switch x.ByteSize {
		case 4:
			sb.WriteString(strconv.FormatFloat(float64(math.Float32frombits(uint32(le(b, 4)))), 'g', 9, 32))
		case 8:
			sb.WriteString(strconv.FormatFloat(math.Float64frombits(le(b, 8)), 'g', 17, 64))
		default:
			fmt.Fprintf(sb, "<%d-byte float>", x.ByteSize)
		}
	case *dwarf.VoidType:
		sb.WriteString("void")
	default:
		fmt.Fprintf(sb, "<unsupported type %s>", TypeName(t))
	}
}

// structValue follows gdb's cp_print_value_fields in pretty mode.
func (p *Printer) structValue(sb *strings.Builder, st *dwarf.StructType, b []byte, addr uint64, recurse int) {
	if len(st.Field) == 0 {
		sb.WriteString("{<No data fields>}")
		return
	}
	sb.WriteString("{")
	for i, f := range st.Field {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("\n" + strings.Repeat(" ", 2+2*recurse))
		if f.Name != "" {
			sb.WriteString(f.Name + " = ")
		}
		if f.BitSize != 0 {
			p.bitfield(sb, f, b)
			continue
		}
		off := f.ByteOffset
		if off > int64(len(b)) {
			sb.WriteString("<value truncated>")
			continue
		}
		p.value(sb, f.Type, b[off:], offsetAddr(addr, off), recurse+1)
	}
	sb.WriteString("\n" + strings.Repeat(" ", 2*recurse) + "}")
}

func (p *Printer) bitfield(sb *strings.Builder, f *dwarf.StructField, b []byte) {
	pos := FieldBitPos(f)
	var v uint64
	for i := range f.BitSize {
		bit := pos + i
		if bit/8 < int64(len(b)) && b[bit/8]&(1<<(bit%8)) != 0 {
			v |= 1 << i
		}
	}
	u := Unqualify(f.Type)
	var tmp [8]byte
	switch x := u.(type) {
	case *dwarf.IntType:
		if p.Hex {
			fmt.Fprintf(sb, "%#x", v)
			return
		}
		sb.WriteString(strconv.FormatInt(signExtend(v, int(f.BitSize)), 10))
		return
	case *dwarf.CharType:
		binary.LittleEndian.PutUint64(tmp[:], uint64(signExtend(v, int(f.BitSize))))
	case *dwarf.EnumType:
		if enumSigned(x) {
			binary.LittleEndian.PutUint64(tmp[:], uint64(signExtend(v, int(f.BitSize))))
		} else {
			binary.LittleEndian.PutUint64(tmp[:], v)
		}
	default:
		binary.LittleEndian.PutUint64(tmp[:], v)
	}
	p.value(sb, u, tmp[:], 0, 0)
}

func (p *Printer) arrayValue(sb *strings.Builder, at *dwarf.ArrayType, b []byte, addr uint64, recurse int) {
	elem := at.Type
	es := Unqualify(elem).Size()
	n := at.Count
	if n < 0 {
		n = 0
	}
	if es <= 0 {
		sb.WriteString("{}")
		return
	}
	if int64(len(b)) < n*es {
		n = int64(len(b)) / es
	}
	if at.Count <= 0 {
		// A flexible array member: gdb shows where it starts (and, for
		// characters, the string there).
		p.address(sb, addr)
		if isTextual(elem) && addr != 0 {
			sb.WriteString(" " + p.cString(addr))
		}
		return
	}
	if isTextual(elem) {
		sb.WriteString(gdbString(b[:n], true, false))
		return
	}
	sb.WriteString("{")
	for i := range min(n, printMax) {
		if i > 0 {
			sb.WriteString(", ")
		}
		p.value(sb, elem, b[i*es:], offsetAddr(addr, i*es), recurse+1)
	}
	if n > printMax {
		sb.WriteString("...")
	}
	sb.WriteString("}")
}

// isTextual reports gdb's "textual element type": char, signed char and
// unsigned char (and typedefs of them, such as u8).
func isTextual(t dwarf.Type) bool {
	switch Unqualify(t).(type) {
	case *dwarf.CharType, *dwarf.UcharType:
		return true
	}
	return false
}

func offsetAddr(addr uint64, off int64) uint64 {
	if addr == 0 {
		return 0
	}
	return addr + uint64(off)
}

// address writes an address and, when it has one, its symbol.
func (p *Printer) address(sb *strings.Builder, addr uint64) {
	fmt.Fprintf(sb, "%#x", addr)
	if addr != 0 && p.Symbolize != nil {
		if s := p.Symbolize(addr); s != "" {
			sb.WriteString(" <" + s + ">")
		}
	}
}

func (p *Printer) pointer(sb *strings.Builder, pt *dwarf.PtrType, addr uint64) {
	p.address(sb, addr)
	if addr != 0 && pt.Type != nil && isTextual(pt.Type) {
		sb.WriteString(" " + p.cString(addr))
	}
}

// printMax is gdb's "print elements" limit as crash sets it: 256, not
// gdb's default 200 (derived from crash 8.0.6's output: strings are cut
// after the run of equal bytes that reaches 256 characters).
const printMax = 256

// cString reads the NUL-terminated string at addr and quotes it as
// gdb's val_print_string does: at most printMax characters, then "..."
// when the string goes on; a fault is reported in place.
func (p *Printer) cString(addr uint64) string {
	fault := func(a uint64) string { return fmt.Sprintf("<error: Cannot access memory at address %#x>", a) }
	if p.Read == nil {
		return fault(addr)
	}
	var out []byte
	var c [1]byte
	for a := addr; ; a++ {
		if err := p.Read(c[:], a); err != nil {
			if len(out) == 0 {
				return fault(a)
			}
			return gdbString(out, false, false) + fault(a)
		}
		if c[0] == 0 {
			return gdbString(out, false, false)
		}
		if len(out) == printMax {
			return gdbString(out, false, true)
		}
		out = append(out, c[0])
	}
}

// gdbString quotes bytes as gdb's generic_printstr does with unlimited
// "print repeats": an array's one trailing NUL is dropped; runs of equal
// bytes are taken whole until printMax characters have been taken, and
// "..." marks a string cut short.
func gdbString(b []byte, dropNul, ellipsis bool) string {
	if dropNul && !ellipsis && len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		if ellipsis {
			return `""...`
		}
		return `""`
	}
	n := 0
	for n < len(b) && n < printMax {
		run := 1
		for n+run < len(b) && b[n+run] == b[n] {
			run++
		}
		n += run
	}
	if n < len(b) {
		ellipsis = true
	}
	s := `"` + escapeChars(b[:n], '"') + `"`
	if ellipsis {
		s += "..."
	}
	return s
}

// escapeChars follows gdb's print_wchar for an ASCII host charset.
// After an octal escape a following digit is escaped too, so that
// "\0001" cannot be misread.
func escapeChars(b []byte, quote byte) string {
	var sb strings.Builder
	needEscape := false
	for _, c := range b {
		esc := needEscape
		needEscape = false
		switch c {
		case '\a':
			sb.WriteString(`\a`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		case '\v':
			sb.WriteString(`\v`)
		default:
			if c >= 0x20 && c < 0x7f && !(esc && c >= '0' && c <= '9') {
				if c == quote || c == '\\' {
					sb.WriteByte('\\')
				}
				sb.WriteByte(c)
			} else {
				fmt.Fprintf(&sb, `\%03o`, c)
				needEscape = true
			}
		}
	}
	return sb.String()
}

// enumSigned: gdb treats an enum as unsigned when no enumerator is
// negative.
func enumSigned(et *dwarf.EnumType) bool {
	for _, v := range et.Val {
		if v.Val < 0 {
			return true
		}
	}
	return false
}

// isFlagEnum follows gdb's rule: every enumerator non-negative with at
// most one bit set.
func isFlagEnum(et *dwarf.EnumType) bool {
	for _, v := range et.Val {
		if v.Val < 0 || bits.OnesCount64(uint64(v.Val)) > 1 {
			return false
		}
	}
	return true
}

// writeEnum follows gdb's generic_val_print_enum_1.
func writeEnum(sb *strings.Builder, et *dwarf.EnumType, b []byte) {
	size := int(et.ByteSize)
	if size <= 0 || size > 8 {
		size = 4
	}
	raw := le(b, size)
	var val int64
	if enumSigned(et) {
		val = signExtend(raw, size*8)
	} else {
		val = int64(raw)
	}
	for _, v := range et.Val {
		if v.Val == val {
			sb.WriteString(v.Name)
			return
		}
	}
	if !isFlagEnum(et) {
		sb.WriteString(strconv.FormatInt(val, 10))
		return
	}
	u := uint64(val)
	first := true
	for _, v := range et.Val {
		if v.Val != 0 && u&uint64(v.Val) != 0 {
			if first {
				sb.WriteString("(")
				first = false
			} else {
				sb.WriteString(" | ")
			}
			u &^= uint64(v.Val)
			sb.WriteString(v.Name)
		}
	}
	switch {
	case u != 0 && first:
		fmt.Fprintf(sb, "(unknown: %#x)", u)
	case u != 0:
		fmt.Fprintf(sb, " | unknown: %#x)", u)
	case first:
		sb.WriteString("0")
	default:
		sb.WriteString(")")
	}
}

func le(b []byte, n int) uint64 {
	var v uint64
	for i := min(n, len(b), 8) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func signExtend(v uint64, nbits int) int64 {
	if nbits <= 0 || nbits >= 64 {
		return int64(v)
	}
	shift := 64 - nbits
	return int64(v<<shift) >> shift
}
