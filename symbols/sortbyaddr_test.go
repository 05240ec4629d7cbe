package symbols

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// TestSortByAddr compares the radix sort with the standard library's
// stable sort on tables shaped like a kernel's (per-CPU offsets near 0,
// the image near 0xffffffff81000000, duplicates kept in input order)
// and on edge cases.
func TestSortByAddr(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kernelLike := func(n int) []Symbol {
		s := make([]Symbol, n)
		for i := range s {
			var a uint64
			switch rng.IntN(4) {
			case 0:
				a = uint64(rng.IntN(0x30000)) // per-CPU
			case 1:
				a = 0xffffffff81000000 + uint64(rng.IntN(64)) // many at few addresses
			default:
				a = 0xffffffff81000000 + uint64(rng.IntN(0x3000000))
			}
			s[i] = Symbol{Name: "s" + strconv.Itoa(i), Addr: a, Type: 't'}
		}
		return s
	}
	for name, in := range map[string][]Symbol{
		"kernel-like": kernelLike(50000),
		"empty":       nil,
		"one":         {{Name: "a", Addr: 5}},
		"same addr":   {{Name: "b", Addr: 7}, {Name: "a", Addr: 7}, {Name: "c", Addr: 7}},
		"extremes":    {{Name: "max", Addr: ^uint64(0)}, {Name: "zero", Addr: 0}, {Name: "mid", Addr: 1 << 32}, {Name: "zero2", Addr: 0}},
		"sorted":      {{Name: "a", Addr: 1}, {Name: "b", Addr: 2}},
	} {
		want := slices.Clone(in)
		slices.SortStableFunc(want, func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) })
		got := sortByAddr(slices.Clone(in))
		if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
			t.Errorf("%s: radix sort differs from a stable sort", name)
		}
	}
}
