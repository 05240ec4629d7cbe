package analyze

import (
	"bytes"
	"encoding/binary"
	"sort"
	"sync"

	"github.com/kcrash/kcrash/symbols"
)

// codeModule is what backtraces need of a loaded module: its text
// range, its symbols and its ORC table.
type codeModule struct {
	Name       string
	Base, Size uint64 // core text+data ([base, base+size))
	syms       []symbols.Symbol

	// The ORC table is decoded on the first unwind through the module:
	// reading the module list for its symbols (sym, bt's names) should
	// not pay for the kernel's ORC layout and every module's entries.
	orcOnce sync.Once
	orcLoad func() *ORCTable
	orc     *ORCTable
}

func (m *codeModule) orcTable() *ORCTable {
	m.orcOnce.Do(func() {
		if m.orcLoad != nil {
			m.orc = m.orcLoad()
		}
	})
	return m.orc
}

type codeModules struct {
	once sync.Once
	mods []*codeModule
}

// moduleFor returns the loaded module whose core region holds pc.
func (k *Kernel) moduleFor(pc uint64) *codeModule {
	c := &k.unwind.mods
	c.once.Do(func() { c.mods = k.readCodeModules() })
	for _, m := range c.mods {
		if pc >= m.Base && pc < m.Base+m.Size {
			return m
		}
	}
	return nil
}

func (k *Kernel) moduleORC(pc uint64) (ORCEntry, bool) {
	m := k.moduleFor(pc)
	if m == nil || m.orcTable() == nil {
		return ORCEntry{}, false
	}
	return m.orc.Lookup(pc)
}

// ModuleSymbol names an address inside a loaded module from the
// module's own symbol table (mod->kallsyms): symbol, offset, module name.
func ModuleSymbol(k *Kernel, addr uint64) (sym symbols.Symbol, off uint64, module string, ok bool) {
	m := k.moduleFor(addr)
	if m == nil {
		return symbols.Symbol{}, 0, "", false
	}
	i := sort.Search(len(m.syms), func(i int) bool { return m.syms[i].Addr > addr })
	if i == 0 {
		return symbols.Symbol{}, 0, m.Name, true
	}
	s := m.syms[i-1]
	return s, addr - s.Addr, m.Name, true
}

// readCodeModules walks the modules list (struct module.list). Linux
// 6.1's struct module has core_layout {base, size}; 6.4 replaced it with
// mem[MOD_TEXT] (commit ac3b43283923 "module: replace module_layout with
// module_memory"), which is probed for too.
func (k *Kernel) readCodeModules() []*codeModule {
	if k.vmlinux == nil {
		return nil
	}
	tab, err := k.Symbols()
	if err != nil {
		return nil
	}
	head, ok := tab.Lookup("modules")
	if !ok {
		return nil
	}
	ty := k.vmlinux.Types()
	off := func(s, m string) (uint64, bool) {
		o, err := ty.MemberOffset(s, m)
		return o, err == nil
	}
	listOff, ok1 := off("module", "list")
	nameOff, ok2 := off("module", "name")
	if !ok1 || !ok2 {
		return nil
	}
	var baseOff, sizeOff uint64
	if cl, ok := off("module", "core_layout"); ok {
		b, _ := off("module_layout", "base")
		s, _ := off("module_layout", "size")
		baseOff, sizeOff = cl+b, cl+s
	} else if mem, ok := off("module", "mem"); ok {
		b, _ := off("module_memory", "base")
		s, _ := off("module_memory", "size")
		baseOff, sizeOff = mem+b, mem+s // mem[0] is MOD_TEXT
	} else {
		return nil
	}
	arch, hasArch := off("module", "arch")
	numOrcs, ok3 := off("mod_arch_specific", "num_orcs")
	orcIP, ok4 := off("mod_arch_specific", "orc_unwind_ip")
	orcU, ok5 := off("mod_arch_specific", "orc_unwind")
	hasORC := hasArch && ok3 && ok4 && ok5
	ksOff, hasKS := off("module", "kallsyms")
	symtabOff, _ := off("mod_kallsyms", "symtab")
	numSymOff, _ := off("mod_kallsyms", "num_symtab")
	strtabOff, _ := off("mod_kallsyms", "strtab")
	layout := func() ORCLayout {
		if orc, err := k.ORC(); err == nil {
			return orc.Layout()
		}
		return ORCLayoutV1
	}

	var out []*codeModule
	first, err := k.readU64(VirtAddr(head.Addr), "modules")
	for p, n := first, 0; err == nil && p != head.Addr && n < 4096; n++ {
		mod := VirtAddr(p - listOff)
		var name [56]byte
		if k.readVA(name[:], mod+VirtAddr(nameOff), "module name") != nil {
			break
		}
		m := &codeModule{Name: string(bytes.TrimRight(name[:], "\x00"))}
		if i := bytes.IndexByte(name[:], 0); i >= 0 {
			m.Name = string(name[:i])
		}
		m.Base, _ = k.readU64(mod+VirtAddr(baseOff), "module base")
		if sz, err := k.readU32(mod+VirtAddr(sizeOff), "module size"); err == nil {
			m.Size = uint64(sz)
		}
		if hasORC {
			num, _ := k.readU32(mod+VirtAddr(arch+numOrcs), "module num_orcs")
			ipa, _ := k.readU64(mod+VirtAddr(arch+orcIP), "module orc_unwind_ip")
			ua, _ := k.readU64(mod+VirtAddr(arch+orcU), "module orc_unwind")
			if num > 0 && num < 1<<20 && ipa != 0 && ua != 0 {
				m.orcLoad = func() *ORCTable {
					ips := make([]byte, 4*num)
					ents := make([]byte, orcEntrySize*num)
					if k.readVA(ips, VirtAddr(ipa), "module orc_unwind_ip") != nil ||
						k.readVA(ents, VirtAddr(ua), "module orc_unwind") != nil {
						return nil
					}
					t, _ := NewORCTable(ipa, ips, ents, layout())
					return t
				}
			}
		}
		if hasKS {
			m.syms = k.readModuleSymbols(mod+VirtAddr(ksOff), symtabOff, numSymOff, strtabOff, m)
		}
		out = append(out, m)
		p, err = k.readU64(VirtAddr(p), "module.list")
	}
	return out
}

// readModuleSymbols reads a module's Elf64_Sym table (mod->kallsyms),
// keeping the symbols inside the module's core region.
func (k *Kernel) readModuleSymbols(ksPtr VirtAddr, symtabOff, numOff, strOff uint64, m *codeModule) []symbols.Symbol {
	ks, err := k.readU64(ksPtr, "module kallsyms")
	if err != nil || ks == 0 {
		return nil
	}
	symtab, _ := k.readU64(VirtAddr(ks+symtabOff), "mod_kallsyms symtab")
	num, _ := k.readU32(VirtAddr(ks+numOff), "mod_kallsyms num_symtab")
	strtab, _ := k.readU64(VirtAddr(ks+strOff), "mod_kallsyms strtab")
	if symtab == 0 || strtab == 0 || num == 0 || num > 1<<16 {
		return nil
	}
	raw := make([]byte, 24*int(num))
	if k.readVA(raw, VirtAddr(symtab), "module symtab") != nil {
		return nil
	}
	var out []symbols.Symbol
	for i := range int(num) {
		e := raw[24*i:]
		nameOff := binary.LittleEndian.Uint32(e)
		info := e[4]
		value := binary.LittleEndian.Uint64(e[8:])
		if value < m.Base || value >= m.Base+m.Size || info&0xf > 2 { // NOTYPE, OBJECT, FUNC
			continue
		}
		var nb [128]byte
		if k.readVA(nb[:], VirtAddr(strtab+uint64(nameOff)), "module strtab") != nil {
			continue
		}
		name := nb[:]
		if j := bytes.IndexByte(name, 0); j >= 0 {
			name = name[:j]
		}
		if len(name) == 0 {
			continue
		}
		out = append(out, symbols.Symbol{Name: string(name), Addr: value, Type: moduleSymType(info)})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Addr < out[b].Addr })
	return out
}

func (k *Kernel) readU32(a VirtAddr, what string) (uint32, error) {
	var b [4]byte
	if err := k.readVA(b[:], a, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}
