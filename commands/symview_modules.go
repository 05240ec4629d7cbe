package commands

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
)

// modSyms is one module's symbols as crash keeps them (its
// ext_module_symtable): searched only for addresses inside the module.
type modSyms struct {
	name       string
	base, size uint64
	syms       []symbols.Symbol
}

func loadModSyms(k *analyze.Kernel) []modSyms {
	var out []modSyms
	for _, m := range analyze.LoadedModuleSymbols(k) {
		syms := make([]symbols.Symbol, 0, len(m.Syms))
		for _, s := range m.Syms {
			s.Name = stripSymbolEnd(s.Name)
			syms = append(syms, s)
		}
		sort.SliceStable(syms, func(i, j int) bool { return syms[i].Addr < syms[j].Addr })
		out = append(out, modSyms{name: m.Name, base: m.Base, size: m.Size, syms: syms})
	}
	return out
}

// module returns the module whose core region holds addr.
func (v *symView) module(addr uint64) *modSyms {
	// Modules live above the kernel image (MODULES_VADDR follows the
	// image area), so kernel addresses never need the module list and
	// the DWARF it takes to read it.
	if k := v.listKeys(); addr <= k.hi && addr >= k.lo && k.any {
		return nil
	}
	mods := v.mods()
	for i := range mods {
		if m := &mods[i]; addr >= m.base && addr < m.base+m.size {
			return m
		}
	}
	return nil
}

// moduleOf names the module a symbol belongs to, "" for the kernel's.
func (v *symView) moduleOf(s symbols.Symbol) string {
	m := v.module(s.Addr)
	if m == nil {
		return ""
	}
	for _, t := range m.syms {
		if t == s {
			return m.name
		}
	}
	return ""
}

// searchModule is crash's value_search_module: the last module symbol
// at or below addr.
func (m *modSyms) search(addr uint64) (symbols.Symbol, uint64, bool) {
	i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].Addr > addr })
	if i == 0 {
		return symbols.Symbol{}, 0, false
	}
	s := m.syms[i-1]
	if s.Addr == addr {
		// the first of those at this address
		for i-2 >= 0 && m.syms[i-2].Addr == addr {
			i--
		}
		s = m.syms[i-1]
	}
	return s, addr - s.Addr, true
}

// next returns the first symbol above addr in the same module.
func (m *modSyms) next(addr uint64) (uint64, bool) {
	i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].Addr > addr })
	if i < len(m.syms) {
		return m.syms[i].Addr, true
	}
	return m.base + m.size, true
}

// dumpModules is the module part of "sym -l" (and "sym -M", or "sym -m
// name" for one module).
func (v *symView) dumpModules(b *strings.Builder, only string) {
	for _, m := range v.mods() {
		if only != "" && m.name != only {
			continue
		}
		fmt.Fprintf(b, "%x MODULE START: %s\n", m.base, m.name)
		for _, s := range m.syms {
			v.show(b, s, 0, noModule)
		}
		fmt.Fprintf(b, "%x MODULE END: %s\n", m.base+m.size, m.name)
	}
}
