package commands

import (
	"maps"
	"slices"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/internal/testkernel"
	"github.com/kcrash/kcrash/symbols"
)

// TestSymViewUnsortedMatchesList checks the answers symView gives
// before it sorts (kernelByName, and search's one-pass around) against
// the sorted list, on a real kernel's symbols, with the vmlinux and
// from the dump's kallsyms alone: every name the list holds more than
// once (clones whose suffix crash strips, aliases) and every 25th of
// the others, and the value
// of every 150th symbol with its neighbours.
func TestSymViewUnsortedMatchesList(t *testing.T) {
	sc := coretest.Scenarios(t)[0]
	dump := coretest.Dumps(t, sc)[0]
	for _, withVmlinux := range []bool{true, false} {
		k := testkernel.Corpus(t, sc, dump, withVmlinux)
		fresh := func() *symView {
			v, err := newSymView(k)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		sorted := fresh()
		list := sorted.syms()
		if len(list) < 1000 {
			t.Fatalf("vmlinux %v: only %d symbols", withVmlinux, len(list))
		}
		byName := map[string][]symbols.Symbol{}
		for _, s := range list {
			byName[s.Name] = append(byName[s.Name], s)
		}
		unsorted := fresh()
		names := 0
		keys := slices.Sorted(maps.Keys(byName))
		for i, name := range keys {
			want := byName[name]
			if len(want) == 1 && i%25 != 0 {
				continue // every name found more than once, a sample of the others
			}
			if got := unsorted.kernelByName(name); !slices.Equal(got, want) {
				t.Errorf("vmlinux %v: kernelByName(%q) = %v, the list has %v", withVmlinux, name, got, want)
			}
			names++
		}
		if unsorted.list != nil {
			t.Fatal("kernelByName built the sorted list")
		}
		if got := unsorted.kernelByName("no_such_symbol_anywhere"); len(got) != 0 {
			t.Errorf("vmlinux %v: a missing name found %v", withVmlinux, got)
		}
		addrs := 0
		for i := 0; i < len(list); i += 150 {
			for _, a := range []uint64{list[i].Addr - 1, list[i].Addr, list[i].Addr + 1} {
				v := fresh() // a fresh view answers from one pass
				gotS, gotOff, gotOK := v.search(a)
				if v.list != nil {
					t.Fatal("search on a fresh view built the sorted list")
				}
				wantS, wantOff, wantOK := sorted.search(a)
				if gotS != wantS || gotOff != wantOff || gotOK != wantOK {
					t.Errorf("vmlinux %v: search(%#x) = %v+%d %v unsorted, %v+%d %v sorted",
						withVmlinux, a, gotS, gotOff, gotOK, wantS, wantOff, wantOK)
				}
				if v.inRange(a) != sorted.inRange(a) {
					t.Errorf("vmlinux %v: inRange(%#x) differs", withVmlinux, a)
				}
				addrs++
			}
			if t.Failed() {
				break
			}
		}
		t.Logf("vmlinux %v: %d names and %d values agree", withVmlinux, names, addrs)
	}
}
