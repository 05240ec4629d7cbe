package commands

import (
	"context"
	"debug/dwarf"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
)

func whatisCommand() Command {
	return Command{
		Name:     "whatis",
		Summary:  "search symbol table for data or type information",
		Synopsis: "whatis [-o] [struct | union | typedef | symbol | expression]",
		Help: `  This command displays the definition of structures, unions, typedefs or
  text/data symbols, read from the vmlinux's DWARF debug info.

    struct  a structure name; the output is the structure declaration and
            its size.
     union  a union name; the output is the union declaration and its size.
   typedef  a typedef name; the output is the underlying type and its size.
    symbol  a kernel symbol; the output is its declaration.
expression  a C expression; the output is its type.
        -o  show the offsets of a structure's or union's members.

  EXAMPLES
    Display the type of a data symbol:

      kcrash> whatis linux_banner
      const char linux_banner[155];

    Display the definition of a structure:

      kcrash> whatis list_head
      struct list_head {
          struct list_head *next;
          struct list_head *prev;
      }
      SIZE: 16

    Display a typedef:

      kcrash> whatis pid_t
      typedef int pid_t;
      SIZE: 4`,
		Run: runWhatis,
	}
}

func runWhatis(_ context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "o")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	offsets := len(opts) > 0
	if len(operands) == 0 {
		return &UsageError{Msg: "an argument is required"}
	}
	ty, err := kernelTypes(env)
	if err != nil {
		return err
	}
	arg := operands[0]
	if (arg == "struct" || arg == "union" || arg == "enum") && len(operands) > 1 {
		arg += " " + operands[1]
	}
	out, err := whatis(env, ty, arg)
	if err != nil {
		return err
	}
	if offsets {
		// -o: a struct or union with its member offsets, as "struct -o".
		if t, err := ty.LookupType(arg); err == nil {
			if st, ok := t.(*dwarf.StructType); ok {
				text, _ := withOffsets(st, symbols.Ptype(st), "", 0)
				out = fmt.Sprintf("%sSIZE: %d\n", text, st.Size())
			}
		}
	}
	_, err = io.WriteString(env.Out, out)
	return err
}

func whatis(env *Env, ty *symbols.Types, arg string) (string, error) {
	if t, err := ty.LookupType(arg); err == nil {
		return describeType(arg, t), nil
	} else if !errors.Is(err, symbols.ErrNotFound) {
		return "", err
	}
	if v, err := ty.LookupVar(arg); err == nil {
		return symbols.Declare(v.Type, arg) + ";\n", nil
	}
	if f, err := ty.LookupFunc(arg); err == nil {
		return symbols.Declare(f.Type, arg) + ";\n", nil
	}
	scope, err := env.Kernel.Scope()
	if err != nil {
		return "", err
	}
	e, err := analyze.ParseExpr(arg, func(n string) bool { _, err := ty.LookupType(n); return err == nil })
	if err != nil {
		return "", fmt.Errorf("cannot resolve: %s", arg)
	}
	v, err := analyze.Eval(scope, e)
	if err != nil {
		return "", fmt.Errorf("cannot resolve: %s", arg)
	}
	return symbols.TypeName(v.Type) + "\n", nil
}

// describeType prints a named type as crash's whatis does: a struct or
// union definition and its size, a typedef and its size, an enum with
// every enumerator's value, or a base type's size.
func describeType(arg string, t dwarf.Type) string {
	switch x := t.(type) {
	case *dwarf.StructType:
		return fmt.Sprintf("%s\nSIZE: %d\n", symbols.Ptype(x), x.Size())
	case *dwarf.EnumType:
		var b strings.Builder
		fmt.Fprintf(&b, "enum %s {\n", x.EnumName)
		for _, v := range x.Val {
			fmt.Fprintf(&b, "  %s = %d\n", v.Name, v.Val)
		}
		b.WriteString("};\n")
		return b.String()
	case *dwarf.TypedefType:
		return typedefText(x) + fmt.Sprintf("SIZE: %d\n", symbols.Unqualify(x).Size())
	}
	return fmt.Sprintf("SIZE: %d\n", symbols.Unqualify(t).Size())
}

// typedefText prints a typedef the way crash's whatis does: gdb's ptype
// of the type the typedef chain ends at (its struct, union or enum
// written out in full, named or not), with the typedef's name put after
// the closing brace, or after a one-line type. A one-line type that
// contains a brace (a pointer to a function returning an enum) stays
// without the name, as crash leaves it.
func typedefText(td *dwarf.TypedefType) string {
	under := td.Type
	for {
		t, ok := under.(*dwarf.TypedefType)
		if !ok {
			break
		}
		under = t.Type
	}
	text := symbols.PtypeExpanded(under)
	lines := strings.Split(text, "\n")
	var b strings.Builder
	b.WriteString("typedef ")
	first := lines[0]
	multiline := strings.Contains(first, "{")
	switch {
	case strings.Contains(first, "(*)()"):
		fmt.Fprintf(&b, "%s(*%s)();\n", first[:strings.Index(first, "(*)()")], td.Name)
	case strings.Contains(first, "()"):
		fmt.Fprintf(&b, "%s(%s)();\n", first[:strings.Index(first, "()")], td.Name)
	case multiline:
		b.WriteString(first + "\n")
	default:
		fmt.Fprintf(&b, "%s %s;\n", first, td.Name)
	}
	for _, l := range lines[1:] {
		if multiline && strings.HasPrefix(l, "}") {
			fmt.Fprintf(&b, "%s %s;\n", l, td.Name)
		} else {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
