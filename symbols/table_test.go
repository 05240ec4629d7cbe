package symbols

import (
	"cmp"
	"slices"
	"testing"
)

// TestRelocated: a relocated table answers names without copying the
// symbols, with the same answers as its copy; the copy is in address
// order with absolute symbols inside the image's range and per-CPU
// offsets left where they were, and relocating twice adds up.
func TestRelocated(t *testing.T) {
	const delta = 0x2a00000
	base := NewTable([]Symbol{
		{Name: "per_cpu_x", Addr: 0x100, Type: 'D'},
		{Name: "_text", Addr: 0xffffffff81000000, Type: 'T'},
		{Name: "abs_in_image", Addr: 0xffffffff81800000, Type: 'A'},
		{Name: "f", Addr: 0xffffffff81000100, Type: 't'},
		{Name: "f", Addr: 0xffffffff81000200, Type: 'T'}, // the global one is Lookup's
		{Name: "jiffies", Addr: 0xffffffff82000000, Type: 'D'},
	})
	r := base.Relocated(delta)
	if r.lazy == nil || r.lazy.t != nil {
		t.Fatal("Relocated copied the symbols at once")
	}
	want := map[string]uint64{
		"per_cpu_x": 0x100, "_text": 0xffffffff81000000 + delta, "abs_in_image": 0xffffffff81800000,
		"f": 0xffffffff81000200 + delta, "jiffies": 0xffffffff82000000 + delta,
	}
	for name, addr := range want {
		if s, ok := r.Lookup(name); !ok || s.Addr != addr {
			t.Errorf("lazy Lookup(%q) = %#x %v, want %#x", name, s.Addr, ok, addr)
		}
	}
	if r.Len() != 6 || r.lazy.t != nil {
		t.Fatalf("Len %d; lookups copied the symbols: %v", r.Len(), r.lazy.t != nil)
	}
	all := r.All()
	if !slices.IsSortedFunc(all, func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) }) {
		t.Errorf("relocated symbols out of order: %v", all)
	}
	for name, addr := range want { // the same answers once copied
		if s, ok := r.Lookup(name); !ok || s.Addr != addr {
			t.Errorf("Lookup(%q) after the copy = %#x %v, want %#x", name, s.Addr, ok, addr)
		}
	}
	if s, off, ok := r.ByAddr(0xffffffff82000008 + delta); !ok || s.Name != "jiffies" || off != 8 {
		t.Errorf("ByAddr: %v+%d %v", s, off, ok)
	}
	if s, _ := r.Relocated(0x1000).Lookup("jiffies"); s.Addr != 0xffffffff82000000+delta+0x1000 {
		t.Errorf("relocated twice: %#x", s.Addr)
	}
	if s, _ := base.Lookup("jiffies"); s.Addr != 0xffffffff82000000 {
		t.Errorf("the base table changed: %#x", s.Addr)
	}
}
