package symbols

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// The symbol table is sorted and indexed on every start; for a
// distribution kernel (200,000 symbols) that is most of the start-up
// time, so it is cached beside the DWARF index, keyed the same way.
//
// The file (little-endian):
//
//	magic "KCSYM" 0 0 <version>
//	build-id length u32, build-id, padding to 8; vmlinux size u64
//	symbol count u64, then per symbol in address order
//	  [address u64, name offset u32, name length u32, type u8, 7 zero bytes]
//	name hash table size u64 (a power of two), then u32 symbol indexes
//	  (0xffffffff: empty), open addressing on FNV-1a of the name
//	section symbol count u64, then records as above
//	string bytes length u64, the names
//	CRC-32C of everything before it, u32

const symMagic = "KCSYM\x00\x00\x01"
const symRecSize = 24

func symCachePath(dir, buildID string) string {
	return filepath.Join(dir, "symtab", buildID+".syms")
}

func encodeSymtab(key indexKey, t *Table, sections []Symbol) []byte {
	le := binary.LittleEndian
	n := 0
	for _, s := range t.byAddr {
		n += len(s.Name)
	}
	b := make([]byte, 0, 64+len(key.buildID)+(len(t.byAddr)+len(sections))*symRecSize+4*len(t.hash))
	strs := make([]byte, 0, n)
	b = append(b, symMagic...)
	b = le.AppendUint32(b, uint32(len(key.buildID)))
	b = append(b, key.buildID...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	b = le.AppendUint64(b, key.fileSize)
	rec := func(s Symbol) {
		b = le.AppendUint64(b, s.Addr)
		b = le.AppendUint32(b, uint32(len(strs)))
		b = le.AppendUint32(b, uint32(len(s.Name)))
		b = append(b, s.Type, 0, 0, 0, 0, 0, 0, 0)
		strs = append(strs, s.Name...)
	}
	b = le.AppendUint64(b, uint64(len(t.byAddr)))
	for _, s := range t.byAddr {
		rec(s)
	}
	// The table's own hash index: nothing to build on load.
	b = le.AppendUint64(b, uint64(len(t.hash)))
	for _, x := range t.hash {
		b = le.AppendUint32(b, uint32(x)) // -1 is emptySlot
	}
	b = le.AppendUint64(b, uint64(len(sections)))
	for _, s := range sections {
		rec(s)
	}
	b = le.AppendUint64(b, uint64(len(strs)))
	b = append(b, strs...)
	return le.AppendUint32(b, crc32.Checksum(b, crc32c))
}

// decodeSymtab rebuilds a table from the cache. Allocations are bounded
// by the file's own size.
func decodeSymtab(b []byte, key indexKey) (*Table, []Symbol, error) {
	bad := func(what string) (*Table, []Symbol, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrIndexCache, what)
	}
	le := binary.LittleEndian
	if len(b) < len(symMagic)+8 || string(b[:len(symMagic)]) != symMagic {
		return bad("not a kcrash symbol table (or another version)")
	}
	if crc32.Checksum(b[:len(b)-4], crc32c) != le.Uint32(b[len(b)-4:]) {
		return bad("checksum mismatch")
	}
	b = b[:len(b)-4]
	off := len(symMagic)
	idLen := int(le.Uint32(b[off:]))
	off += 4
	if idLen > len(b)-off || string(b[off:off+idLen]) != key.buildID {
		return bad("made for another build-id")
	}
	off = (off + idLen + 7) &^ 7
	u64 := func() (uint64, bool) {
		if off > len(b) || len(b)-off < 8 {
			return 0, false
		}
		v := le.Uint64(b[off:])
		off += 8
		return v, true
	}
	if fs, ok := u64(); !ok || fs != key.fileSize {
		return bad("made for a vmlinux of another size")
	}
	// The records name strings that come last: find them first.
	n, ok := u64()
	if !ok || n > uint64(len(b)-off)/symRecSize {
		return bad("truncated symbols")
	}
	symOff := off
	off += int(n) * symRecSize
	nn, ok := u64()
	if !ok || nn == 0 || nn&(nn-1) != 0 || nn > uint64(len(b)-off)/4 {
		return bad("truncated name index")
	}
	nameOff := off
	off += int(nn) * 4
	ns, ok := u64()
	if !ok || ns > uint64(len(b)-off)/symRecSize {
		return bad("truncated section symbols")
	}
	secOff := off
	off += int(ns) * symRecSize
	sl, ok := u64()
	if !ok || sl != uint64(len(b)-off) {
		return bad("string table size")
	}
	strs := string(b[off:])
	read := func(at int, count uint64) ([]Symbol, bool) {
		out := make([]Symbol, count)
		for i := range out {
			r := b[at+i*symRecSize:]
			so, sz := uint64(le.Uint32(r[8:])), uint64(le.Uint32(r[12:]))
			if so+sz > sl {
				return nil, false
			}
			out[i] = Symbol{Addr: le.Uint64(r), Name: strs[so : so+sz], Type: r[16]}
		}
		return out, true
	}
	syms, ok1 := read(symOff, n)
	secs, ok2 := read(secOff, ns)
	if !ok1 || !ok2 {
		return bad("name out of the string table")
	}
	t := &Table{byAddr: syms, hash: make([]int32, nn)}
	empty := 0
	for i := range t.hash {
		x := le.Uint32(b[nameOff+4*i:])
		switch {
		case x == emptySlot:
			t.hash[i] = -1
			empty++
		case uint64(x) >= n:
			return bad("name index out of range")
		default:
			t.hash[i] = int32(x)
		}
	}
	if empty == 0 {
		return bad("full name table") // a lookup would never end
	}
	return t, secs, nil
}

const emptySlot = 0xffffffff

// fnv1a is the 64-bit FNV-1a hash.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func loadSymCache(path string, key indexKey) (*Table, []Symbol, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	t, secs, err := decodeSymtab(b, key)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, secs, nil
}
