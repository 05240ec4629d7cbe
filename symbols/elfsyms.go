package symbols

import (
	"debug/elf"
	"fmt"
	"strings"
)

// readSymtab decodes the vmlinux's .symtab as debug/elf's Symbols does,
// but names are substrings of one copy of .strtab instead of a string
// allocated per symbol: a distribution kernel has 150,000 symbols and
// this runs on every start.
func readSymtab(f *elf.File) ([]elf.Symbol, error) {
	if f.Class != elf.ELFCLASS64 {
		return f.Symbols()
	}
	sec := f.SectionByType(elf.SHT_SYMTAB)
	if sec == nil {
		return nil, elf.ErrNoSymbols
	}
	if int(sec.Link) <= 0 || int(sec.Link) >= len(f.Sections) {
		return nil, fmt.Errorf(".symtab: string table link %d out of range", sec.Link)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf(".symtab: %w", err)
	}
	strb, err := f.Sections[sec.Link].Data()
	if err != nil {
		return nil, fmt.Errorf("symbol string table: %w", err)
	}
	strs := string(strb)
	const entSize = 24 // Elf64_Sym
	if len(data)%entSize != 0 || len(data) == 0 {
		return nil, fmt.Errorf(".symtab: size %d is not a whole number of entries", len(data))
	}
	bo := f.ByteOrder
	out := make([]elf.Symbol, 0, len(data)/entSize-1)
	for b := data[entSize:]; len(b) >= entSize; b = b[entSize:] { // entry 0 is the null symbol
		nameOff := bo.Uint32(b)
		name := ""
		if int(nameOff) < len(strs) {
			name = strs[nameOff:]
			if i := strings.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
		}
		out = append(out, elf.Symbol{
			Name:    name,
			Info:    b[4],
			Other:   b[5],
			Section: elf.SectionIndex(bo.Uint16(b[6:])),
			Value:   bo.Uint64(b[8:]),
			Size:    bo.Uint64(b[16:]),
		})
	}
	return out, nil
}
