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
//
// Sorting and filtering 200,000 symbols costs more than the rest of a
// warm "sym NAME" session, so the sorted list is built only when a
// command walks it or asks many addresses; a name, or the first few
// addresses, are answered by one pass over the unsorted symbols that
// applies the same order and filter (keys, included).
type symView struct {
	table      []symbols.Symbol // the kernel's symbols in table order (shared, not ours to change)
	extra      []symbols.Symbol // the vmlinux's section symbols, relocated
	text       []symbols.TextRange
	kaslr      uint64
	lines      func() (*symbols.LineTable, error) // nil without a vmlinux
	sections   []symbols.Section
	modsOnce   sync.Once
	modsLoad   func() []modSyms // reads the loaded modules (with a vmlinux only)
	modsList   []modSyms
	hasVmlinux bool

	listOnce sync.Once
	list     []symbols.Symbol

	keysOnce sync.Once
	keys     listKeys

	linearSearches int // value searches answered without the sorted list
}

// listKeys are where crash's list starts, in its (value, name) order.
type listKeys struct {
	start, percpu       symKey
	hasStart, hasPercpu bool
	any                 bool   // the list is not empty
	lo, hi              uint64 // its lowest and highest value
}

type symKey struct {
	addr uint64
	name string
}

func (a symKey) compare(b symKey) int {
	if c := cmp.Compare(a.addr, b.addr); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

const kernelMapBase = 0xffffffff80000000 // __START_KERNEL_map

func newSymView(k *analyze.Kernel) (*symView, error) {
	v := &symView{kaslr: k.KASLROffset()}
	if vm := k.Vmlinux(); vm != nil {
		v.hasVmlinux = true
		// The link-time table, relocated as at() reads it: crash moves
		// every kernel-image address, absolute symbols (init_per_cpu__*)
		// too, so the table's address order holds and no copy is needed.
		v.table = vm.Symtab().All()
		for _, s := range vm.SectionSymbols() {
			if s.Addr >= kernelMapBase {
				s.Addr += v.kaslr
			}
			v.extra = append(v.extra, s)
		}
		for _, r := range vm.TextRanges() {
			v.text = append(v.text, symbols.TextRange{Start: r.Start + v.kaslr, End: r.End + v.kaslr})
		}
		v.lines = vm.Lines
		v.sections = vm.Sections()
		// Reading the module list needs struct module's layout, hence the
		// DWARF index: only build it when a lookup reaches the modules.
		v.modsLoad = func() []modSyms { return loadModSyms(k) }
	} else {
		tab, err := k.Symbols() // kallsyms: run-time addresses already
		if err != nil {
			return nil, err
		}
		v.table = tab.All()
	}
	return v, nil
}

// n and at index the symbols the list is made of: the table, then the
// section symbols.
func (v *symView) n() int { return len(v.table) + len(v.extra) }

func (v *symView) at(i int) symbols.Symbol {
	if i >= len(v.table) {
		return v.extra[i-len(v.table)]
	}
	s := v.table[i]
	if v.hasVmlinux && s.Addr >= kernelMapBase {
		s.Addr += v.kaslr
	}
	return s
}

// syms is crash's sorted, filtered kernel symbol list.
func (v *symView) syms() []symbols.Symbol {
	v.listOnce.Do(func() {
		all := make([]symbols.Symbol, v.n())
		var moved []int // the section symbols: not in the table's order
		for i := range all {
			all[i] = v.at(i)
			if i >= len(v.table) {
				moved = append(moved, i)
			}
		}
		k := v.listKeys()
		v.list = crashSymbolList(all, moved, &k)
	})
	return v.list
}

// listKeys finds, in one pass, what crashSymbolList's filter depends
// on: the first _text/_stext and __per_cpu_start in (value, name) order.
func (v *symView) listKeys() listKeys {
	v.keysOnce.Do(func() {
		var k listKeys
		for i := range v.n() {
			s := v.at(i)
			key := symKey{s.Addr, s.Name}
			switch s.Name {
			case "_text", "_stext":
				if !k.hasStart || key.compare(k.start) < 0 {
					k.start, k.hasStart = key, true
				}
			case "__per_cpu_start":
				if !k.hasPercpu || key.compare(k.percpu) < 0 {
					k.percpu, k.hasPercpu = key, true
				}
			}
		}
		// crash notices __per_cpu_start only before the list starts.
		k.hasPercpu = k.hasPercpu && k.hasStart && k.percpu.compare(k.start) < 0
		for i := range v.n() {
			s := v.at(i)
			if !k.included(s) {
				continue
			}
			if !k.any || s.Addr < k.lo {
				k.lo = s.Addr
			}
			if !k.any || s.Addr > k.hi {
				k.hi = s.Addr
			}
			k.any = true
		}
		v.keys = k
	})
	return v.keys
}

// included is crashSymbolList's filter for one symbol.
func (k *listKeys) included(s symbols.Symbol) bool {
	if s.Name == "" {
		return false
	}
	if !k.hasStart {
		return s.Addr >= kernelMapBase
	}
	key := symKey{s.Addr, s.Name}
	if key.compare(k.start) >= 0 {
		return true
	}
	return k.hasPercpu && key.compare(k.percpu) >= 0 &&
		(s.Name == "__per_cpu_start" || strings.HasPrefix(s.Name, "per_cpu") || s.Name == "__per_cpu_end" ||
			s.Type == 'V' || s.Type == 'd' || s.Type == 'D')
}

// kernelByName returns the kernel symbols crash lists under name (after
// stripSymbolEnd), in list order, without building the list.
func (v *symView) kernelByName(name string) []symbols.Symbol {
	if name == "" {
		return nil
	}
	if v.list != nil {
		var out []symbols.Symbol
		for _, s := range v.list {
			if s.Name == name {
				out = append(out, s)
			}
		}
		return out
	}
	k := v.listKeys()
	type match struct {
		s symbols.Symbol
		i int
	}
	var ms []match
	for i := range v.n() {
		s := v.at(i)
		if strings.HasPrefix(s.Name, name) && stripSymbolEnd(s.Name) == name && k.included(s) {
			ms = append(ms, match{s, i})
		}
	}
	// The list's order: value, then the unstripped name, then position.
	slices.SortFunc(ms, func(a, b match) int {
		if c := (symKey{a.s.Addr, a.s.Name}).compare(symKey{b.s.Addr, b.s.Name}); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]symbols.Symbol, len(ms))
	for j, m := range ms {
		out[j] = m.s
		out[j].Name = name
	}
	return out
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
// does: sorted by value then name, and only those k.included keeps
// (x86_64_verify_symbol: nothing before _stext/_text in that order but
// the per-CPU symbols after __per_cpu_start), their clone suffixes
// stripped.
func crashSymbolList(all []symbols.Symbol, moved []int, k *listKeys) []symbols.Symbol {
	all = sortByAddrName(all, moved)
	out := make([]symbols.Symbol, 0, len(all))
	for _, s := range all {
		if k.included(s) {
			s.Name = stripSymbolEnd(s.Name)
			out = append(out, s)
		}
	}
	return out
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
	k := v.listKeys()
	if !k.any {
		return false
	}
	first := k.lo // crashSymbolList's first value without _text/_stext
	if k.hasStart {
		first = k.start.addr
	}
	return addr >= first && addr >= k.lo && addr <= k.hi
}

// maxLinearSearches is how many value searches one pass each over the
// unsorted symbols answers before sorting them pays.
const maxLinearSearches = 4

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
	var syms []symbols.Symbol
	i := 0
	if v.list == nil && v.linearSearches < maxLinearSearches {
		v.linearSearches++
		syms, i = v.around(addr)
	} else {
		syms = v.syms()
		i = sort.Search(len(syms), func(i int) bool { return syms[i].Addr >= addr })
	}
	if i < len(syms) && syms[i].Addr == addr {
		next := func() bool { return i+1 < len(syms) && syms[i+1].Addr == addr }
		if strings.HasPrefix(syms[i].Name, ".text.") && next() {
			i++
		}
		if (strings.HasPrefix(syms[i].Name, "SyS_") || strings.HasPrefix(syms[i].Name, "compat_SyS_")) && next() {
			i++
		}
		if strings.HasSuffix(syms[i].Name, "_text_start") && next() {
			i++
		}
		return syms[i], 0, true
	}
	if i == 0 {
		return symbols.Symbol{}, 0, false
	}
	s := syms[i-1]
	return s, addr - s.Addr, true
}

// around returns, in list order, the slice of crash's list that search
// looks at for addr, found in one pass over the unsorted symbols: the
// last symbol below addr and every symbol at addr; i indexes the first
// at addr (len when there is none).
func (v *symView) around(addr uint64) (syms []symbols.Symbol, i int) {
	k := v.listKeys()
	type entry struct {
		s   symbols.Symbol
		pos int
	}
	less := func(a, b entry) int {
		if c := (symKey{a.s.Addr, a.s.Name}).compare(symKey{b.s.Addr, b.s.Name}); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	}
	var below entry
	hasBelow := false
	var at []entry
	for j := range v.n() {
		s := v.at(j)
		if s.Addr > addr || !k.included(s) {
			continue
		}
		e := entry{s, j}
		if s.Addr == addr {
			at = append(at, e)
		} else if !hasBelow || less(e, below) > 0 {
			below, hasBelow = e, true
		}
	}
	slices.SortFunc(at, less)
	if hasBelow {
		syms = append(syms, stripped(below.s))
	}
	i = len(syms)
	for _, e := range at {
		syms = append(syms, stripped(e.s))
	}
	return syms, i
}

func stripped(s symbols.Symbol) symbols.Symbol {
	s.Name = stripSymbolEnd(s.Name)
	return s
}

// byName returns every symbol called name, in table order: the
// kernel's, then the modules'.
func (v *symView) byName(name string) []symbols.Symbol {
	out := v.kernelByName(name)
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
	if m := v.kernelByName(name); len(m) > 0 {
		return m[0].Addr, true
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
