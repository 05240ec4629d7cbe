package symbols

import (
	"debug/elf"
	"strings"
)

// SectionSymbols returns the image's section symbols (ELF STT_SECTION
// entries), named after their sections as binutils names them (".text",
// ".data", …), with binutils' type letter. The crash utility keeps them
// in its symbol table, so they name addresses at a section's start.
func (v *Vmlinux) SectionSymbols() []Symbol {
	syms, err := v.f.Symbols()
	if err != nil {
		return nil
	}
	var out []Symbol
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_SECTION || int(s.Section) >= len(v.f.Sections) || s.Section == elf.SHN_UNDEF {
			continue
		}
		sec := v.f.Sections[s.Section]
		c := bfdSectionType(sec)
		if elf.ST_BIND(s.Info) == elf.STB_GLOBAL {
			c -= 'a' - 'A'
		}
		out = append(out, Symbol{Name: sec.Name, Addr: s.Value, Type: c})
	}
	return out
}

// bfdSectionType is binutils' letter for a symbol of section sec
// (bfd/syms.c coff_section_type, then decode_section_type).
func bfdSectionType(sec *elf.Section) byte {
	for _, t := range []struct {
		name string
		c    byte
	}{
		{".bss", 'b'}, {"code", 't'}, {".data", 'd'}, {"*DEBUG*", 'N'}, {".debug", 'N'},
		{".drectve", 'i'}, {".edata", 'e'}, {".fini", 't'}, {".idata", 'i'}, {".init", 't'},
		{".pdata", 'p'}, {".rdata", 'r'}, {".rodata", 'r'}, {".sbss", 's'}, {".scommon", 'c'},
		{".sdata", 'g'}, {".text", 't'}, {"vars", 'd'}, {"zerovars", 'b'},
	} {
		if rest, ok := strings.CutPrefix(sec.Name, t.name); ok && (rest == "" || strings.ContainsAny(rest[:1], ".$0123456789")) {
			return t.c
		}
	}
	switch {
	case sec.Flags&elf.SHF_EXECINSTR != 0:
		return 't'
	case sec.Type == elf.SHT_NOBITS && sec.Flags&elf.SHF_ALLOC != 0:
		return 'b'
	case sec.Flags&elf.SHF_ALLOC != 0 && sec.Flags&elf.SHF_WRITE == 0:
		return 'r'
	case sec.Flags&elf.SHF_ALLOC != 0:
		return 'd'
	}
	return 'n'
}

// TextRange is an executable section's link-time address range.
type TextRange struct{ Start, End uint64 }

// TextRanges returns the image's executable sections, as the crash
// utility's is_kernel_text sees them (SEC_CODE).
func (v *Vmlinux) TextRanges() []TextRange {
	var out []TextRange
	for _, s := range v.f.Sections {
		if s.Flags&elf.SHF_EXECINSTR != 0 && s.Flags&elf.SHF_ALLOC != 0 && s.Size > 0 {
			out = append(out, TextRange{s.Addr, s.Addr + s.Size})
		}
	}
	return out
}
