package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync"
)

// Vmlinux is an opened kernel image with its identity and symbol table.
type Vmlinux struct {
	Path    string
	BuildID string // GNU build-id, hex; "" if the image has none
	Release string // from linux_banner, e.g. "6.1.192-kcrash"
	Banner  string // linux_banner without its trailing newline
	f       *elf.File
	r       io.Closer
	symtab  *Table

	sectionSyms []Symbol

	typesOnce sync.Once
	types     *Types
	file      *os.File       // r, when it is a file (for mapping and the cache)
	cacheDir  string         // see WithCache; "" for none
	opening   sync.WaitGroup // the index's set-up, started by OpenVmlinux
	saving    sync.WaitGroup // background writes to the cache
	saveSyms  func()         // writes the symbol table to the cache, or nil

	linesState // Lines(), in lines.go
}

// ErrNotVmlinux: the file is not an ELF kernel image.
var ErrNotVmlinux = errors.New("not a vmlinux")

// OpenOption configures OpenVmlinux.
type OpenOption func(*Vmlinux)

// WithCache keeps the symbol table and the DWARF name index under dir
// (a per-user cache directory), keyed by the vmlinux's build-id: the
// first session writes them, the next ones start without parsing. It
// needs r to be an *os.File.
func WithCache(dir string) OpenOption { return func(v *Vmlinux) { v.cacheDir = dir } }

// OpenVmlinux opens a kernel image (ELF ET_EXEC with a symbol table).
func OpenVmlinux(r io.ReaderAt, closer io.Closer, path string, opts ...OpenOption) (*Vmlinux, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNotVmlinux, err)
	}
	if f.Type != elf.ET_EXEC || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s: %w (ELF type %v, machine %v)", path, ErrNotVmlinux, f.Type, f.Machine)
	}
	v := &Vmlinux{Path: path, f: f, r: closer}
	for _, o := range opts {
		o(v)
	}
	if v.file, _ = r.(*os.File); v.file == nil {
		v.cacheDir = ""
	}
	v.BuildID = buildID(f)
	if v.file != nil && f.Section(".debug_info") != nil {
		// Map the DWARF and start reading its first units while the
		// symbol table loads: most sessions ask about a type soon.
		v.opening.Go(func() { v.Types().index() })
	}
	if err := v.loadSymtab(); err != nil {
		v.opening.Wait()
		v.types.close() // the read-ahead started above
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s, ok := v.symtab.Lookup("linux_banner"); ok {
		if b, err := v.ReadData(s.Addr, 512); err == nil {
			if i := bytes.IndexByte(b, 0); i >= 0 {
				b = b[:i]
			}
			v.Banner = string(bytes.TrimRight(b, "\n"))
			if m := releaseRE.FindStringSubmatch(v.Banner); m != nil {
				v.Release = m[1]
			}
		}
	}
	return v, nil
}

var releaseRE = regexp.MustCompile(`^Linux version (\S+)`)

// Close releases the file.
func (v *Vmlinux) Close() error {
	v.opening.Wait()
	if v.saveSyms != nil {
		v.saving.Go(v.saveSyms)
		v.saveSyms = nil
	}
	v.types.close() // waits for the read-ahead, saves the index, unmaps
	v.saving.Wait()
	if v.r != nil {
		return v.r.Close()
	}
	return nil
}

// ELF returns the underlying ELF file (for DWARF and ORC sections).
func (v *Vmlinux) ELF() *elf.File { return v.f }

// Symtab returns the link-time symbol table.
func (v *Vmlinux) Symtab() *Table { return v.symtab }

func (v *Vmlinux) loadSymtab() error {
	var key indexKey
	if v.cacheDir != "" && v.BuildID != "" {
		if st, err := v.file.Stat(); err == nil {
			key = indexKey{buildID: v.BuildID, fileSize: uint64(st.Size())}
			if t, secs, err := loadSymCache(symCachePath(v.cacheDir, v.BuildID), key); err == nil {
				v.symtab, v.sectionSyms = t, secs
				return nil
			}
		}
	}
	syms, err := readSymtab(v.f)
	if err != nil {
		return fmt.Errorf("symbol table: %w", err)
	}
	out := make([]Symbol, 0, len(syms))
	for _, s := range syms {
		if sec, ok := v.sectionSymbol(s); ok {
			v.sectionSyms = append(v.sectionSyms, sec)
			continue
		}
		if s.Name == "" || s.Section == elf.SHN_UNDEF {
			continue
		}
		out = append(out, Symbol{Name: s.Name, Addr: s.Value, Type: nmType(v.f, s)})
	}
	v.symtab = NewTable(out)
	if key.buildID != "" {
		t, secs := v.symtab, v.sectionSyms
		// Written on Close, beside the index: during the session the
		// CPUs have better things to do.
		v.saveSyms = func() { writeCacheFile(symCachePath(v.cacheDir, key.buildID), encodeSymtab(key, t, secs)) }
	}
	return nil
}

// nmType derives nm's letter for an ELF symbol: the section decides
// text/data/rodata/bss, the binding upper or lower case.
func nmType(f *elf.File, s elf.Symbol) byte {
	c := byte('?')
	switch {
	case s.Section == elf.SHN_ABS:
		c = 'a'
	case int(s.Section) < len(f.Sections):
		sec := f.Sections[s.Section]
		switch {
		case sec.Flags&elf.SHF_ALLOC == 0:
			return '?' // binutils: neither SEC_CODE nor SEC_DATA
		case sec.Flags&elf.SHF_EXECINSTR != 0:
			c = 't'
		case sec.Type == elf.SHT_NOBITS:
			c = 'b'
		case sec.Flags&elf.SHF_WRITE != 0:
			c = 'd'
		default:
			c = 'r'
		}
	}
	if elf.ST_BIND(s.Info) == elf.STB_GLOBAL && c != '?' {
		c -= 'a' - 'A'
	} else if elf.ST_BIND(s.Info) == elf.STB_WEAK {
		c = 'W'
	}
	return c
}

// ReadData reads n bytes at a link-time address from the image's
// sections (for constants such as linux_banner).
func (v *Vmlinux) ReadData(addr uint64, n int) ([]byte, error) {
	for _, p := range v.f.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr >= p.Vaddr+p.Filesz {
			continue
		}
		n = int(min(uint64(n), p.Vaddr+p.Filesz-addr))
		b := make([]byte, n)
		if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil && err != io.EOF {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("address %#x is not in the image's file data", addr)
}

func buildID(f *elf.File) string {
	sec := f.Section(".notes")
	if sec == nil {
		sec = f.Section(".note.gnu.build-id")
	}
	if sec == nil {
		return ""
	}
	b, err := sec.Data()
	if err != nil {
		return ""
	}
	for len(b) >= 12 {
		namesz := binary.LittleEndian.Uint32(b)
		descsz := binary.LittleEndian.Uint32(b[4:])
		typ := binary.LittleEndian.Uint32(b[8:])
		nameEnd := 12 + (int(namesz)+3)&^3
		descEnd := nameEnd + (int(descsz)+3)&^3
		if namesz > 1<<16 || descsz > 1<<16 || descEnd > len(b) {
			return ""
		}
		if typ == 3 && string(bytes.TrimRight(b[12:12+namesz], "\x00")) == "GNU" { // NT_GNU_BUILD_ID
			return hex.EncodeToString(b[nameEnd : nameEnd+int(descsz)])
		}
		b = b[descEnd:]
	}
	return ""
}
