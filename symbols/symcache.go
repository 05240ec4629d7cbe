package symbols

import (
	"encoding/binary"
	"fmt"
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
//	the header of cachefile.go (.debug_info size 0)
//	symbol count u64, then per symbol in address order
//	  [address u64, name offset u32, name length u32, type u8, 7 zero bytes]
//	name hash table size u64 (a power of two), then u32 symbol indexes
//	  (0xffffffff: empty), open addressing on FNV-1a of the name
//	section symbol count u64, then records as above
//	string bytes length u64, the names
//	the CRC-32C trailer of cachefile.go

const symMagic = "KCSYM\x00\x00\x02"
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
	for _, s := range sections {
		n += len(s.Name)
	}
	// One buffer of the final size: the names follow the records, so
	// they are appended in a second pass rather than gathered apart.
	b := make([]byte, 0, 64+len(key.buildID)+(len(t.byAddr)+len(sections))*symRecSize+4*len(t.hash)+n+32)
	b = appendCacheHeader(b, symMagic, key)
	strOff := 0
	rec := func(s Symbol) {
		b = le.AppendUint64(b, s.Addr)
		b = le.AppendUint32(b, uint32(strOff))
		b = le.AppendUint32(b, uint32(len(s.Name)))
		b = append(b, s.Type, 0, 0, 0, 0, 0, 0, 0)
		strOff += len(s.Name)
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
	b = le.AppendUint64(b, uint64(n))
	for _, s := range t.byAddr {
		b = append(b, s.Name...)
	}
	for _, s := range sections {
		b = append(b, s.Name...)
	}
	return appendCacheTrailer(b)
}

// decodeSymtab rebuilds a table from the cache. Allocations are bounded
// by the file's own size.
func decodeSymtab(b []byte, key indexKey) (*Table, []Symbol, error) {
	bad := func(what string) (*Table, []Symbol, error) {
		return nil, nil, fmt.Errorf("%w: %s", ErrIndexCache, what)
	}
	r, err := openCacheFile(b, symMagic, key)
	if err != nil {
		return nil, nil, err
	}
	symRecs, n, ok1 := r.table(symRecSize)
	slots, nn, ok2 := r.table(4)
	secRecs, ns, ok3 := r.table(symRecSize)
	sl, ok4 := r.u64()
	if !ok1 || !ok2 || !ok3 || !ok4 || sl != r.left() {
		return bad("truncated")
	}
	if nn == 0 || nn&(nn-1) != 0 {
		return bad("name hash table size")
	}
	strb, _ := r.bytes(sl)
	strs := string(strb)
	le := binary.LittleEndian
	read := func(recs []byte, count uint64) ([]Symbol, bool) {
		out := make([]Symbol, count)
		for i := range out {
			r := recs[i*symRecSize:]
			so, sz := uint64(le.Uint32(r[8:])), uint64(le.Uint32(r[12:]))
			if so+sz > sl {
				return nil, false
			}
			out[i] = Symbol{Addr: le.Uint64(r), Name: strs[so : so+sz], Type: r[16]}
		}
		return out, true
	}
	syms, ok1 := read(symRecs, n)
	secs, ok2 := read(secRecs, ns)
	if !ok1 || !ok2 {
		return bad("name out of the string table")
	}
	t := &Table{byAddr: syms, hash: make([]int32, nn)}
	empty := 0
	for i := range t.hash {
		switch x := le.Uint32(slots[4*i:]); {
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

func loadSymCache(path string, key indexKey) (*Table, []Symbol, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	t, secs, err := decodeSymtab(b, key)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	markUsed(path)
	return t, secs, nil
}
