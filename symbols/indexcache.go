package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// The name index of a distribution vmlinux takes most of a second to
// build from 170 MB of DWARF, and it depends only on the file: the
// first session saves it, keyed by build-id, and later sessions map the
// file and binary-search it, with no parsing and no maps to fill.
//
// The file (little-endian):
//
//	magic "KCIDX" 0 0 <version>
//	build-id length u32, build-id, padding to 8
//	vmlinux size u64, .debug_info size u64
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
//	CRC-32C of everything before it, u32
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

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// ErrIndexCache: a cached index file is unusable (corrupt, truncated,
// or made for another vmlinux); the index is rebuilt.
var ErrIndexCache = errors.New("unusable index cache file")

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

// records lists a table's records sorted by name, a name's records in
// unit order.
func (ix *typeIndex) records(tab int) (names []string, ab [][2]uint64) {
	var keys []string
	switch tab {
	case tabVars:
		for k := range ix.vars {
			keys = append(keys, k)
		}
	case tabFuncs:
		for k := range ix.funcs {
			keys = append(keys, k)
		}
	case tabEnumVals:
		for k := range ix.enumVals {
			keys = append(keys, k)
		}
	default:
		for k := range ix.table(tab) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, r := range ix.all(tab, k) {
			names = append(names, k)
			ab = append(ab, r)
		}
	}
	return names, ab
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

// indexKey identifies the vmlinux a cache file was made from.
type indexKey struct {
	buildID  string // hex
	fileSize uint64
	infoSize uint64
}

// encodeIndex serializes an index and its unit table.
func encodeIndex(key indexKey, units []unitSpan, covered int, ix *typeIndex) []byte {
	le := binary.LittleEndian
	var b []byte
	b = append(b, indexMagic...)
	b = le.AppendUint32(b, uint32(len(key.buildID)))
	b = append(b, key.buildID...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	b = le.AppendUint64(b, key.fileSize)
	b = le.AppendUint64(b, key.infoSize)
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
		size := 8
		for size < 2*len(firsts) {
			size *= 2
		}
		slots := make([]uint32, size)
		for i := range slots {
			slots[i] = emptySlot
		}
		for _, f := range firsts {
			h := fnv1a(names[f]) & uint64(size-1)
			for slots[h] != emptySlot {
				h = (h + 1) & uint64(size-1)
			}
			slots[h] = uint32(f)
		}
		b = le.AppendUint64(b, uint64(size))
		for _, x := range slots {
			b = le.AppendUint32(b, x)
		}
	}
	b = le.AppendUint64(b, uint64(len(strs)))
	b = append(b, strs...)
	return le.AppendUint32(b, crc32.Checksum(b, crc32c))
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
	le := binary.LittleEndian
	if len(b) < len(indexMagic)+8 || string(b[:len(indexMagic)]) != indexMagic {
		return bad("not a kcrash index (or another version)")
	}
	if crc32.Checksum(b[:len(b)-4], crc32c) != le.Uint32(b[len(b)-4:]) {
		return bad("checksum mismatch")
	}
	b = b[:len(b)-4]
	off := len(indexMagic)
	need := func(n uint64) bool { return n <= uint64(len(b)-off) }
	u64 := func() (uint64, bool) {
		if !need(8) {
			return 0, false
		}
		v := le.Uint64(b[off:])
		off += 8
		return v, true
	}
	idLen := uint64(le.Uint32(b[off:]))
	off += 4
	if !need(idLen) {
		return bad("truncated build-id")
	}
	if string(b[off:off+int(idLen)]) != key.buildID {
		return bad("made for another build-id")
	}
	off += int(idLen)
	off = (off + 7) &^ 7
	if off > len(b) {
		return bad("truncated header")
	}
	fsz, ok1 := u64()
	isz, ok2 := u64()
	if !ok1 || !ok2 || fsz != key.fileSize || isz != key.infoSize {
		return bad("made for a vmlinux of another size")
	}
	n, ok := u64()
	if !ok || n > uint64(len(b)-off)/16 {
		return bad("truncated unit table")
	}
	c := &cachedIndex{units: make([]unitSpan, n)}
	for i := range c.units {
		s, _ := u64()
		e, _ := u64()
		if e <= s || e > isz || (i > 0 && s < c.units[i-1].end) {
			return bad("unit table out of order")
		}
		c.units[i] = unitSpan{s, e}
	}
	cov, ok := u64()
	if !ok || cov > n {
		return bad("units indexed")
	}
	c.covered = int(cov)
	for tab := range nameTables {
		n, ok := u64()
		if !ok || n > uint64(len(b)-off)/recSize {
			return bad("truncated name table")
		}
		c.tables[tab] = b[off : off+int(n)*recSize]
		off += int(n) * recSize
		c.names += int(n)
		ns, ok := u64()
		if !ok || ns == 0 || ns&(ns-1) != 0 || ns > uint64(len(b)-off)/4 {
			return bad("name hash table")
		}
		c.slots[tab] = b[off : off+int(ns)*4]
		off += int(ns) * 4
		empty := 0
		for i := 0; i < int(ns); i++ {
			switch x := le.Uint32(c.slots[tab][4*i:]); {
			case x == emptySlot:
				empty++
			case uint64(x) >= n:
				return bad("hash slot out of range")
			}
		}
		if empty == 0 {
			return bad("full name hash table") // a lookup would never end
		}
	}
	sl, ok := u64()
	if !ok || sl != uint64(len(b)-off) {
		return bad("string table size")
	}
	// Names are bounds-checked as they are read (name); their order is
	// the writer's, vouched for by the checksum, and checking it here
	// would cost a pass over half a million records on every start.
	c.strs = b[off:]
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
	return c, m, nil
}

// saveIndexCache writes the file under a temporary name and renames it,
// so a reader never sees half a file and two sessions do not collide.
func saveIndexCache(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), strings.TrimSuffix(filepath.Base(path), ".idx")+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
