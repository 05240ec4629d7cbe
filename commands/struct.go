package commands

import (
	"context"
	"debug/dwarf"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
)

func structCommand() Command { return aggregateCommand("struct") }

func unionCommand() Command { return aggregateCommand("union") }

// aggregateCommand builds crash's "struct" or "union" command; the two
// differ only in the keyword.
// aggregateExamples are real sessions on the corpus dump.
var aggregateExamples = map[string]string{
	"struct": `    Display the list_head structure definition with offsets:

      kcrash> struct list_head -o
      struct list_head {
         [0] struct list_head *next;
         [8] struct list_head *prev;
      }
      SIZE: 16

    Display one member of init_task:

      kcrash> struct task_struct.comm init_task
        comm = "swapper/0\000\000\000\000\000\000",`,
	"union": `    Display a union definition with offsets:

      kcrash> union sigval -o
      union sigval {
        [0] int sival_int;
        [0] void *sival_ptr;
      }
      SIZE: 8`,
}

func aggregateCommand(kind string) Command {
	return Command{
		Name:     kind,
		Summary:  kind + " contents",
		Synopsis: kind + " " + kind + "_name[.member[,member]] [-o] [-x|-d] [address | symbol][:cpuspec] [count]",
		Help: strings.ReplaceAll(`  This command displays either a KIND definition, or a formatted display
  of the contents of a KIND at a specified address.  When no address is
  specified, the KIND definition is shown along with the KIND size.
  A KIND member may be appended to the KIND name in order to limit the
  scope of the data displayed to that particular member.  The types and
  values are read from the vmlinux's DWARF debug info, and shown the way
  crash's embedded gdb shows them.

    KIND_name  name of a C-code KIND used by the kernel.
      .member  name of a KIND member; with an address only that member's
               value is shown (several, separated by commas), without one
               its offset.
           -o  show member offsets when displaying KIND definitions; with
               an address, each member's address instead.
           -x  display integers in hexadecimal.
           -d  display integers in decimal (the default, unless "set radix
               16").
      address  hexadecimal address of a KIND; if the address points to an
               embedded list_head structure contained within the target
               data structure, then the "-l" option must be used (not yet
               supported).
       symbol  symbolic reference to the address of a KIND.
     :cpuspec  for a per-CPU symbol, the CPUs whose copies to show: a CPU
               number, a list or range of them, "a" or "all".
        count  count of KINDs to dump from an array of KINDs; if used, this
               must be the last argument entered.

  EXAMPLES
`, "KIND", kind) + aggregateExamples[kind],
		Run: func(ctx context.Context, env *Env, args []string) error {
			return runAggregate(ctx, env, kind, args)
		},
	}
}

func runAggregate(_ context.Context, env *Env, kind string, args []string) error {
	opts, operands, err := getopt(args, "ol:rfuxdpc:")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	offsets := false
	for _, o := range opts {
		switch o.c {
		case 'o':
			offsets = true
		case 'x', 'd':
		default:
			return fmt.Errorf("option -%c is not supported yet", o.c)
		}
	}
	radix, err := radixOption(opts)
	if err != nil {
		return err
	}
	if len(operands) == 0 {
		return &UsageError{Msg: "a " + kind + " name is required"}
	}
	ty, err := kernelTypes(env)
	if err != nil {
		return err
	}
	name, members, _ := strings.Cut(operands[0], ".")
	st, err := lookupAggregate(ty, kind, name)
	if err != nil {
		return err
	}
	var memberList []string
	if members != "" {
		memberList = strings.Split(members, ",")
	}
	if len(operands) == 1 {
		return showDefinition(env.Out, st, memberList, offsets, 0)
	}
	if sym, spec, ok := strings.Cut(operands[1], ":"); ok {
		return aggregatePerCPU(env, ty, st, kind, memberList, sym, spec, radix)
	}
	addr, err := parseAddressOrSymbol(env, operands[1])
	if err != nil {
		return err
	}
	if offsets {
		// crash shows each member's address instead of its offset.
		return showDefinition(env.Out, st, memberList, true, addr)
	}
	count := int64(1)
	if len(operands) > 2 {
		if count, err = strconv.ParseInt(operands[2], 0, 64); err != nil || count <= 0 {
			return fmt.Errorf("invalid count: %s", operands[2])
		}
	}
	return writeAggregate(env, st, kind, memberList, addr, count, radix)
}

// aggregatePerCPU shows each CPU's copy of a per-CPU variable, each
// preceded by "[cpu]: address", as crash does for "symbol:cpuspec".
func aggregatePerCPU(env *Env, ty *symbols.Types, st *dwarf.StructType, kind string, members []string, sym, spec string, radix int) error {
	v, err := ty.LookupVar(sym)
	if err != nil || !v.PerCPU {
		return fmt.Errorf("invalid per-cpu symbol: %s", sym)
	}
	ncpus, err := possibleCPUs(env, ty)
	if err != nil {
		return err
	}
	cpus, err := parseCPUSpec(spec, ncpus, env)
	if err != nil {
		return err
	}
	for _, c := range cpus {
		a, err := env.Kernel.PerCPUAddr(c, v.Addr)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(env.Out, "[%d]: %x\n", c, a); err != nil {
			return err
		}
		if err := writeAggregate(env, st, kind, members, a, 1, radix); err != nil {
			return err
		}
	}
	return nil
}

// writeAggregate prints count structs (or the listed members of each)
// starting at addr.
func writeAggregate(env *Env, st *dwarf.StructType, kind string, memberList []string, addr uint64, count int64, radix int) error {
	p := valuePrinter(env, radix)
	var out strings.Builder
	for i := range count {
		a := addr + uint64(i*st.Size())
		b := make([]byte, st.Size())
		if err := env.Kernel.ReadVirtual(b, analyze.VirtAddr(a), kind+" "+st.StructName); err != nil {
			return err
		}
		if len(memberList) == 0 {
			fmt.Fprintf(&out, "%s %s %s\n", kind, st.StructName, p.Value(st, b, a, 0))
			continue
		}
		for _, m := range memberList {
			s, err := memberValue(p, st, b, a, m)
			if err != nil {
				return err
			}
			out.WriteString(s)
		}
	}
	_, err := io.WriteString(env.Out, out.String())
	return err
}

// showDefinition prints the ptype-style definition, with offsets for -o
// or a member (member addresses when base is an address).
func showDefinition(w io.Writer, st *dwarf.StructType, members []string, offsets bool, base uint64) error {
	if len(members) > 1 {
		return fmt.Errorf("multiple member format not supported in this syntax")
	}
	text := symbols.Ptype(st)
	switch {
	case len(members) == 1:
		out, found := withOffsets(st, text, members[0], base)
		if !found {
			return fmt.Errorf("invalid data structure member reference: %s", members[0])
		}
		_, err := io.WriteString(w, out)
		return err
	case offsets:
		out, _ := withOffsets(st, text, "", base)
		_, err := fmt.Fprintf(w, "%sSIZE: %d\n", out, st.Size())
		return err
	}
	_, err := fmt.Fprintf(w, "%s\nSIZE: %d\n", text, st.Size())
	return err
}

// memberValue prints one member as its line (or block) appears in the
// whole struct's display: "  comm = \"swapper/0...\",".
func memberValue(p *symbols.Printer, st *dwarf.StructType, b []byte, addr uint64, name string) (string, error) {
	m, ok := symbols.FindMember(st, name)
	if !ok {
		return "", fmt.Errorf("invalid data structure member reference: %s", name)
	}
	depth, last := memberDepth(st, name)
	indent := strings.Repeat("  ", depth)
	var val string
	if m.BitSize != 0 {
		f := &dwarf.StructField{Name: m.Name, Type: m.Type, BitSize: m.BitSize, DataBitOffset: m.BitPos}
		tmp := &dwarf.StructType{Kind: "struct", Field: []*dwarf.StructField{f}}
		tmp.ByteSize = st.Size()
		v := p.Value(tmp, b, addr, 0)
		val = strings.TrimSuffix(strings.TrimPrefix(v, "{\n  "+m.Name+" = "), "\n}")
	} else {
		end := m.Offset + uint64(max(symbols.Unqualify(m.Type).Size(), 0))
		if end > uint64(len(b)) {
			return "", fmt.Errorf("member %s lies outside the %s", name, st.StructName)
		}
		val = p.Value(m.Type, b[m.Offset:end], addr+m.Offset, depth)
	}
	comma := ","
	if last {
		comma = ""
	}
	return indent + m.Name + " = " + val + comma + "\n", nil
}

// memberDepth returns how deep member sits in st's display (1 for a
// direct member, one more for each anonymous struct or union around
// it) and whether it is the last member of its innermost container,
// which gdb prints without a trailing comma.
func memberDepth(st *dwarf.StructType, member string) (int, bool) {
	for i, f := range st.Field {
		if f.Name == member {
			return 1, i == len(st.Field)-1
		}
		if f.Name == "" {
			if inner, ok := symbols.Unqualify(f.Type).(*dwarf.StructType); ok {
				if _, ok := symbols.FindMember(inner, member); ok {
					d, last := memberDepth(inner, member)
					return d + 1, last
				}
			}
		}
	}
	return 1, false
}
