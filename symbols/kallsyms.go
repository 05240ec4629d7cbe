package symbols

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// ReadFunc reads len(p) bytes of the crashed kernel's memory at a kernel
// virtual address.
type ReadFunc func(p []byte, addr uint64) error

// KallsymsLayout says where the kallsyms tables are in the crashed
// kernel's memory. Since Linux 6.0 (commit 5fd8fea935a1, "vmcoreinfo:
// include kallsyms symbols") VMCOREINFO carries these addresses, so a
// dump can be symbolised without its vmlinux.
type KallsymsLayout struct {
	NumSyms, Names, TokenTable, TokenIndex uint64
	// Base-relative kernels (CONFIG_KALLSYMS_BASE_RELATIVE, every x86_64
	// kernel since 4.6) store 32-bit offsets from RelativeBase; older ones
	// an absolute address per symbol.
	Offsets, RelativeBase uint64
	Addresses             uint64
}

// maxKallsyms bounds the symbol count read from the dump; a distro
// kernel has about 200k.
const maxKallsyms = 1 << 23

// ReadKallsyms decodes the kernel's compressed symbol table from memory.
func ReadKallsyms(read ReadFunc, l KallsymsLayout) (*Table, error) {
	var b4 [4]byte
	if err := read(b4[:], l.NumSyms); err != nil {
		return nil, fmt.Errorf("kallsyms_num_syms: %w", err)
	}
	n := binary.LittleEndian.Uint32(b4[:])
	if n == 0 || n > maxKallsyms {
		return nil, fmt.Errorf("kallsyms_num_syms = %d is not plausible", n)
	}
	tokIndex := make([]byte, 256*2)
	if err := read(tokIndex, l.TokenIndex); err != nil {
		return nil, fmt.Errorf("kallsyms_token_index: %w", err)
	}
	// The token table is 256 NUL-terminated strings; the last starts at
	// the largest index entry.
	var last uint16
	for i := 0; i < 256; i++ {
		last = max(last, binary.LittleEndian.Uint16(tokIndex[i*2:]))
	}
	tokTable := make([]byte, int(last)+256)
	if err := readUpTo(read, tokTable, l.TokenTable); err != nil {
		return nil, fmt.Errorf("kallsyms_token_table: %w", err)
	}
	var tokens [256]string
	for i := range tokens {
		off := int(binary.LittleEndian.Uint16(tokIndex[i*2:]))
		end := off
		for end < len(tokTable) && tokTable[end] != 0 {
			end++
		}
		tokens[i] = string(tokTable[off:end])
	}

	addrs, err := kallsymsAddresses(read, l, int(n))
	if err != nil {
		return nil, err
	}

	names := &streamReader{read: read, addr: l.Names}
	syms := make([]Symbol, 0, n)
	var sb strings.Builder
	for i := 0; i < int(n); i++ {
		length, err := names.byte()
		if err != nil {
			return nil, fmt.Errorf("kallsyms_names entry %d: %w", i, err)
		}
		ln := int(length)
		// Since Linux 6.1 (commit 73bbb94466fd, "kallsyms: support "big"
		// kernel symbols") a length with the top bit set takes a second
		// byte: ULEB128 with at most two bytes.
		if length&0x80 != 0 {
			hi, err := names.byte()
			if err != nil {
				return nil, fmt.Errorf("kallsyms_names entry %d: %w", i, err)
			}
			ln = int(length&0x7f) | int(hi)<<7
		}
		sb.Reset()
		for j := 0; j < ln; j++ {
			tok, err := names.byte()
			if err != nil {
				return nil, fmt.Errorf("kallsyms_names entry %d: %w", i, err)
			}
			sb.WriteString(tokens[tok])
		}
		s := sb.String()
		if s == "" {
			return nil, fmt.Errorf("kallsyms_names entry %d is empty: tables corrupt", i)
		}
		syms = append(syms, Symbol{Name: s[1:], Type: s[0], Addr: addrs[i]})
	}
	return NewTable(syms), nil
}

func kallsymsAddresses(read ReadFunc, l KallsymsLayout, n int) ([]uint64, error) {
	addrs := make([]uint64, n)
	if l.Offsets == 0 {
		if l.Addresses == 0 {
			return nil, fmt.Errorf("neither kallsyms_offsets nor kallsyms_addresses is known")
		}
		raw := make([]byte, n*8)
		if err := read(raw, l.Addresses); err != nil {
			return nil, fmt.Errorf("kallsyms_addresses: %w", err)
		}
		for i := range addrs {
			addrs[i] = binary.LittleEndian.Uint64(raw[i*8:])
		}
		return addrs, nil
	}
	var b8 [8]byte
	if err := read(b8[:], l.RelativeBase); err != nil {
		return nil, fmt.Errorf("kallsyms_relative_base: %w", err)
	}
	base := binary.LittleEndian.Uint64(b8[:])
	raw := make([]byte, n*4)
	if err := read(raw, l.Offsets); err != nil {
		return nil, fmt.Errorf("kallsyms_offsets: %w", err)
	}
	// With CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP) a non-negative
	// offset is an absolute value (a per-CPU offset) and a negative one
	// means relative_base - 1 - offset; without it every offset is an
	// unsigned distance from relative_base. Kernel text is far below 2 GiB
	// from the base, so negative entries appear only in the first scheme.
	absolutePercpu := false
	for i := 0; i < n; i++ {
		if int32(binary.LittleEndian.Uint32(raw[i*4:])) < 0 {
			absolutePercpu = true
			break
		}
	}
	for i := range addrs {
		off := int32(binary.LittleEndian.Uint32(raw[i*4:]))
		switch {
		case !absolutePercpu:
			addrs[i] = base + uint64(uint32(off))
		case off >= 0:
			addrs[i] = uint64(off)
		default:
			addrs[i] = base - 1 - uint64(int64(off))
		}
	}
	return addrs, nil
}

// readUpTo fills p, shrinking the read when the end of p runs into
// unreadable memory (the token table may end right before a hole).
func readUpTo(read ReadFunc, p []byte, addr uint64) error {
	for len(p) > 0 {
		if err := read(p, addr); err == nil {
			return nil
		} else if len(p) <= 512 {
			return err
		}
		p = p[:len(p)-256]
	}
	return nil
}

// streamReader reads a byte stream from memory in chunks.
type streamReader struct {
	read ReadFunc
	addr uint64
	buf  []byte
	pos  int
}

func (s *streamReader) byte() (byte, error) {
	if s.pos == len(s.buf) {
		chunk := make([]byte, 64<<10)
		// Stop a chunk at a page boundary first if a full chunk fails.
		if err := s.read(chunk, s.addr); err != nil {
			chunk = chunk[:4096-s.addr%4096]
			if err := s.read(chunk, s.addr); err != nil {
				return 0, err
			}
		}
		s.buf, s.pos = chunk, 0
		s.addr += uint64(len(chunk))
	}
	c := s.buf[s.pos]
	s.pos++
	return c, nil
}
