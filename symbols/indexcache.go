package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// The name index of a distribution vmlinux takes most of a second to
// build from 170 MB of DWARF, and it depends only on the file: the
// first session saves it, keyed by build-id, and later sessions map the
// file and binary-search it, with no parsing and no maps to fill.
//
// The file (little-endian):
//
//	magic "KCIDX" 0 0 <version>, then the rest of cachefile.go's header
//	unit count u64, then [start u64, end u64] per unit in file order
//	units indexed u64: the names come from the first this many units
//	  (a session saves the prefix it scanned; see lazyIndex)
//	per name table (nameTables of them): count u64, then records of
//	  [name offset u32, name length u32, a u64, b u64], a name's records
//	  together and in unit order; then a hash table: slot count u64 (a
//	  power of two), slots u32 (the name's first record, 0xffffffff
//	  empty), open addressing on FNV-1a of the name. (No sorting: the
//	  first session writes this file on its way out.)
//	string bytes length u64, the names
//	the CRC-32C trailer of cachefile.go
//
// A file that fails any check is ignored and rebuilt; it never answers.

// indexMagic ends in the format's version: bump it whenever the file
// layout or what the scanner records changes, so old files are rebuilt.
const indexMagic = "KCIDX\x00\x00\x04"

// The tables, in file order; a and b are per table.
const (
	tabStructs  = iota // a: DIE
	tabUnions          // a: DIE
	tabEnums           // a: DIE
	tabTypedefs        // a: DIE
	tabBases           // a: DIE
	tabDeclVars        // a: type DIE
	tabVars            // a: type DIE, b: address (several per name)
	tabFuncs           // a: DIE, b: entry address
	tabEnumVals        // a: the enum's DIE
	nameTables
)

const recSize = 24

// nameIndex is what lookups need from an index, built or cached.
type nameIndex interface {
	// first returns the first record for name in table tab.
	first(tab int, name string) (a, b uint64, ok bool)
	// all returns every record for name in table tab, in unit order.
	all(tab int, name string) [][2]uint64
	size() int
}

func (ix *typeIndex) table(tab int) map[string]dwarf.Offset {
	switch tab {
	case tabStructs:
		return ix.structs
	case tabUnions:
		return ix.unions
	case tabEnums:
		return ix.enums
	case tabTypedefs:
		return ix.typedefs
	case tabBases:
		return ix.bases
	case tabDeclVars:
		return ix.declVars
	}
	return nil
}

func (ix *typeIndex) first(tab int, name string) (a, b uint64, ok bool) {
	switch tab {
	case tabVars:
		if v := ix.vars[name]; len(v) > 0 {
			return uint64(v[0].typ), v[0].addr, true
		}
		return 0, 0, false
	case tabFuncs:
		f, ok := ix.funcs[name]
		return uint64(f.die), f.addr, ok
	case tabEnumVals:
		e, ok := ix.enumVals[name]
		return uint64(e.enum), 0, ok
	}
	off, ok := ix.table(tab)[name]
	return uint64(off), 0, ok
}

func (ix *typeIndex) all(tab int, name string) [][2]uint64 {
	if tab == tabVars {
		var out [][2]uint64
		for _, v := range ix.vars[name] {
			out = append(out, [2]uint64{uint64(v.typ), v.addr})
		}
		return out
	}
	if a, b, ok := ix.first(tab, name); ok {
		return [][2]uint64{{a, b}}
	}
	return nil
}

// grouped lists a table's records, each name's together in unit order,
// in no particular order of names, and the index of each name's first.
func (ix *typeIndex) grouped(tab int) (names []string, ab [][2]uint64, firsts []int) {
	add := func(name string, recs ...[2]uint64) {
		firsts = append(firsts, len(names))
		for _, r := range recs {
			names = append(names, name)
			ab = append(ab, r)
		}
	}
	switch tab {
	case tabVars:
		for k, v := range ix.vars {
			recs := make([][2]uint64, len(v))
			for i, e := range v {
				recs[i] = [2]uint64{uint64(e.typ), e.addr}
			}
			add(k, recs...)
		}
	case tabFuncs:
		for k, f := range ix.funcs {
			add(k, [2]uint64{uint64(f.die), f.addr})
		}
	case tabEnumVals:
		for k, e := range ix.enumVals {
			add(k, [2]uint64{uint64(e.enum), 0})
		}
	default:
		for k, o := range ix.table(tab) {
			add(k, [2]uint64{uint64(o), 0})
		}
	}
	return names, ab, firsts
}

// unitSpan is a unit's bytes in .debug_info.
type unitSpan struct{ start, end uint64 }

// encodeIndex serializes an index and its unit table.
func encodeIndex(key indexKey, units []unitSpan, covered int, ix *typeIndex) []byte {
	le := binary.LittleEndian
	b := appendCacheHeader(nil, indexMagic, key)
	b = le.AppendUint64(b, uint64(len(units)))
	for _, u := range units {
		b = le.AppendUint64(b, u.start)
		b = le.AppendUint64(b, u.end)
	}
	b = le.AppendUint64(b, uint64(covered))
	var strs []byte
	for tab := range nameTables {
		names, ab, firsts := ix.grouped(tab)
		b = le.AppendUint64(b, uint64(len(names)))
		for i, n := range names {
			b = le.AppendUint32(b, uint32(len(strs)))
			b = le.AppendUint32(b, uint32(len(n)))
			b = le.AppendUint64(b, ab[i][0])
			b = le.AppendUint64(b, ab[i][1])
			strs = append(strs, n...)
		}
		slots := hashSlots(firsts, func(i int) string { return names[i] })
		b = le.AppendUint64(b, uint64(len(slots)))
		for _, x := range slots {
			b = le.AppendUint32(b, x)
		}
	}
	b = le.AppendUint64(b, uint64(len(strs)))
	b = append(b, strs...)
	return appendCacheTrailer(b)
}

// cachedIndex answers lookups from an encoded index in place.
type cachedIndex struct {
	units   []unitSpan
	covered int                // names come from units[:covered]
	tables  [nameTables][]byte // the records
	slots   [nameTables][]byte // their hash tables
	strs    []byte
	names   int
}

// decodeIndex checks an encoded index against the vmlinux it is meant
// for. It allocates only the unit table, whose length is bounded by the
// data it came from.
func decodeIndex(b []byte, key indexKey) (*cachedIndex, error) {
	bad := func(what string) (*cachedIndex, error) {
		return nil, fmt.Errorf("%w: %s", ErrIndexCache, what)
	}
	r, err := openCacheFile(b, indexMagic, key)
	if err != nil {
		return nil, err
	}
	spans, n, ok := r.table(16)
	if !ok {
		return bad("truncated unit table")
	}
	le := binary.LittleEndian
	c := &cachedIndex{units: make([]unitSpan, n)}
	for i := range c.units {
		s, e := le.Uint64(spans[16*i:]), le.Uint64(spans[16*i+8:])
		if e <= s || e > key.infoSize || (i > 0 && s < c.units[i-1].end) {
			return bad("unit table out of order")
		}
		c.units[i] = unitSpan{s, e}
	}
	cov, ok := r.u64()
	if !ok || cov > n {
		return bad("units indexed")
	}
	c.covered = int(cov)
	for tab := range nameTables {
		var recs uint64
		if c.tables[tab], recs, ok = r.table(recSize); !ok {
			return bad("truncated name table")
		}
		c.names += int(recs)
		var ns uint64
		if c.slots[tab], ns, ok = r.table(4); !ok || ns == 0 || ns&(ns-1) != 0 {
			return bad("name hash table")
		}
		empty := 0
		for i := 0; i < int(ns); i++ {
			switch x := le.Uint32(c.slots[tab][4*i:]); {
			case x == emptySlot:
				empty++
			case uint64(x) >= recs:
				return bad("hash slot out of range")
			}
		}
		if empty == 0 {
			return bad("full name hash table") // a lookup would never end
		}
	}
	sl, ok := r.u64()
	if !ok || sl != r.left() {
		return bad("string table size")
	}
	// Names are bounds-checked as they are read (name); the file is the
	// writer's, vouched for by the checksum.
	c.strs, _ = r.bytes(sl)
	return c, nil
}

func (c *cachedIndex) name(t []byte, i int) string {
	le := binary.LittleEndian
	no, nl := uint64(le.Uint32(t[i*recSize:])), uint64(le.Uint32(t[i*recSize+4:]))
	if no+nl > uint64(len(c.strs)) {
		return "" // only a corrupt file; the lookup then fails
	}
	return string(c.strs[no : no+nl])
}

// search returns the first record index for name and how many there are.
func (c *cachedIndex) search(tab int, name string) (int, int) {
	t, slots := c.tables[tab], c.slots[tab]
	n := len(t) / recSize
	ns := len(slots) / 4
	if ns == 0 {
		return 0, 0
	}
	mask := uint64(ns - 1)
	h := fnv1a(name) & mask
	for probes := 0; probes < ns; probes++ {
		x := binary.LittleEndian.Uint32(slots[4*h:])
		if x == emptySlot {
			return 0, 0
		}
		if c.name(t, int(x)) == name {
			end := int(x) + 1
			for end < n && c.name(t, end) == name {
				end++
			}
			return int(x), end - int(x)
		}
		h = (h + 1) & mask
	}
	return 0, 0 // a table with no empty slot: only a corrupt file
}

func (c *cachedIndex) rec(tab, i int) [2]uint64 {
	r := c.tables[tab][i*recSize:]
	return [2]uint64{binary.LittleEndian.Uint64(r[8:]), binary.LittleEndian.Uint64(r[16:])}
}

func (c *cachedIndex) first(tab int, name string) (a, b uint64, ok bool) {
	i, n := c.search(tab, name)
	if n == 0 {
		return 0, 0, false
	}
	r := c.rec(tab, i)
	return r[0], r[1], true
}

func (c *cachedIndex) all(tab int, name string) [][2]uint64 {
	i, n := c.search(tab, name)
	out := make([][2]uint64, 0, n)
	for j := i; j < i+n; j++ {
		out = append(out, c.rec(tab, j))
	}
	return out
}

func (c *cachedIndex) size() int { return c.names }

// toTypeIndex loads every record, to merge more units into them.
func (c *cachedIndex) toTypeIndex() *typeIndex {
	ix := newTypeIndex()
	for tab := range nameTables {
		t := c.tables[tab]
		for i := 0; i < len(t)/recSize; i++ {
			name, r := c.name(t, i), c.rec(tab, i)
			switch tab {
			case tabVars:
				ix.vars[name] = append(ix.vars[name], varEntry{typ: dwarf.Offset(r[0]), addr: r[1]})
			case tabFuncs:
				ix.funcs[name] = funcEntry{die: dwarf.Offset(r[0]), addr: r[1]}
			case tabEnumVals:
				ix.enumVals[name] = enumEntry{enum: dwarf.Offset(r[0])}
			default:
				ix.table(tab)[name] = dwarf.Offset(r[0])
			}
		}
	}
	return ix
}

// indexCachePath is where the index of the vmlinux with this build-id
// lives under dir.
func indexCachePath(dir, buildID string) string {
	return filepath.Join(dir, "dwarf-index", buildID+".idx")
}

// loadIndexCache maps a cache file; the mapping stays for the session.
func loadIndexCache(path string, key indexKey) (*cachedIndex, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() <= 0 || st.Size() > 1<<32 {
		return nil, nil, fmt.Errorf("%s: %w: size %d", path, ErrIndexCache, st.Size())
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	c, err := decodeIndex(m, key)
	if err != nil {
		syscall.Munmap(m)
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	markUsed(path)
	return c, m, nil
}
