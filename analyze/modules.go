package analyze

import (
	"bytes"
	"debug/dwarf"
	"errors"
	"fmt"

	"github.com/kcrash/kcrash/symbols"
)

// Module is one loaded kernel module (struct module).
type Module struct {
	Addr VirtAddr // the struct module
	Name string
	Base VirtAddr // core_layout.base (mem[MOD_TEXT].base from 6.4)
	Size uint64   // core_layout.size (the sum of mem[].size from 6.4)
	// Kallsyms: the module carries its own symbol table
	// (module.kallsyms, CONFIG_KALLSYMS).
	Kallsyms bool
	// TextBase: Base is the text region's (the 6.4+ layout), which crash
	// heads "TEXT_BASE".
	TextBase bool
	// Taints is module.taints: bits of the kernel's taint_flags[].
	Taints uint64
}

type moduleLayout struct {
	list, name, nameLen, kallsyms uint64
	taints, taintsLen             uint64
	base, size                    uint64 // within struct module
	sizeLen                       uint64
	// memRegions/memStride: Linux 6.4 replaced core_layout with
	// mem[MOD_MEM_NUM_TYPES] (commit ac3b43283923 "module: replace
	// module_layout with module_memory").
	memRegions, memStride uint64
}

func resolveModuleLayout(k *Kernel) (moduleLayout, error) {
	var l moduleLayout
	if k.vmlinux == nil {
		return l, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	var errs []error
	off := func(s, m string) (uint64, uint64) {
		o, sz, err := member(ty, s, m)
		if err != nil {
			errs = append(errs, err)
		}
		return o, sz
	}
	l.list, _ = off("module", "list")
	l.name, l.nameLen = off("module", "name")
	l.kallsyms, _ = off("module", "kallsyms")
	l.taints, l.taintsLen = off("module", "taints")
	if cl, _, err := member(ty, "module", "core_layout"); err == nil {
		b, _ := off("module_layout", "base")
		s, sz := off("module_layout", "size")
		l.base, l.size, l.sizeLen = cl+b, cl+s, sz
	} else {
		mem, total := off("module", "mem")
		b, _ := off("module_memory", "base")
		s, sz := off("module_memory", "size")
		if st, err := ty.Struct("module_memory"); err == nil && st.Size() > 0 {
			l.memStride = uint64(st.Size())
			l.memRegions = total / l.memStride
		}
		l.base, l.size, l.sizeLen = mem+b, mem+s, sz
	}
	return l, errors.Join(errs...)
}

// Modules returns the modules on the kernel's modules list, ordered by
// base address as crash lists them.
func Modules(k *Kernel) ([]Module, error) {
	l, err := resolveModuleLayout(k)
	if err != nil {
		return nil, err
	}
	tab, err := k.Symbols()
	if err != nil {
		return nil, err
	}
	s, ok := tab.Lookup("modules")
	if !ok {
		return nil, errNoSymbol("modules")
	}
	var out []Module
	for node, err := range ListForEach(k, VirtAddr(s.Addr), "modules") {
		if err != nil {
			return nil, err
		}
		m := Module{Addr: node - VirtAddr(l.list)}
		name := make([]byte, l.nameLen)
		if err := k.ReadVirtual(name, m.Addr+VirtAddr(l.name), "module name"); err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		m.Name = string(name)
		if m.Base, err = k.ReadPtr(m.Addr+VirtAddr(l.base), "module base"); err != nil {
			return nil, err
		}
		regions := uint64(1)
		if l.memStride != 0 {
			regions, m.TextBase = l.memRegions, true
		}
		for i := range regions {
			b := make([]byte, l.sizeLen)
			if err := k.ReadVirtual(b, m.Addr+VirtAddr(l.size+i*l.memStride), "module size"); err != nil {
				return nil, err
			}
			m.Size += readUint(b, len(b))
		}
		ks, err := k.ReadPtr(m.Addr+VirtAddr(l.kallsyms), "module kallsyms")
		if err != nil {
			return nil, err
		}
		m.Kallsyms = ks != 0
		tb := make([]byte, l.taintsLen)
		if err := k.ReadVirtual(tb, m.Addr+VirtAddr(l.taints), "module taints"); err != nil {
			return nil, err
		}
		m.Taints = readUint(tb, len(tb))
		out = append(out, m)
	}
	for i := 1; i < len(out); i++ { // insertion sort: few modules, stable
		for j := i; j > 0 && out[j].Base < out[j-1].Base; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// TaintFlag is one entry of the kernel's taint_flags[] (kernel/panic.c,
// struct taint_flag since 4.10): the letter shown when the taint is set
// and whether it applies to modules.
type TaintFlag struct {
	Char   byte
	Module bool
}

// TaintFlags reads taint_flags[], indexed by taint bit.
func TaintFlags(k *Kernel) ([]TaintFlag, error) {
	if k.vmlinux == nil {
		return nil, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	v, err := ty.LookupVar("taint_flags")
	if err != nil {
		return nil, err
	}
	at, ok := symbols.Unqualify(v.Type).(*dwarf.ArrayType)
	if !ok || at.Count <= 0 {
		return nil, fmt.Errorf("taint_flags is not an array")
	}
	st, err := ty.Struct("taint_flag")
	if err != nil {
		return nil, err
	}
	ct, _, err := member(ty, "taint_flag", "c_true")
	if err != nil {
		if ct, _, err = member(ty, "taint_flag", "true"); err != nil {
			return nil, err
		}
	}
	mo, _, err := member(ty, "taint_flag", "module")
	if err != nil {
		return nil, err
	}
	addr, ok := k.lookup("taint_flags")
	if !ok {
		return nil, errNoSymbol("taint_flags")
	}
	b := make([]byte, at.Count*st.Size())
	if err := k.ReadVirtual(b, addr, "taint_flags"); err != nil {
		return nil, err
	}
	out := make([]TaintFlag, at.Count)
	for i := range out {
		e := b[int64(i)*st.Size():]
		out[i] = TaintFlag{Char: e[ct], Module: e[mo] != 0}
	}
	return out, nil
}
