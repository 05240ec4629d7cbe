package analyze

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kcrash/kcrash/symbols"
)

// ErrNoSymbols: neither a vmlinux nor the dump's kallsyms can name
// addresses.
var ErrNoSymbols = errors.New("no symbols: give the vmlinux, or a dump of Linux 6.0+ whose VMCOREINFO locates kallsyms")

type kallsymsCache struct {
	once sync.Once
	tab  *symbols.Table
	err  error
}

// Kallsyms decodes the symbol table from the dump's own memory, once.
func (k *Kernel) Kallsyms() (*symbols.Table, error) {
	k.kallsyms.once.Do(func() {
		k.kallsyms.tab, k.kallsyms.err = k.readKallsyms()
	})
	return k.kallsyms.tab, k.kallsyms.err
}

func (k *Kernel) readKallsyms() (*symbols.Table, error) {
	if k.vi == nil {
		return nil, fmt.Errorf("%w (the dump has no VMCOREINFO)", ErrNoSymbols)
	}
	sym := func(name string) uint64 { v, _ := k.vi.Symbol(name); return v }
	l := symbols.KallsymsLayout{
		NumSyms:      sym("kallsyms_num_syms"),
		Names:        sym("kallsyms_names"),
		TokenTable:   sym("kallsyms_token_table"),
		TokenIndex:   sym("kallsyms_token_index"),
		Offsets:      sym("kallsyms_offsets"),
		RelativeBase: sym("kallsyms_relative_base"),
		Addresses:    sym("kallsyms_addresses"),
	}
	if l.NumSyms == 0 || l.Names == 0 || l.TokenTable == 0 || l.TokenIndex == 0 {
		return nil, fmt.Errorf("%w (VMCOREINFO lacks SYMBOL(kallsyms_*))", ErrNoSymbols)
	}
	read := func(p []byte, addr uint64) error {
		return k.ReadKernelImage(p, VirtAddr(addr), "kallsyms")
	}
	tab, err := symbols.ReadKallsyms(read, l)
	if err != nil {
		return nil, fmt.Errorf("decoding kallsyms from the dump: %w", err)
	}
	return tab, nil
}

// Symbols returns the best symbol table available: the vmlinux's,
// relocated by the KASLR offset, else kallsyms from the dump.
func (k *Kernel) Symbols() (*symbols.Table, error) {
	if k.vmlinux != nil {
		k.symtabOne.Do(func() { k.symtab = k.vmlinux.Symtab().Relocated(k.kaslr) })
		return k.symtab, nil
	}
	return k.Kallsyms()
}
