package symbols

import (
	"cmp"
	"errors"
	"slices"
	"sort"
	"sync"
)

// ErrNotFound reports a name or address with no symbol.
var ErrNotFound = errors.New("symbol not found")

// Symbol is one named address.
type Symbol struct {
	Name string
	Addr uint64
	// Type is nm's type letter (T, t, D, d, B, b, R, r, A, W, …).
	Type byte
}

// Table is a set of symbols indexed by name and by address.
type Table struct {
	byAddr []Symbol // sorted by Addr, then original order
	// The name index: an open-addressing hash table (FNV-1a, linear
	// probing) of byAddr indexes, -1 for empty. Cheaper to build than a
	// map, and it is also the symbol cache's on-disk index.
	hash []int32
	// A relocated copy shares its original's name index: pos maps an
	// index into the original's byAddr to one into this byAddr.
	pos []int32
	// lazy, when set, makes this table base relocated by delta, copied
	// only when a method needs the symbols in address order: a session
	// that only looks names up (sys, struct, p) never pays for copying
	// 200,000 symbols.
	lazy *lazyReloc
}

type lazyReloc struct {
	base  *Table
	delta uint64
	once  sync.Once
	t     *Table
}

// sorted returns the table whose byAddr and pos are valid: t itself, or
// its relocated copy, made on first use.
func (t *Table) sorted() *Table {
	l := t.lazy
	if l == nil {
		return t
	}
	l.once.Do(func() { l.t = l.base.relocated(l.delta) })
	return l.t
}

// relocates tells which symbols a relocation moves: kernel-image
// addresses, but not absolute symbols or per-CPU offsets.
func relocates(s Symbol) bool {
	return s.Addr >= kernelMap && s.Type != 'a' && s.Type != 'A'
}

// NewTable indexes syms. When several symbols share a name, Lookup
// returns the first global one (upper-case type), else the first.
func NewTable(syms []Symbol) *Table {
	s := sortByAddr(syms)
	size := 8
	for size < 2*len(s) {
		size *= 2
	}
	t := &Table{byAddr: s, hash: make([]int32, size)}
	for i := range t.hash {
		t.hash[i] = -1
	}
	mask := uint64(size - 1)
	for i, sym := range s {
		h := fnv1a(sym.Name) & mask
		for ; t.hash[h] >= 0; h = (h + 1) & mask {
			if s[t.hash[h]].Name == sym.Name {
				break
			}
		}
		if j := t.hash[h]; j >= 0 && (isGlobal(s[j].Type) || !isGlobal(sym.Type)) {
			continue
		}
		t.hash[h] = int32(i)
	}
	return t
}

// sortByAddr is a stable sort by address that moves each 32-byte
// symbol once (a symbol table is sorted on every cold start). The keys
// are radix-sorted, 16 bits a pass from the lowest (each pass stable),
// skipping the passes where every key has the same digit: for a kernel
// symbol table that is 4 passes at most, where a comparison sort of
// 200,000 keys took a tenth of a cold session's CPU.
func sortByAddr(syms []Symbol) []Symbol {
	if slices.IsSortedFunc(syms, func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) }) {
		return append([]Symbol(nil), syms...)
	}
	type key struct {
		addr uint64
		i    int32
	}
	keys := make([]key, len(syms))
	for i, s := range syms {
		keys[i] = key{s.Addr, int32(i)}
	}
	tmp := make([]key, len(keys))
	var count [1 << 16]int32
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count[:])
		for _, k := range keys {
			count[(k.addr>>shift)&0xffff]++
		}
		if count[(keys[0].addr>>shift)&0xffff] == int32(len(keys)) {
			continue // one digit for all: this pass would change nothing
		}
		sum := int32(0)
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, k := range keys {
			d := (k.addr >> shift) & 0xffff
			tmp[count[d]] = k
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	out := make([]Symbol, len(syms))
	for i, k := range keys {
		out[i] = syms[k.i]
	}
	return out
}

func isGlobal(c byte) bool { return c >= 'A' && c <= 'Z' }

// Len returns the number of symbols.
func (t *Table) Len() int {
	if t.lazy != nil {
		return t.lazy.base.Len()
	}
	return len(t.byAddr)
}

// All returns the symbols sorted by address.
func (t *Table) All() []Symbol { return t.sorted().byAddr }

// Lookup returns the symbol called name.
func (t *Table) Lookup(name string) (Symbol, bool) {
	if l := t.lazy; l != nil {
		s, ok := l.base.Lookup(name)
		if ok && relocates(s) {
			s.Addr += l.delta
		}
		return s, ok
	}
	if len(t.hash) == 0 {
		return Symbol{}, false
	}
	mask := uint64(len(t.hash) - 1)
	for h := fnv1a(name) & mask; t.hash[h] >= 0; h = (h + 1) & mask {
		if s := t.at(int(t.hash[h])); s.Name == name {
			return s, true
		}
	}
	return Symbol{}, false
}

// at returns the symbol the name index calls i.
func (t *Table) at(i int) Symbol {
	if t.pos != nil {
		i = int(t.pos[i])
	}
	return t.byAddr[i]
}

// ByAddr returns the symbol at or below addr and addr's offset from it.
// Absolute symbols and per-CPU offsets (small addresses) only match
// exactly, so a kernel address is never named "some_percpu_var+0xffff…".
func (t *Table) ByAddr(addr uint64) (Symbol, uint64, bool) {
	t = t.sorted()
	i := sort.Search(len(t.byAddr), func(i int) bool { return t.byAddr[i].Addr > addr })
	for i--; i >= 0; i-- {
		s := t.byAddr[i]
		if s.Type == 'a' || s.Type == 'A' {
			if s.Addr == addr {
				return s, 0, true
			}
			continue
		}
		return s, addr - s.Addr, true
	}
	return Symbol{}, 0, false
}

// Relocated returns t with every kernel-image address moved by delta
// (the KASLR slide). Absolute symbols and per-CPU offsets (small values)
// stay as they are. The copy is made when first needed.
func (t *Table) Relocated(delta uint64) *Table {
	return &Table{lazy: &lazyReloc{base: t.sorted(), delta: delta}}
}

func (t *Table) relocated(delta uint64) *Table {
	// One bulk copy, then only the addresses change: assigning whole
	// symbols would run the GC's write barrier for every name.
	out := make([]Symbol, len(t.byAddr))
	copy(out, t.byAddr)
	sorted := true
	for i := range out {
		s := &out[i]
		if relocates(*s) {
			s.Addr += delta
		}
		sorted = sorted && (i == 0 || out[i-1].Addr <= s.Addr)
	}
	if t.pos != nil { // a relocated table relocated again: index afresh
		return NewTable(out)
	}
	if sorted {
		// Every image address moved by the same delta, so the order and
		// the name index stay valid.
		return &Table{byAddr: out, hash: t.hash}
	}
	// Absolute symbols inside the image's range stay put while the rest
	// move: each group is still sorted, so one merge restores the order.
	var moved, still []int32
	for i, s := range t.byAddr {
		if relocates(s) {
			moved = append(moved, int32(i))
		} else {
			still = append(still, int32(i))
		}
	}
	r := &Table{byAddr: make([]Symbol, 0, len(out)), hash: t.hash, pos: make([]int32, len(out))}
	take := func(from *[]int32) {
		i := (*from)[0]
		*from = (*from)[1:]
		r.pos[i] = int32(len(r.byAddr))
		r.byAddr = append(r.byAddr, out[i])
	}
	for len(moved) > 0 || len(still) > 0 {
		switch {
		case len(still) == 0:
			take(&moved)
		case len(moved) == 0:
			take(&still)
		case out[still[0]].Addr < out[moved[0]].Addr ||
			(out[still[0]].Addr == out[moved[0]].Addr && still[0] < moved[0]):
			take(&still)
		default:
			take(&moved)
		}
	}
	return r
}

// SortStable returns s sorted stably by compare. It sorts indexes with
// pattern-defeating quicksort, which is linear on the nearly sorted
// symbol lists it gets, and moves each element once; the standard
// library's stable sorts move elements O(n log n) times.
func SortStable[E any](s []E, compare func(a, b *E) int) []E {
	idx := make([]int32, len(s))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		if c := compare(&s[a], &s[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	out := make([]E, len(s))
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}
