package commands

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
)

// symView is the kernel symbol list the way the crash utility keeps and
// searches it (symbols.c store_symbols, value_search): sorted by value
// then name, starting at _stext/_text (per-CPU offsets kept before it),
// with the vmlinux's section symbols included. It is built per command.
type symView struct {
	syms       []symbols.Symbol
	firstKsym  uint64 // value of _text/_stext: lower values are per-CPU offsets
	text       []symbols.TextRange
	kaslr      uint64
	lines      func() (*symbols.LineTable, error) // nil without a vmlinux
	sections   []symbols.Section
	modsOnce   sync.Once
	modsLoad   func() []modSyms // reads the loaded modules (with a vmlinux only)
	modsList   []modSyms
	hasVmlinux bool
}

const kernelMapBase = 0xffffffff80000000 // __START_KERNEL_map

func newSymView(k *analyze.Kernel) (*symView, error) {
	tab, err := k.Symbols()
	if err != nil {
		return nil, err
	}
	all := append([]symbols.Symbol(nil), tab.All()...)
	var moved []int // entries no longer in address order
	v := &symView{kaslr: k.KASLROffset()}
	if vm := k.Vmlinux(); vm != nil {
		v.hasVmlinux = true
		// crash relocates absolute symbols with kernel addresses too
		// (init_per_cpu__*); the shared table leaves them alone.
		for i, s := range all {
			if (s.Type == 'a' || s.Type == 'A') && s.Addr >= kernelMapBase && v.kaslr != 0 {
				all[i].Addr += v.kaslr
				moved = append(moved, i)
			}
		}
		for _, s := range vm.SectionSymbols() {
			if s.Addr >= kernelMapBase {
				s.Addr += v.kaslr
			}
			moved = append(moved, len(all))
			all = append(all, s)
		}
		for _, r := range vm.TextRanges() {
			v.text = append(v.text, symbols.TextRange{Start: r.Start + v.kaslr, End: r.End + v.kaslr})
		}
		v.lines = vm.Lines
		v.sections = vm.Sections()
		// Reading the module list needs struct module's layout, hence the
		// DWARF index: only build it when a lookup reaches the modules.
		v.modsLoad = func() []modSyms { return loadModSyms(k) }
	}
	v.syms, v.firstKsym = crashSymbolList(all, moved)
	return v, nil
}

// mods returns the loaded modules' symbols, read on first use.
func (v *symView) mods() []modSyms {
	v.modsOnce.Do(func() {
		if v.modsLoad != nil {
			v.modsList = v.modsLoad()
		}
	})
	return v.modsList
}

// crashSymbolList orders and filters symbols as crash's store_symbols
// does, returning them and the value of _stext/_text.
func crashSymbolList(all []symbols.Symbol, moved []int) ([]symbols.Symbol, uint64) {
	var firstKsym uint64
	all = sortByAddrName(all, moved)
	// x86_64_verify_symbol: nothing before _stext/_text in this order,
	// except the per-CPU symbols after __per_cpu_start.
	out := make([]symbols.Symbol, 0, len(all))
	started, percpu := false, false
	for _, s := range all {
		if s.Name == "" {
			continue
		}
		if !started {
			switch {
			case s.Name == "_text" || s.Name == "_stext":
				started = true
				firstKsym = s.Addr
			case s.Name == "__per_cpu_start":
				percpu = true
			case percpu && (strings.HasPrefix(s.Name, "per_cpu") || s.Name == "__per_cpu_end" ||
				s.Type == 'V' || s.Type == 'd' || s.Type == 'D'):
			default:
				continue
			}
		}
		out = append(out, s)
	}
	for i := range out {
		out[i].Name = stripSymbolEnd(out[i].Name)
	}
	if !started {
		// kallsyms without _text: take everything in the kernel map.
		out = out[:0]
		for _, s := range all {
			if s.Addr >= kernelMapBase && s.Name != "" {
				s.Name = stripSymbolEnd(s.Name)
				out = append(out, s)
			}
		}
		if len(out) > 0 {
			firstKsym = out[0].Addr
		}
	}
	return out, firstKsym
}

// stripSymbolEnd drops the compiler's clone suffixes, as crash's
// strip_symbol_end does after sorting: "f.isra.0" is shown as "f".
func stripSymbolEnd(name string) string {
	if strings.IndexByte(name, '.') < 0 {
		return name
	}
	for _, suffix := range []string{".isra.", ".part.", ".llvm."} {
		if i := strings.Index(name, suffix); i >= 0 {
			return name[:i]
		}
	}
	return name
}

// inRange is crash's in_ksymbol_range for the base kernel.
func (v *symView) inRange(addr uint64) bool {
	if v.module(addr) != nil {
		return true
	}
	if len(v.syms) == 0 {
		return false
	}
	return addr >= v.firstKsym && addr >= v.syms[0].Addr && addr <= v.syms[len(v.syms)-1].Addr
}

// search is crash's value_search: the first symbol at exactly addr
// (skipping ".text.*", SyS_ aliases and *_text_start markers in favour
// of the real symbol at the same value), else the last one below it.
func (v *symView) search(addr uint64) (symbols.Symbol, uint64, bool) {
	if !v.inRange(addr) {
		return symbols.Symbol{}, 0, false
	}
	if m := v.module(addr); m != nil {
		return m.search(addr)
	}
	i := sort.Search(len(v.syms), func(i int) bool { return v.syms[i].Addr >= addr })
	if i < len(v.syms) && v.syms[i].Addr == addr {
		next := func() bool { return i+1 < len(v.syms) && v.syms[i+1].Addr == addr }
		if strings.HasPrefix(v.syms[i].Name, ".text.") && next() {
			i++
		}
		if (strings.HasPrefix(v.syms[i].Name, "SyS_") || strings.HasPrefix(v.syms[i].Name, "compat_SyS_")) && next() {
			i++
		}
		if strings.HasSuffix(v.syms[i].Name, "_text_start") && next() {
			i++
		}
		return v.syms[i], 0, true
	}
	if i == 0 {
		return symbols.Symbol{}, 0, false
	}
	s := v.syms[i-1]
	return s, addr - s.Addr, true
}

// byName returns every symbol called name, in table order: the
// kernel's, then the modules'.
func (v *symView) byName(name string) []symbols.Symbol {
	var out []symbols.Symbol
	for _, s := range v.syms {
		if s.Name == name {
			out = append(out, s)
		}
	}
	for _, m := range v.mods() {
		for _, s := range m.syms {
			if s.Name == name {
				out = append(out, s)
			}
		}
	}
	return out
}

// symStr is crash's value_to_symstr with gdb's default output radix
// (10): "name" or "name+off", "" when the value names no kernel symbol.
func (v *symView) symStr(addr uint64) string {
	s, off, ok := v.search(addr)
	switch {
	case !ok:
		return ""
	case off != 0:
		return s.Name + "+" + strconv.FormatUint(off, 10)
	}
	return s.Name
}

// isText is crash's is_kernel_text: inside an executable section.
// (or, failing that, named by a text symbol).
func (v *symView) isText(addr uint64) bool {
	for _, r := range v.text {
		if addr >= r.Start && addr < r.End {
			return true
		}
	}
	s, _, ok := v.search(addr)
	return ok && v.isSymbolText(s)
}

// isSymbolText is crash's is_symbol_text: a text symbol, or a weak one
// inside [_stext, _etext).
func (v *symView) isSymbolText(s symbols.Symbol) bool {
	switch s.Type {
	case 'T', 't':
		return true
	case 'W', 'w':
		stext, ok1 := v.lookup("_stext")
		etext, ok2 := v.lookup("_etext")
		return ok1 && ok2 && s.Addr >= stext && s.Addr < etext
	}
	return false
}

func (v *symView) lookup(name string) (uint64, bool) {
	for _, s := range v.syms {
		if s.Name == name {
			return s.Addr, true
		}
	}
	return 0, false
}

// line returns crash's get_line_number text for a text address:
// "/path/file.c: 278", or "" when DWARF has no line for it.
func (v *symView) line(addr uint64) string {
	if v.lines == nil || !v.isText(addr) {
		return ""
	}
	lt, err := v.lines()
	if err != nil {
		return ""
	}
	li, ok := lt.Lookup(addr - v.kaslr)
	if !ok {
		return ""
	}
	f := li.File
	for strings.Contains(f, "//") {
		f = strings.ReplaceAll(f, "//", "/")
	}
	return f + ": " + strconv.Itoa(li.Line)
}

// section is crash's get_section: the first section holding addr. Like
// crash, it compares the runtime address with the link-time section
// addresses, so under KASLR kernel symbols name no section (crash 8.0.6
// prints "[]") while per-CPU offsets find .data..percpu.
func (v *symView) section(addr uint64) string {
	for _, s := range v.sections {
		if addr >= s.Start && addr < s.End {
			return s.Name
		}
	}
	return ""
}

// sortByAddrName sorts stably by address, then name, as crash's symbol
// list is. The input is the address-sorted symbol table plus a few
// strays (relocated absolute symbols, section symbols; moved names
// them), so the strays are sorted alone and merged in, and only runs of
// equal addresses are sorted by name.
func sortByAddrName(all []symbols.Symbol, moved []int) []symbols.Symbol {
	isStray := make([]bool, len(all))
	for _, i := range moved {
		if i >= 0 && i < len(all) {
			isStray[i] = true
		}
	}
	var strays []int // indexes out of address order
	last := uint64(0)
	for i, s := range all {
		if isStray[i] || s.Addr < last {
			isStray[i] = true
			strays = append(strays, i)
			continue
		}
		last = s.Addr
	}
	byAddr := func(a, b int) int {
		if c := cmp.Compare(all[a].Addr, all[b].Addr); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	slices.SortFunc(strays, byAddr)
	out := make([]symbols.Symbol, 0, len(all))
	next := 0 // the next stray, in address order
	for i := range all {
		if isStray[i] {
			continue
		}
		for next < len(strays) && byAddr(strays[next], i) < 0 {
			out = append(out, all[strays[next]])
			next++
		}
		out = append(out, all[i])
	}
	for ; next < len(strays); next++ {
		out = append(out, all[strays[next]])
	}
	byName := func(a, b symbols.Symbol) int { return strings.Compare(a.Name, b.Name) }
	for lo := 0; lo < len(out); {
		hi := lo + 1
		for hi < len(out) && out[hi].Addr == out[lo].Addr {
			hi++
		}
		if hi-lo > 1 && !slices.IsSortedFunc(out[lo:hi], byName) {
			sortRunByName(out[lo:hi])
		}
		lo = hi
	}
	return out
}

// sortRunByName sorts symbols of one address stably by name, moving
// indexes rather than symbols (some addresses carry thousands).
func sortRunByName(run []symbols.Symbol) {
	idx := make([]int, len(run))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := strings.Compare(run[a].Name, run[b].Name); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	sorted := make([]symbols.Symbol, len(run))
	for i, j := range idx {
		sorted[i] = run[j]
	}
	copy(run, sorted)
}
