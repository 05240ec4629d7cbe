package commands

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kcrash/kcrash/analyze"
)

func disCommand() Command {
	return Command{
		Name:     "dis",
		Summary:  "disassemble",
		Synopsis: "dis [-rfl] [address | symbol] [count]",
		Help: `  This command disassembles source code instructions starting (or ending) at
  a text address that may be expressed by value or symbol.

       -r  (reverse) displays all instructions from the start of the
           routine up to and including the designated address.
       -f  (forward) displays all instructions from the given address
           to the end of the routine.
       -l  displays source code line number data in addition to the
           disassembly output.
  address  starting hexadecimal text address.
   symbol  symbol of starting text address.
    count  the number of instructions to be disassembled (default is 1).
           If no count argument is entered, and the starting address is
           entered as a text symbol, then the whole routine will be
           disassembled.

  The output follows the crash utility's (gdb's AT&T syntax, each target
  named as <symbol+offset>).  The decoder is golang.org/x/arch's x86asm, not
  libopcodes: a few rarely used instructions are spelled differently.
  Options -u, -b and -s are not supported yet.

  EXAMPLES
    Disassemble the sysrq_handle_crash() function:

      kcrash> dis sysrq_handle_crash
      0xffffffff8bbce3a7 <sysrq_handle_crash>:	mov    $0xffffffff8c30cf84,%rdi
      0xffffffff8bbce3ae <sysrq_handle_crash+7>:	call   0xffffffff8bc38fe7 <panic>`,
		Run: runDis,
	}
}

func runDis(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "lrfuxdb:B:sS")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	lines, reverse, forward := false, false, false
	for _, o := range opts {
		switch o.c {
		case 'l':
			lines = true
		case 'r':
			reverse = true
		case 'f':
			forward = true
		case 'x', 'd':
			// output radix: crash's default already
		default:
			return fmt.Errorf("option -%c is not supported yet", o.c)
		}
	}
	if len(operands) == 0 || len(operands) > 2 {
		return &UsageError{Msg: "an address or a symbol is required"}
	}
	v, err := newSymView(env.Kernel)
	if err != nil {
		return err
	}
	var b strings.Builder
	defer func() { io.WriteString(env.Out, b.String()) }()

	start, wholeFunc := uint64(0), false
	arg := operands[0]
	if m := v.byName(arg); len(m) > 0 {
		var text []int
		for i, s := range m {
			if v.isSymbolText(s) {
				text = append(text, i)
			}
		}
		if len(text) > 1 {
			// crash's resolve_text_symbol refuses to guess.
			var l strings.Builder
			for _, i := range text {
				v.show(&l, m[i], 0, showLineNum)
			}
			return fmt.Errorf("%s: duplicate text symbols found:\n%s", arg, strings.TrimSuffix(l.String(), "\n"))
		}
		start = m[0].Addr
		wholeFunc = v.isSymbolText(m[0])
	} else if isHex(arg) {
		if start, err = parseHex(arg); err != nil {
			return err
		}
		s, off, ok := v.search(start)
		if !ok {
			return fmt.Errorf("%x: no associated kernel symbol found", start)
		}
		wholeFunc = off == 0 && v.isSymbolText(s)
	} else {
		fmt.Fprintf(&b, "symbol not found: %s\npossible alternatives:\n", arg)
		if v.query(&b, arg, "  ") == 0 {
			b.WriteString("  (none found)\n")
		}
		return nil
	}
	if reverse && forward {
		return fmt.Errorf("-r and -f are mutually exclusive")
	}
	count := int64(1)
	counted := len(operands) == 2
	if counted {
		if count, err = strconv.ParseInt(operands[1], 0, 64); err != nil || count <= 0 {
			return fmt.Errorf("invalid count argument: %s", operands[1])
		}
		wholeFunc, forward = false, false
	}
	userCount := count
	target := start
	end := uint64(0)
	if wholeFunc || reverse || forward {
		// -r and -f start at the function's beginning, as crash does.
		if reverse || forward {
			s, _, ok := v.search(target)
			if !ok {
				return fmt.Errorf("cannot resolve address: %x", target)
			}
			start = s.Addr
		}
		if end, err = funcEnd(env.Kernel, v, start); err != nil {
			return err
		}
		count = -1
	}
	d := &disassembler{k: env.Kernel, v: v}
	type insn struct {
		pc   uint64
		line string
		text string
	}
	var out []insn
	pc := start
	for n := int64(0); count < 0 || n < count; n++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if reverse {
			if pc > target {
				break
			}
		} else if end != 0 && pc >= end {
			break
		}
		text, size, err := d.decode(pc)
		if err != nil {
			return err
		}
		if !forward || pc >= target {
			out = append(out, insn{pc, v.line(pc), text})
		}
		pc += uint64(size)
		if reverse && pc > target {
			break
		}
	}
	if reverse && counted && int64(len(out)) > userCount {
		// the last count instructions up to the target
		out = out[int64(len(out))-userCount:]
	}
	lastLine := ""
	for _, in := range out {
		if lines && in.line != lastLine {
			b.WriteString(in.line + "\n")
			lastLine = in.line
		}
		fmt.Fprintf(&b, "0x%x <%s>:\t%s\n", in.pc, v.symStr(in.pc), in.text)
	}
	return nil
}

// funcEnd is where "dis FUNC" stops: the end of the function's DWARF
// range (gdb's block, as crash's get_text_function_range asks), else the
// next symbol's address.
func funcEnd(k *analyze.Kernel, v *symView, start uint64) (uint64, error) {
	if m := v.module(start); m != nil {
		end, _ := m.next(start)
		return end, nil
	}
	if vm := k.Vmlinux(); vm != nil {
		if lo, hi, ok, err := vm.FuncRange(start - v.kaslr); err == nil && ok {
			_ = lo
			return hi + v.kaslr, nil
		}
	}
	for _, s := range v.syms() {
		if s.Addr > start {
			return s.Addr, nil
		}
	}
	return 0, fmt.Errorf("unable to determine symbol after %x", start)
}

type disassembler struct {
	k *analyze.Kernel
	v *symView
}

// decode reads and formats one instruction at pc as gdb prints it.
func (d *disassembler) decode(pc uint64) (string, int, error) {
	buf := make([]byte, 16)
	n := len(buf)
	for ; n > 0; n-- {
		if err := d.k.ReadVirtual(buf[:n], analyze.VirtAddr(pc), "text"); err == nil {
			break
		} else if n == 1 {
			return "", 0, fmt.Errorf("cannot read text at %x: %w", pc, err)
		}
	}
	inst, err := x86asm.Decode(buf[:n], 64)
	if err != nil {
		return fmt.Sprintf("(bad)"), 1, nil
	}
	return gdbFormat(inst, pc, d.v), inst.Len, nil
}

// gdbFormat turns x86asm's GNU syntax into gdb's line: the mnemonic
// (with its prefixes) padded to six columns, branch targets followed by
// <symbol+offset>, and RIP-relative operands followed by a
// "# address <symbol>" comment.
func gdbFormat(inst x86asm.Inst, pc uint64, v *symView) string {
	text := x86asm.GNUSyntax(inst, pc, nil)
	mnem, ops := text, ""
	if inst.Args[0] != nil {
		if i := strings.LastIndexByte(text, ' '); i >= 0 {
			mnem, ops = text[:i], text[i+1:]
		}
	}
	mnem = gdbMnemonic(mnem)
	if op := inst.Opcode >> 24; inst.Op == x86asm.MOV && (op >= 0xb8 && op <= 0xbf && inst.DataSize == 64 || op >= 0xa0 && op <= 0xa3) {
		mnem = "movabs" // a 64-bit immediate or absolute address
	}
	// libopcodes prints a negative immediate as the operand-sized
	// unsigned value ($0xffffffff8c30cf84, $0xffffffff), x86asm signed.
	ops = negImm.ReplaceAllStringFunc(ops, func(m string) string {
		n, err := strconv.ParseUint(m[4:], 16, 64)
		if err != nil {
			return m
		}
		v := -n
		if size := immBytes(inst); size < 8 {
			v &= 1<<(8*size) - 1
		}
		return "$0x" + strconv.FormatUint(v, 16)
	})
	// ... drops a SIB byte's empty index (%riz) after a base register,
	ops = riz.ReplaceAllString(ops, "($1)")
	// ... always writes the scale of an index register,
	ops = noScale.ReplaceAllString(ops, "($1,$2,1)")
	// ... writes a zero RIP displacement,
	ops = ripNoDisp.ReplaceAllString(ops, "${1}0x0(%rip)")
	// ... and shows a disp32 signed, as the CPU extends it.
	ops = absDisp.ReplaceAllStringFunc(ops, func(m string) string {
		n, err := strconv.ParseUint(m[2:len(m)-1], 16, 64)
		if err != nil || n < 1<<31 || n >= 1<<32 {
			return m
		}
		return "-0x" + strconv.FormatUint(1<<32-n, 16) + "("
	})
	out := fmt.Sprintf("%-6s %s", mnem, ops)
	annotate := func(addr uint64) string {
		if s := v.symStr(addr); s != "" && v.inRange(addr) {
			return " <" + s + ">"
		}
		return ""
	}
	for _, a := range inst.Args {
		switch a := a.(type) {
		case x86asm.Rel:
			target := pc + uint64(inst.Len) + uint64(int64(a))
			return out + annotate(target)
		case x86asm.Mem:
			if a.Base == x86asm.RIP {
				target := pc + uint64(inst.Len) + uint64(a.Disp)
				return out + fmt.Sprintf("        # 0x%x", target) + annotate(target)
			}
		}
	}
	return out
}

var (
	negImm    = regexp.MustCompile(`\$-0x[0-9a-f]+`)
	noScale   = regexp.MustCompile(`\((%[a-z0-9]*),(%[a-z0-9]+)\)`)
	riz       = regexp.MustCompile(`\((%[a-z0-9]+),%[re]iz(,1)?\)`)
	absDisp   = regexp.MustCompile(`\b0x[0-9a-f]{8}\(`)
	ripNoDisp = regexp.MustCompile(`(^|[,*:])\(%rip\)`)
)

// immBytes is the size of the operand an immediate applies to: that of
// the register or memory operand beside it.
func immBytes(inst x86asm.Inst) int {
	for _, a := range inst.Args {
		switch a := a.(type) {
		case x86asm.Reg:
			switch {
			case a >= x86asm.AL && a <= x86asm.R15B:
				return 1
			case a >= x86asm.AX && a <= x86asm.R15W:
				return 2
			case a >= x86asm.EAX && a <= x86asm.R15L:
				return 4
			case a >= x86asm.RAX && a <= x86asm.R15:
				return 8
			}
		case x86asm.Mem:
			if inst.MemBytes > 0 {
				return inst.MemBytes
			}
		}
	}
	if inst.DataSize > 0 {
		return inst.DataSize / 8
	}
	return 8
}

// gdbMnemonic adjusts the spellings where x86asm and libopcodes (gdb 10,
// binutils 2.35+ which drops the q of near branches) differ.
func gdbMnemonic(m string) string {
	prefix := ""
	if i := strings.LastIndexByte(m, ' '); i >= 0 {
		prefix, m = m[:i+1], m[i+1:]
	}
	switch m {
	case "retq", "callq", "jmpq", "pushfq", "popfq", "pushq", "popq":
		m = m[:len(m)-1]
	case "movsxd":
		m = "movslq"
	case "cdqe":
		m = "cltq"
	case "cdq":
		m = "cltd"
	case "cqo":
		m = "cqto"
	case "cwde":
		m = "cwtl"
	case "cbw":
		m = "cbtw"
	case "cwd":
		m = "cwtd"
	}
	return prefix + m
}
