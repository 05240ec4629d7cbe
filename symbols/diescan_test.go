package symbols

import (
	"fmt"
	"testing"
	"time"
)

// TestFastIndexMatchesDebugDWARF builds the name index both ways on the
// corpus vmlinux and reports every name on which they differ.
func TestFastIndexMatchesDebugDWARF(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	v := openTestVmlinux(t, "")
	ty := v.Types()
	secs := mappedSections(t, v)
	ty.mu.Lock()
	d, err := ty.globalLocked()
	ty.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	units, err := scanUnits(secs)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := scanParallel(secs, units)
	nf := len(units)
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	slow, ns, err := buildIndex(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DIE scanner %v, debug/dwarf %v (%d units)", t1.Sub(t0), time.Since(t1), nf)
	if nf != ns {
		t.Errorf("units: scanner %d, debug/dwarf %d", nf, ns)
	}
	compareIndex(t, "struct", fast.structs, slow.structs)
	compareIndex(t, "union", fast.unions, slow.unions)
	compareIndex(t, "enum", fast.enums, slow.enums)
	compareIndex(t, "typedef", fast.typedefs, slow.typedefs)
	compareIndex(t, "base", fast.bases, slow.bases)
	compareIndex(t, "var", flatVars(fast.vars), flatVars(slow.vars))
	compareIndex(t, "decl var", fast.declVars, slow.declVars)
	compareIndex(t, "func", fast.funcs, slow.funcs)
	compareIndex(t, "enumerator", fast.enumVals, slow.enumVals)
}

func compareIndex[V comparable](t *testing.T, what string, fast, slow map[string]V) {
	t.Helper()
	bad := 0
	for k, v := range slow {
		if fv, ok := fast[k]; !ok {
			bad++
			if bad < 10 {
				t.Errorf("%s: scanner is missing %s", what, k)
			}
		} else if fv != v {
			bad++
			if bad < 10 {
				t.Errorf("%s %s: scanner %v, debug/dwarf %v", what, k, fv, v)
			}
		}
	}
	for k := range fast {
		if _, ok := slow[k]; !ok {
			bad++
			if bad < 10 {
				t.Errorf("%s: scanner has extra %s", what, k)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d differences in %d names", what, bad, len(slow))
	}
}

func flatVars(m map[string][]varEntry) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// TestScannerCorruptInput feeds the DIE scanner truncated and corrupted
// copies of the corpus vmlinux's first units: it must fail cleanly (and
// the index then falls back to debug/dwarf), never panic.
func TestScannerCorruptInput(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	secs := mappedSections(t, openTestVmlinux(t, ""))
	all, err := scanUnits(secs)
	if err != nil {
		t.Fatal(err)
	}
	end := len(secs.info)
	for _, u := range all {
		if u.end >= 1<<16 {
			end = u.end // whole units, so corruption reaches the DIEs
			break
		}
	}
	info := secs.info[:end]
	scanned := 0
	run := func(b []byte) {
		s := *secs
		s.info = b
		units, err := scanUnits(&s)
		if err != nil {
			return
		}
		ix := newTypeIndex()
		for i := range units {
			scanned++
			if units[i].abbrev, err = parseAbbrevs(s.abbrev, units[i].abbrevOff); err != nil {
				return
			}
			if ix.scanUnitFast(&s, &units[i]) != nil {
				return
			}
		}
	}
	for n := 0; n < len(info); n += 997 {
		run(info[:n])
	}
	buf := make([]byte, len(info))
	seed := uint32(1)
	for i := range 300 {
		copy(buf, info)
		for range 1 + i%8 {
			seed = seed*1664525 + 1013904223
			buf[int(seed>>8)%len(buf)] ^= byte(seed)
		}
		run(buf)
	}
	if scanned == 0 {
		t.Error("no unit was scanned: the test exercises nothing")
	}
}
