package symbols

import (
	"sort"
	"testing"
)

// TestFuncRangeLazyMatchesEager: reading only the units that cover an
// address finds the same function range as reading every unit, for
// every function start, middle and last byte in the corpus vmlinux.
func TestFuncRangeLazyMatchesEager(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	v := openTestVmlinux(t, "")
	d, _, err := v.sharedDWARF()
	if err != nil {
		t.Fatal(err)
	}
	all, err := readFuncRanges(d.Reader(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 1000 {
		t.Fatalf("only %d functions in the corpus vmlinux", len(all))
	}
	eager := func(pc uint64) (uint64, uint64, bool) {
		best := -1
		for i := sort.Search(len(all), func(i int) bool { return all[i].lo > pc }) - 1; i >= 0; i-- {
			if pc < all[i].hi {
				best = i
				break
			}
		}
		if best < 0 {
			return 0, 0, false
		}
		return all[best].lo, all[best].hi, true
	}
	checked, bad := 0, 0
	for i := 0; i < len(all); i += 5 {
		f := all[i]
		for _, pc := range []uint64{f.lo, f.lo + (f.hi-f.lo)/2, f.hi - 1} {
			lo, hi, ok := eager(pc)
			llo, lhi, lok, err := v.FuncRange(pc)
			if err != nil {
				t.Fatal(err)
			}
			if lo != llo || hi != lhi || ok != lok {
				if bad++; bad < 10 {
					t.Errorf("%#x: all units [%#x,%#x) %v, lazy [%#x,%#x) %v", pc, lo, hi, ok, llo, lhi, lok)
				}
			}
			checked++
		}
	}
	t.Logf("%d addresses, %d functions, %d differ", checked, len(all), bad)
}
