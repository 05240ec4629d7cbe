package analyze

import "github.com/kcrash/kcrash/symbols"

// ModuleSymbols is one loaded module's own symbol table (mod->kallsyms)
// and its core region.
type ModuleSymbols struct {
	Name       string
	Base, Size uint64
	Syms       []symbols.Symbol // sorted by address
}

// LoadedModuleSymbols returns the symbol tables of the loaded modules
// (needs the vmlinux, for struct module's layout).
func LoadedModuleSymbols(k *Kernel) []ModuleSymbols {
	c := &k.unwind.mods
	c.once.Do(func() { c.mods = k.readCodeModules() })
	out := make([]ModuleSymbols, 0, len(c.mods))
	for _, m := range c.mods {
		out = append(out, ModuleSymbols{Name: m.Name, Base: m.Base, Size: m.Size, Syms: m.syms})
	}
	return out
}

// moduleSymType is the type letter crash shows for a module symbol: the
// kernel leaves st_info as the ELF file had it, and crash
// (Elf64_Sym_to_common) shows a local function as t, a global one as T,
// a printable byte as itself and anything else as '?'.
func moduleSymType(info byte) byte {
	switch {
	case info >= ' ' && info < 0x7f:
		return info
	case info == 0x02:
		return 't'
	case info == 0x12:
		return 'T'
	}
	return '?'
}
