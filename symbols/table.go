package symbols

import (
	"cmp"
	"errors"
	"slices"
	"sort"
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
	byAddr []Symbol // sorted by Addr, then Name
	byName map[string]int
}

// NewTable indexes syms. When several symbols share a name, Lookup
// returns the first global one (upper-case type), else the first.
func NewTable(syms []Symbol) *Table {
	s := append([]Symbol(nil), syms...)
	slices.SortStableFunc(s, func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) })
	t := &Table{byAddr: s, byName: make(map[string]int, len(s))}
	for i, sym := range s {
		if j, ok := t.byName[sym.Name]; ok && (isGlobal(s[j].Type) || !isGlobal(sym.Type)) {
			continue
		}
		t.byName[sym.Name] = i
	}
	return t
}

func isGlobal(c byte) bool { return c >= 'A' && c <= 'Z' }

// Len returns the number of symbols.
func (t *Table) Len() int { return len(t.byAddr) }

// All returns the symbols sorted by address.
func (t *Table) All() []Symbol { return t.byAddr }

// Lookup returns the symbol called name.
func (t *Table) Lookup(name string) (Symbol, bool) {
	i, ok := t.byName[name]
	if !ok {
		return Symbol{}, false
	}
	return t.byAddr[i], true
}

// ByAddr returns the symbol at or below addr and addr's offset from it.
// Absolute symbols and per-CPU offsets (small addresses) only match
// exactly, so a kernel address is never named "some_percpu_var+0xffff…".
func (t *Table) ByAddr(addr uint64) (Symbol, uint64, bool) {
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

// Relocated returns a copy of t with every kernel-image address moved
// by delta (the KASLR slide). Absolute symbols and per-CPU offsets
// (small values) stay as they are.
func (t *Table) Relocated(delta uint64) *Table {
	const kernelMap = 0xffffffff80000000
	out := make([]Symbol, len(t.byAddr))
	sorted := true
	for i, s := range t.byAddr {
		if s.Addr >= kernelMap && s.Type != 'a' && s.Type != 'A' {
			s.Addr += delta
		}
		out[i] = s
		sorted = sorted && (i == 0 || out[i-1].Addr <= s.Addr)
	}
	if !sorted { // absolute symbols inside the image range can fall out of order
		return NewTable(out)
	}
	// Every image address moved by the same delta, so the order and the
	// name index stay valid.
	return &Table{byAddr: out, byName: t.byName}
}
