package symbols

import (
	"debug/dwarf"
	"fmt"
	"strings"
)

// This file spells C types the way gdb's c_print_type does, since crash
// shows types through its embedded gdb: "struct list_head *next",
// "void (*func)(struct callback_head *)", "char (*)[16]".

// TypeName returns how gdb names t in a cast or a whatis: "struct
// task_struct *", "char [16]", "unsigned long".
func TypeName(t dwarf.Type) string { return Declare(t, "") }

// Declare returns the declaration of name with type t, as gdb prints a
// struct member or a variable: "char comm[16]", "struct list_head *next".
func Declare(t dwarf.Type, name string) string {
	base, decl := declarator(t, name, 0)
	switch {
	case decl == "":
		return base
	case strings.HasPrefix(decl, "*") && strings.HasSuffix(base, "*"):
		return base + decl
	default:
		return base + " " + decl
	}
}

// declarator splits a declaration into the base type and the declarator
// wrapped around inner. depth bounds typedef-free recursion on corrupt
// debug info.
func declarator(t dwarf.Type, inner string, depth int) (string, string) {
	if depth > 64 || t == nil {
		return "void", inner
	}
	switch x := t.(type) {
	case *dwarf.PtrType:
		switch Unqualified(x.Type).(type) {
		case *dwarf.ArrayType, *dwarf.FuncType:
			return declarator(x.Type, "(*"+inner+")", depth+1)
		}
		return declarator(x.Type, "*"+inner, depth+1)
	case *dwarf.ArrayType:
		n := ""
		if x.Count >= 0 { // -1: a flexible array member, "[]"
			n = fmt.Sprint(x.Count)
		}
		return declarator(x.Type, inner+"["+n+"]", depth+1)
	case *dwarf.FuncType:
		params := make([]string, 0, len(x.ParamType))
		for _, p := range x.ParamType {
			if _, ok := p.(*dwarf.DotDotDotType); ok {
				params = append(params, "...")
				continue
			}
			params = append(params, TypeName(p))
		}
		if len(params) == 0 {
			params = append(params, "void")
		}
		return declarator(x.ReturnType, inner+"("+strings.Join(params, ", ")+")", depth+1)
	case *dwarf.QualType:
		if at, ok := x.Type.(*dwarf.ArrayType); ok && hasQual(at.Type, x.Qual) {
			return declarator(at, inner, depth+1) // C qualifies the elements, once
		}
		if _, ok := x.Type.(*dwarf.PtrType); ok {
			return declarator(x.Type, " "+x.Qual+" "+inner, depth+1)
		}
		base, decl := declarator(x.Type, inner, depth+1)
		return x.Qual + " " + base, decl
	}
	return baseName(t), inner
}

func hasQual(t dwarf.Type, qual string) bool {
	for {
		q, ok := t.(*dwarf.QualType)
		if !ok {
			return false
		}
		if q.Qual == qual {
			return true
		}
		t = q.Type
	}
}

// Unqualified strips const and volatile but keeps typedefs.
func Unqualified(t dwarf.Type) dwarf.Type {
	for {
		q, ok := t.(*dwarf.QualType)
		if !ok {
			return t
		}
		t = q.Type
	}
}

// baseName names a type that has no declarator part.
func baseName(t dwarf.Type) string {
	switch x := t.(type) {
	case *dwarf.StructType:
		if x.StructName == "" {
			return x.Kind + " {...}"
		}
		return x.Kind + " " + x.StructName
	case *dwarf.EnumType:
		if x.EnumName == "" {
			return "enum {...}"
		}
		return "enum " + x.EnumName
	case *dwarf.TypedefType:
		return x.Name
	case *dwarf.VoidType:
		return "void"
	case *dwarf.UnsupportedType:
		return fmt.Sprintf("<unsupported %v>", x.Tag)
	}
	if c := t.Common(); c != nil && c.Name != "" {
		return gdbBaseName(c.Name)
	}
	return t.String()
}

// Ptype writes a struct, union or enum definition the way gdb's ptype
// does (crash's "struct NAME" and "whatis NAME"): members one a line,
// indented four spaces a level, anonymous members expanded in place.
func Ptype(t dwarf.Type) string {
	var b strings.Builder
	writeBody(&b, Unqualified(t), 0, true)
	return b.String()
}

// PtypeExpanded is gdb's ptype of any type: the struct, union or enum
// it is built on written out in full (named or not), then the rest of
// the declarator: "struct cpumask {\n    unsigned long bits[1];\n} [1]".
func PtypeExpanded(t dwarf.Type) string {
	base, decl := declarator(t, "", 0)
	// The base the declarator ends at, through pointers, arrays and
	// function return types; ptype shows a typedef there as its target.
	in := t
	for range 64 {
		switch x := in.(type) {
		case *dwarf.PtrType:
			in = x.Type
			continue
		case *dwarf.ArrayType:
			in = x.Type
			continue
		case *dwarf.QualType:
			in = x.Type
			continue
		case *dwarf.FuncType:
			in = x.ReturnType
			continue
		}
		break
	}
	name := baseName(in)
	full := name
	if td, ok := in.(*dwarf.TypedefType); ok {
		full = baseName(Unqualify(td))
		in = Unqualify(td)
	}
	switch in.(type) {
	case *dwarf.StructType, *dwarf.EnumType:
		full = Ptype(in)
	}
	if i := strings.LastIndex(base, name); i >= 0 && in != nil {
		base = base[:i] + full + base[i+len(name):]
	}
	if decl == "" {
		return base
	}
	return base + " " + decl
}

func writeBody(b *strings.Builder, t dwarf.Type, level int, top bool) {
	switch x := t.(type) {
	case *dwarf.StructType:
		if top || x.StructName == "" {
			if x.StructName != "" {
				fmt.Fprintf(b, "%s %s {", x.Kind, x.StructName)
			} else {
				fmt.Fprintf(b, "%s {", x.Kind)
			}
			if x.Incomplete {
				b.WriteString("\n" + indent(level+1) + "<incomplete type>\n" + indent(level) + "}")
				return
			}
			if len(x.Field) == 0 {
				b.WriteString("}")
				return
			}
			b.WriteString("\n")
			for _, f := range x.Field {
				b.WriteString(indent(level + 1))
				writeMember(b, f, level+1)
				b.WriteString(";\n")
			}
			b.WriteString(indent(level) + "}")
			return
		}
	case *dwarf.EnumType:
		if top || x.EnumName == "" {
			b.WriteString("enum ")
			if x.EnumName != "" {
				b.WriteString(x.EnumName + " ")
			}
			b.WriteString("{")
			next := int64(0)
			for i, v := range x.Val {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(v.Name)
				if v.Val != next {
					fmt.Fprintf(b, " = %d", v.Val)
				}
				next = v.Val + 1
			}
			b.WriteString("}")
			return
		}
	}
	b.WriteString(TypeName(t))
}

// writeMember writes one member declaration without the ';'. An
// anonymous struct, union or enum type is written out in full.
func writeMember(b *strings.Builder, f *dwarf.StructField, level int) {
	inner := innermost(f.Type)
	if needsBody(inner) {
		var body strings.Builder
		writeBody(&body, inner, level, false)
		_, decl := declarator(f.Type, f.Name, 0)
		b.WriteString(body.String())
		if decl != "" {
			b.WriteString(" " + decl)
		}
	} else {
		b.WriteString(Declare(f.Type, f.Name))
	}
	if f.BitSize != 0 {
		fmt.Fprintf(b, " : %d", f.BitSize)
	}
}

// innermost returns the type a declarator finally names (through
// pointers, arrays and qualifiers, not typedefs).
func innermost(t dwarf.Type) dwarf.Type {
	for range 64 {
		switch x := t.(type) {
		case *dwarf.PtrType:
			t = x.Type
		case *dwarf.ArrayType:
			t = x.Type
		case *dwarf.QualType:
			t = x.Type
		default:
			return t
		}
	}
	return t
}

func needsBody(t dwarf.Type) bool {
	switch x := t.(type) {
	case *dwarf.StructType:
		return x.StructName == ""
	case *dwarf.EnumType:
		return x.EnumName == ""
	}
	return false
}

func indent(level int) string { return strings.Repeat("    ", level) }

// builtinType makes the C base types a cast may name even when the
// kernel's debug info never mentions them.
func builtinType(name string) dwarf.Type {
	mk := func(size int64, signed bool) dwarf.Type {
		c := dwarf.CommonType{ByteSize: size, Name: name}
		if signed {
			return &dwarf.IntType{BasicType: dwarf.BasicType{CommonType: c}}
		}
		return &dwarf.UintType{BasicType: dwarf.BasicType{CommonType: c}}
	}
	switch name {
	case "void":
		return &dwarf.VoidType{}
	case "char", "signed char":
		return &dwarf.CharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: name}}}
	case "unsigned char":
		return &dwarf.UcharType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: name}}}
	case "short", "signed short":
		return mk(2, true)
	case "unsigned short":
		return mk(2, false)
	case "int", "signed int", "signed":
		return mk(4, true)
	case "unsigned int", "unsigned":
		return mk(4, false)
	case "long", "signed long", "long long":
		return mk(8, true)
	case "unsigned long", "unsigned long long":
		return mk(8, false)
	case "_Bool":
		return &dwarf.BoolType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 1, Name: name}}}
	}
	return nil
}
