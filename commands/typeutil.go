package commands

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
)

// ErrNeedVmlinux: types and C expressions come from the vmlinux's DWARF.
var ErrNeedVmlinux = errors.New("this command needs the kernel's debug info: start kcrash with the vmlinux (kcrash VMLINUX VMCORE)")

// kernelTypes returns the vmlinux's type index, or ErrNeedVmlinux.
func kernelTypes(env *Env) (*symbols.Types, error) {
	if env.Kernel == nil || env.Kernel.Vmlinux() == nil {
		return nil, ErrNeedVmlinux
	}
	return env.Kernel.Vmlinux().Types(), nil
}

// valuePrinter formats values read from the dump, naming pointers the
// way gdb does, in the session's radix unless radix (10 or 16) says
// otherwise.
func valuePrinter(env *Env, radix int) *symbols.Printer {
	k := env.Kernel
	if radix == 0 {
		radix = env.session().Radix
	}
	return &symbols.Printer{
		Hex: radix == 16,
		Read: func(p []byte, addr uint64) error {
			return k.ReadVirtual(p, analyze.VirtAddr(addr), "gdb request")
		},
		Symbolize: k.AddrName,
		Complete:  k.Vmlinux().Types().Complete,
	}
}

// nextValueNumber returns the next gdb value-history number ($N).
func nextValueNumber(env *Env) int {
	s := env.session()
	s.Values++
	return s.Values
}

// lookupAggregate finds "struct NAME" (or union) for the struct and
// union commands; name may carry the keyword already.
func lookupAggregate(ty *symbols.Types, kind, name string) (*dwarf.StructType, error) {
	name = strings.TrimPrefix(strings.TrimPrefix(name, kind+" "), kind+"_")
	t, err := ty.LookupType(kind + " " + name)
	if err != nil {
		// crash also accepts a typedef of a struct ("struct atomic_t").
		if t2, err2 := ty.LookupType(name); err2 == nil {
			if st, ok := symbols.Unqualify(t2).(*dwarf.StructType); ok && st.Kind == kind {
				return st, nil
			}
		}
		return nil, fmt.Errorf("invalid data structure reference: %s", name)
	}
	st, ok := t.(*dwarf.StructType)
	if !ok || st.Kind != kind {
		return nil, fmt.Errorf("invalid data structure reference: %s", name)
	}
	return st, nil
}

// withOffsets inserts member offsets into a ptype listing the way
// crash's show_member_offset does: "  [offset]" right-aligned in the
// width of the struct's size plus four, then the line without three of
// its four leading spaces. Lines naming no member (the opening of an
// anonymous union, closing braces) get blank padding instead. With
// member set, only that member's line is kept. With base, members
// are labelled with their address in hex.
func withOffsets(st *dwarf.StructType, ptype, member string, base uint64) (string, bool) {
	lines := strings.Split(ptype, "\n")
	size := strconv.FormatInt(st.Size(), 10)
	width := len(size) + 4
	var b strings.Builder
	found := false
	for i, line := range lines {
		if i == 0 || i == len(lines)-1 {
			b.WriteString(line + "\n")
			continue
		}
		target := memberTarget(line)
		var m symbols.Member
		ok := false
		if target != "" {
			m, ok = symbols.FindMember(st, target)
		}
		if member != "" {
			if !ok || target != member {
				continue
			}
			found = true
		}
		if !ok {
			b.WriteString(strings.Repeat(" ", len(size)+1) + line + "\n")
			continue
		}
		label := fmt.Sprintf("  [%d]", m.Offset)
		if base != 0 {
			label = fmt.Sprintf("  [%x]", base+m.Offset)
		}
		fmt.Fprintf(&b, "%*s%s\n", width, label, line[3:])
	}
	return b.String(), found
}

// memberTarget digs the member name out of a ptype line as crash does:
// the word before " : " of a bitfield, the name inside "(*name)" of a
// function pointer, else the last word when it ends with ';'.
func memberTarget(line string) string {
	words := strings.Fields(line)
	if len(words) == 0 {
		return ""
	}
	var target string
	switch {
	case strings.Contains(line, ":"):
		for i, w := range words {
			if i > 0 && w == ":" {
				target = words[i-1]
				break
			}
		}
	case strings.Contains(line, "(*"):
		for _, w := range words {
			if i := strings.Index(w, "(*"); i >= 0 && i <= 2 && strings.Trim(w[:i], "*") == "" {
				target = w[i+2:]
				if j := strings.Index(target, ")"); j >= 0 {
					target = target[:j]
				} else {
					target = ""
				}
				break
			}
		}
	default:
		if last := words[len(words)-1]; strings.HasSuffix(last, ";") {
			target = last
		}
	}
	target = strings.Map(func(r rune) rune {
		if strings.ContainsRune("*[];()", r) {
			return ' '
		}
		return r
	}, target)
	target = strings.TrimSpace(target)
	if i := strings.IndexByte(target, ' '); i >= 0 {
		target = target[:i]
	}
	return target
}

// parseAddress reads a hexadecimal address (with or without 0x), or
// a symbol's run-time address.
func parseAddressOrSymbol(env *Env, s string) (uint64, error) {
	if v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 64); err == nil {
		return v, nil
	}
	tab, err := env.Kernel.Symbols()
	if err != nil {
		return 0, err
	}
	if sym, ok := tab.Lookup(s); ok {
		return sym.Addr, nil
	}
	return 0, fmt.Errorf("invalid address or symbol: %s", s)
}

// radixOption reads crash's -d/-x: 10, 16, or 0 for the session's.
func radixOption(opts []option) (int, error) {
	radix := 0
	for _, o := range opts {
		r := map[byte]int{'d': 10, 'x': 16}[o.c]
		if r == 0 {
			continue
		}
		if radix != 0 && radix != r {
			return 0, fmt.Errorf("-d and -x are mutually exclusive")
		}
		radix = r
	}
	return radix, nil
}
