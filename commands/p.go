package commands

import (
	"context"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
)

func pCommand() Command {
	return Command{
		Name:     "p",
		Summary:  "print the value of an expression",
		Synopsis: "p [-x|-d] [expression | symbol[:cpuspec]]",
		Help: `  This command prints the value of a C expression or kernel symbol, read
  from the dump and typed by the vmlinux's DWARF debug info, the way
  crash's embedded gdb prints it ("set print pretty on").  When the
  argument is a plain symbol, its name leads the output.  Expressions may
  use global variables, functions and enumerators, . and -> member access,
  [] indexing, unary * & - ~ !, casts such as (struct list_head *)addr,
  sizeof, and integer arithmetic and comparisons.

    -x  display integers in hexadecimal.
    -d  display integers in decimal (the default, unless "set radix 16").
symbol:cpuspec  for a per-CPU variable, its value on the CPUs in cpuspec:
        a CPU number, a list or range of them ("0,2-3"), "a" or "all" for
        every CPU.  Without a cpuspec, the variable's type and the address
        of each CPU's copy are shown.

  EXAMPLES
    Print a variable:

      kcrash> p jiffies
      jiffies = $1 = 4294892707

    Print a member of a structure:

      kcrash> p init_task.comm
      $2 = "swapper/0\000\000\000\000\000\000"

    Print a per-CPU variable on every CPU:

      kcrash> p current_task:a
      per_cpu(current_task, 0) = $3 = (struct task_struct *) 0xffffffff8c411600 <init_task>
      per_cpu(current_task, 1) = $4 = (struct task_struct *) 0xffff8f0641162800`,
		Run: runP,
	}
}

func runP(_ context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "dhxu")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	for i, o := range opts {
		switch o.c {
		case 'h':
			opts[i].c = 'x' // crash's synonym
		case 'u':
			return fmt.Errorf("option -u (user virtual addresses) is not supported yet")
		}
	}
	radix, err := radixOption(opts)
	if err != nil {
		return err
	}
	if len(operands) == 0 {
		return &UsageError{Msg: "an expression is required"}
	}
	ty, err := kernelTypes(env)
	if err != nil {
		return err
	}
	expr := operands[0]
	var cpuspec *string
	if i := strings.LastIndexByte(expr, ':'); i >= 0 {
		spec := expr[i+1:]
		cpuspec, expr = &spec, expr[:i]
	}
	tab, err := env.Kernel.Symbols()
	if err != nil {
		return err
	}
	// crash names the symbol whenever the first word is one, even when
	// more words follow ("p nr_cpu_ids * 2" prints "nr_cpu_ids = $1 = 4").
	leader := ""
	if _, ok := tab.Lookup(expr); ok {
		leader = expr
		if v, err := ty.LookupVar(expr); err == nil && v.PerCPU && len(operands) == 1 {
			return perCPU(env, ty, v, cpuspec, radix)
		}
	}
	if cpuspec != nil {
		if leader != "" {
			fmt.Fprintf(env.Out, "WARNING: %s is not percpu; cpuspec ignored.\n", leader)
		} else {
			expr += ":" + *cpuspec // not ours to split: part of the expression
		}
	}
	if len(operands) > 1 {
		expr = strings.Join(append([]string{expr}, operands[1:]...), " ")
	}
	out, err := printExpr(env, ty, expr, radix)
	if err != nil {
		// crash reports only that gdb failed; the reason follows.
		return fmt.Errorf("gdb request failed: p %s (%w)", expr, err)
	}
	return writeValue(env, leader, out)
}

// printExpr evaluates expr and formats its value as gdb's print does,
// without the "$N = " prefix.
func printExpr(env *Env, ty *symbols.Types, expr string, radix int) (string, error) {
	scope, err := env.Kernel.Scope()
	if err != nil {
		return "", err
	}
	e, err := analyze.ParseExpr(expr, func(n string) bool {
		t, err := ty.LookupType(n)
		if err != nil {
			return false
		}
		_, isTypedef := t.(*dwarf.TypedefType)
		return isTypedef || symbols.TypeName(t) == n
	})
	if err != nil {
		return "", err
	}
	v, err := analyze.Eval(scope, e)
	if err != nil {
		return "", err
	}
	return formatTop(env, scope, v, radix)
}

// formatTop formats a top-level value: a pointer is preceded by its
// type in parentheses, except a char pointer, whose string says enough
// (gdb's c_value_print).
func formatTop(env *Env, scope analyze.Scope, v analyze.Value, radix int) (string, error) {
	b, err := analyze.Load(scope, v)
	if err != nil {
		return "", err
	}
	addr := uint64(0)
	if v.LVal {
		addr = v.Addr
	}
	if _, fn := symbols.Unqualify(v.Type).(*dwarf.FuncType); fn {
		addr = v.Addr
	}
	p := valuePrinter(env, radix)
	val := p.Value(v.Type, b, addr, 0)
	if pt, ok := symbols.Unqualify(v.Type).(*dwarf.PtrType); ok {
		if !isCharPointer(v.Type, pt) {
			val = "(" + symbols.TypeName(v.Type) + ") " + val
		}
	}
	return val, nil
}

// isCharPointer: an unnamed pointer type whose target is named "char".
func isCharPointer(t dwarf.Type, pt *dwarf.PtrType) bool {
	if _, named := t.(*dwarf.TypedefType); named {
		return false
	}
	_, isChar := symbols.Unqualified(pt.Type).(*dwarf.CharType)
	return isChar && symbols.Unqualified(pt.Type).Common().Name == "char"
}

// writeValue prints "$N = value", with crash's "leader = " for a plain
// symbol; crash then moves a '{' opening the first line (an array or a
// function value) onto a line of its own.
func writeValue(env *Env, leader, val string) error {
	line := fmt.Sprintf("$%d = %s\n", nextValueNumber(env), val)
	if leader != "" {
		first, rest, _ := strings.Cut(line, "\n")
		if i := strings.IndexByte(first, '{'); i >= 0 && i < len(first)-1 {
			first = first[:i] + "\n {" + first[i+1:]
		}
		line = leader + " = " + first + "\n" + rest
	}
	_, err := io.WriteString(env.Out, line)
	return err
}

// perCPU shows a per-CPU variable as crash's display_per_cpu_info does.
func perCPU(env *Env, ty *symbols.Types, v symbols.Var, cpuspec *string, radix int) error {
	k := env.Kernel
	ncpus, err := possibleCPUs(env, ty)
	if err != nil {
		return err
	}
	if cpuspec == nil {
		var b strings.Builder
		fmt.Fprintf(&b, "PER-CPU DATA TYPE:\n  %s;\nPER-CPU ADDRESSES:\n", symbols.Declare(v.Type, v.Name))
		for c := range ncpus {
			a, err := k.PerCPUAddr(c, v.Addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "  [%d]: %x\n", c, a)
		}
		_, err := io.WriteString(env.Out, b.String())
		return err
	}
	cpus, err := parseCPUSpec(*cpuspec, ncpus, env)
	if err != nil {
		return err
	}
	scope, err := k.Scope()
	if err != nil {
		return err
	}
	for _, c := range cpus {
		a, err := k.PerCPUAddr(c, v.Addr)
		if err != nil {
			return err
		}
		val, err := formatTop(env, scope, analyze.Value{Type: v.Type, Addr: a, LVal: true}, radix)
		if err != nil {
			return err
		}
		if err := writeValue(env, fmt.Sprintf("per_cpu(%s, %d)", v.Name, c), val); err != nil {
			return err
		}
	}
	return nil
}

// possibleCPUs returns nr_cpu_ids, the number of CPU slots the kernel
// set up per-CPU areas for.
func possibleCPUs(env *Env, ty *symbols.Types) (int, error) {
	v, err := ty.LookupVar("nr_cpu_ids")
	if err != nil {
		return len(env.Kernel.Dump().CPUs()), nil
	}
	var b [4]byte
	if err := env.Kernel.ReadVirtual(b[:], analyze.VirtAddr(env.Kernel.Relocate(v.Addr)), "nr_cpu_ids"); err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(b[:])), nil
}

// parseCPUSpec reads crash's cpuspec: "" (the panic CPU), "a"/"all",
// or a list of numbers and ranges.
func parseCPUSpec(spec string, ncpus int, env *Env) ([]int, error) {
	var out []int
	switch spec {
	case "":
		c, _, err := analyze.PanicCPU(env.Kernel)
		if err != nil {
			return nil, err
		}
		return []int{c}, nil
	case "a", "all":
		for c := range ncpus {
			out = append(out, c)
		}
		return out, nil
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("invalid cpuspec: %s", spec)
		}
		for c := a; c <= b; c++ {
			if c >= ncpus {
				return nil, fmt.Errorf("invalid cpu number: %d", c)
			}
			seen[c] = true
		}
	}
	for c := range ncpus {
		if seen[c] {
			out = append(out, c)
		}
	}
	return out, nil
}
