package symbols

import (
	"debug/elf"
)

// SectionSymbols returns the image's section symbols (ELF STT_SECTION
// entries), named after their sections as binutils names them (".text",
// ".data", …), with binutils' type letter. The crash utility keeps them
// in its symbol table, so they name addresses at a section's start.
func (v *Vmlinux) SectionSymbols() []Symbol { return v.sectionSyms }

// sectionSymbol converts an STT_SECTION entry, collected while the
// symbol table is read once (re-reading .symtab costs a second on a
// distribution vmlinux).
func (v *Vmlinux) sectionSymbol(s elf.Symbol) (Symbol, bool) {
	if elf.ST_TYPE(s.Info) != elf.STT_SECTION || int(s.Section) >= len(v.f.Sections) || s.Section == elf.SHN_UNDEF {
		return Symbol{}, false
	}
	sec := v.f.Sections[s.Section]
	c := bfdSectionType(sec)
	if elf.ST_BIND(s.Info) == elf.STB_GLOBAL {
		c -= 'a' - 'A'
	}
	return Symbol{Name: sec.Name, Addr: s.Value, Type: c}, true
}

// bfdSectionType is binutils' letter for a symbol of section sec, as
// bfd_decode_symclass derives it for ELF (bfd/syms.c
// decode_section_type over the flags _bfd_elf_make_section_from_shdr
// sets).
func bfdSectionType(sec *elf.Section) byte {
	alloc := sec.Flags&elf.SHF_ALLOC != 0
	contents := sec.Type != elf.SHT_NOBITS
	readonly := sec.Flags&elf.SHF_WRITE == 0
	switch {
	case sec.Flags&elf.SHF_EXECINSTR != 0:
		return 't'
	case alloc && contents: // SEC_DATA
		if readonly {
			return 'r'
		}
		return 'd'
	case !contents:
		return 'b'
	case len(sec.Name) >= 6 && sec.Name[:6] == ".debug":
		return 'N'
	case readonly:
		return 'n'
	}
	return '?'
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

// Section is one of the image's sections as binutils lists them.
type Section struct {
	Name       string
	Start, End uint64 // link-time [Start, End)
}

// Sections returns the sections bfd would create for the image, in file
// order (binutils makes none for relocation, symbol and string tables).
func (v *Vmlinux) Sections() []Section {
	var out []Section
	for _, s := range v.f.Sections {
		switch s.Type {
		case elf.SHT_NULL, elf.SHT_RELA, elf.SHT_REL, elf.SHT_SYMTAB, elf.SHT_STRTAB:
			continue
		}
		out = append(out, Section{Name: s.Name, Start: s.Addr, End: s.Addr + s.Size})
	}
	return out
}
