package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/symbols"
)

func symCommand() Command {
	return Command{
		Name:     "sym",
		Summary:  "translate a symbol to its virtual address, or vice-versa",
		Synopsis: "sym [-l] | [-M] | [-m module] | [-p|-n] | [-q string] | [symbol | vaddr]",
		Help: `  This command translates a symbol to its kernel virtual address, or a static
  kernel virtual address to its symbol -- or to a symbol-plus-offset value,
  if appropriate.  Additionally, the symbol type is shown in parentheses,
  and if the symbol is a known text value, the file and line number are shown.

              -l  dumps all symbols and their values.
              -M  dumps the current set of module symbols.
       -m module  dumps the current set of symbols for a specified module.
              -p  display the target symbol and the previous symbol.
              -n  display the target symbol and the next symbol.
              -s  instead of the file and line number, show the section
                  the symbol is in (as crash 8.0.6 does, against the
                  link-time section addresses).
       -q string  searches for all symbols containing "string".
          symbol  a kernel text or data symbol.
           vaddr  a kernel virtual address.

  Line numbers come from the vmlinux's DWARF line tables; without a vmlinux
  the symbols are the dump's own kallsyms and no line numbers are shown.
  Module symbols come from each loaded module's own symbol table (and need
  the vmlinux, for struct module's layout).

  EXAMPLES
    Display the symbol type and file/line of panic:

      kcrash> sym panic
      ffffffff8bc38fe7 (T) panic /usr/src/linux/kernel/panic.c: 278

    Display the symbol and offset of an address:

      kcrash> sym ffffffff8bc38ff0
      ffffffff8bc38ff0 (T) panic+9 /usr/src/linux/kernel/panic.c: 278

    Search for symbols containing "handle_crash":

      kcrash> sym -q handle_crash
      ffffffff8bbce3a7 (t) sysrq_handle_crash`,
		Run: runSym,
	}
}

const (
	showLineNum = 1 << iota
	showSection
	noModule // sym -l lists module symbols without " [module]"
)

func runSym(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "lLQ:q:npsMm:")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	v, err := newSymView(env.Kernel)
	if err != nil {
		return err
	}
	var b strings.Builder
	defer func() { io.WriteString(env.Out, b.String()) }()
	next, prev, others := false, false, false
	flags := showLineNum
	for _, o := range opts {
		switch o.c {
		case 'n':
			next = true
		case 'p':
			prev = true
		case 'Q':
			n, last := 0, ""
			for _, s := range v.syms() {
				if strings.Contains(s.Name, o.val) {
					n, last = n+1, s.Name
				}
			}
			fmt.Fprintf(&b, "%d found ", n)
			if last != "" {
				fmt.Fprintf(&b, "(%s)", last)
			}
			b.WriteString("\n")
			others = true
		case 'q':
			if v.query(&b, o.val, "") == 0 {
				b.WriteString("(none found)\n")
			}
			others = true
		case 'l', 'L':
			for _, s := range v.syms() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				v.show(&b, s, 0, 0)
			}
			v.dumpModules(&b, "")
			others = true
		case 's':
			flags = flags&^showLineNum | showSection
		case 'M':
			v.dumpModules(&b, "")
			others = true
		case 'm':
			v.dumpModules(&b, o.val)
			others = true
		}
	}
	if len(operands) == 0 {
		if !others {
			return &UsageError{Msg: "a symbol or an address is required"}
		}
		return nil
	}
	var failed error
	for _, arg := range operands {
		matches := v.byName(arg)
		if len(matches) == 0 && isHex(arg) {
			value, err := parseHex(arg)
			if err != nil || !v.inRange(value) {
				failed = fmt.Errorf("invalid address: %s", arg)
				continue
			}
			s, off, ok := v.search(value)
			if !ok {
				fmt.Fprintf(&b, "symbol not found: %s\n", arg)
				continue
			}
			v.showNeighbours(&b, s, off, flags, prev, next)
			continue
		}
		if len(matches) == 0 {
			fmt.Fprintf(&b, "symbol not found: %s\npossible alternatives:\n", arg)
			if v.query(&b, arg, "  ") == 0 {
				b.WriteString("  (none found)\n")
			}
			continue
		}
		for _, s := range matches {
			v.showNeighbours(&b, s, 0, flags, prev, next)
		}
	}
	return failed
}

func isHex(s string) bool {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" {
		return false
	}
	for _, c := range h {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

func (v *symView) showNeighbours(b *strings.Builder, s symbols.Symbol, off uint64, flags int, prev, next bool) {
	if !prev && !next {
		v.show(b, s, off, flags)
		return
	}
	i := v.index(s)
	if prev && i > 0 {
		v.show(b, v.syms()[i-1], 0, flags)
	}
	v.show(b, s, off, flags)
	if next && i >= 0 && i+1 < len(v.syms()) {
		v.show(b, v.syms()[i+1], 0, flags)
	}
}

func (v *symView) index(s symbols.Symbol) int {
	for i, t := range v.syms() {
		if t == s {
			return i
		}
	}
	return -1
}

// show is crash's show_symbol: "value (type) name[+off][ file: line]".
// For a text address crash appends a blank and the line, even when it
// has none.
func (v *symView) show(b *strings.Builder, s symbols.Symbol, off uint64, flags int) {
	if off != 0 {
		// SHOW_RADIX(): gdb's output radix, 10 unless set otherwise.
		fmt.Fprintf(b, "%x (%c) %s+%d", s.Addr+off, s.Type, s.Name, off)
	} else {
		fmt.Fprintf(b, "%x (%c) %s", s.Addr, s.Type, s.Name)
	}
	if mod := v.moduleOf(s); mod != "" && flags&noModule == 0 {
		b.WriteString(" [" + mod + "]")
	}
	if flags&showLineNum != 0 && v.hasVmlinux && v.isText(s.Addr+off) {
		b.WriteString(" " + v.line(s.Addr+off))
	}
	if flags&showSection != 0 {
		b.WriteString(" [" + v.section(s.Addr+off) + "]")
	}
	b.WriteString("\n")
}

// query is crash's symbol_query: every symbol whose name contains str,
// the kernel's, then the modules'.
func (v *symView) query(b *strings.Builder, str, pad string) int {
	n := 0
	for _, s := range v.syms() {
		if strings.Contains(s.Name, str) {
			b.WriteString(pad)
			v.show(b, s, 0, 0)
			n++
		}
	}
	for _, m := range v.mods() {
		for _, s := range m.syms {
			if strings.Contains(s.Name, str) {
				b.WriteString(pad)
				v.show(b, s, 0, 0)
				n++
			}
		}
	}
	return n
}
