package symbols

import (
	"debug/dwarf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func openCached(t *testing.T, dir string) *Vmlinux {
	t.Helper()
	return openTestVmlinux(t, "", WithCache(dir))
}

// TestIndexCacheRoundTrip builds the index and symbol table of the
// corpus vmlinux, lets the session save them, and checks that a second
// session answers every name and address from the cache exactly as the
// built ones did.
func TestIndexCacheRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	dir := t.TempDir()
	v1 := openCached(t, dir)
	st1, err := v1.Types().Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st1.Cached {
		t.Fatal("first session claims a cached index in an empty directory")
	}
	built := v1.Types().lazy.ix
	syms1 := slices.Clone(v1.Symtab().All())
	types1 := map[string]string{}
	for _, name := range []string{"struct task_struct", "struct list_head", "pid_t", "unsigned long"} {
		if types1[name], err = typeLayout(v1, name); err != nil {
			t.Fatal(err)
		}
	}
	secs1 := slices.Clone(v1.SectionSymbols())
	units1 := slices.Clone(v1.Types().units)
	if err := v1.Close(); err != nil { // waits for the cache writes
		t.Fatal(err)
	}
	for _, p := range []string{indexCachePath(dir, v1.BuildID), symCachePath(dir, v1.BuildID)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("cache file not written: %v", err)
		}
	}

	v2 := openCached(t, dir)
	defer v2.Close()
	if v2.saveSyms != nil { // set only when the table was built from .symtab
		t.Error("second session read .symtab although the cache holds it")
	}
	if !slices.Equal(syms1, v2.Symtab().All()) {
		t.Error("cached symbol table differs from the built one")
	}
	if !slices.Equal(secs1, v2.SectionSymbols()) {
		t.Error("cached section symbols differ")
	}
	for _, s := range syms1 {
		a, ok1 := v1.Symtab().Lookup(s.Name)
		b, ok2 := v2.Symtab().Lookup(s.Name)
		if a != b || ok1 != ok2 {
			t.Fatalf("Lookup(%q): built %v %v, cached %v %v", s.Name, a, ok1, b, ok2)
		}
	}
	if _, ok := v2.Symtab().Lookup("no_such_symbol_anywhere"); ok {
		t.Error("cached table finds a symbol that does not exist")
	}
	st2, err := v2.Types().Stats()
	if err != nil {
		t.Fatal(err)
	}
	if !st2.Cached || st2.Names != st1.Names || st2.Units != st1.Units {
		t.Fatalf("second session: %+v, first %+v", st2, st1)
	}
	if !slices.Equal(units1, v2.Types().units) {
		t.Error("unit tables differ")
	}
	cached := v2.Types().ix
	checked := 0
	for tab := range nameTables {
		names, _ := built.records(tab)
		for _, n := range names {
			want, got := built.all(tab, n), cached.all(tab, n)
			if !slices.Equal(want, got) {
				t.Fatalf("table %d name %q: built %v, cached %v", tab, n, want, got)
			}
			checked++
		}
		if _, _, ok := cached.first(tab, "\xffnot a name"); ok {
			t.Errorf("table %d answers a name that is not there", tab)
		}
	}
	t.Logf("%d names, %d units, %d symbols agree", checked, len(units1), len(syms1))
	// Types decoded from the cached index are the built session's.
	for name, want := range types1 {
		got, err := typeLayout(v2, name)
		if err != nil || got != want {
			t.Errorf("%s from the cache: %q, %v; built: %q", name, got, err, want)
		}
	}
}

// typeLayout spells a type with its size and, for a struct, every
// member's name and offset: enough to tell two decodes apart.
func typeLayout(v *Vmlinux, name string) (string, error) {
	typ, err := v.Types().LookupType(name)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("%s %d", typ, typ.Size())
	if st, ok := typ.(*dwarf.StructType); ok {
		for _, f := range st.Field {
			s += fmt.Sprintf(" %s@%d", f.Name, f.ByteOffset)
		}
	}
	return s, nil
}

// TestIndexCacheRejectsBadFiles: a cache file that is truncated,
// corrupted, or made for another vmlinux is never used; the session
// builds its own index and answers correctly.
func TestIndexCacheRejectsBadFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	dir := t.TempDir()
	v := openCached(t, dir)
	if _, err := v.Types().Stats(); err != nil {
		t.Fatal(err)
	}
	v.Close()
	good, err := os.ReadFile(indexCachePath(dir, v.BuildID))
	if err != nil {
		t.Fatal(err)
	}
	goodSyms, err := os.ReadFile(symCachePath(dir, v.BuildID))
	if err != nil {
		t.Fatal(err)
	}
	key := indexKey{buildID: v.BuildID, fileSize: v.Types().fileSize, infoSize: uint64(len(v.Types().secs.info))}
	if _, err := decodeIndex(good, key); err != nil {
		t.Fatalf("the good file does not decode: %v", err)
	}
	flip := slices.Clone(good)
	flip[len(flip)/2] ^= 1
	other := key
	other.buildID = "00" + key.buildID[2:]
	for name, c := range map[string]struct {
		b   []byte
		key indexKey
	}{
		"truncated": {good[:len(good)/3], key},
		"flipped":   {flip, key},
		"empty":     {nil, key},
		"build-id":  {good, other},
		"size":      {good, indexKey{key.buildID, key.fileSize + 1, key.infoSize}},
	} {
		if _, err := decodeIndex(c.b, c.key); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	symFlip := slices.Clone(goodSyms)
	symFlip[len(symFlip)/2] ^= 1
	for name, b := range map[string][]byte{"truncated": goodSyms[:len(goodSyms)/2], "flipped": symFlip} {
		if _, _, err := decodeSymtab(b, indexKey{buildID: key.buildID, fileSize: key.fileSize}); err == nil {
			t.Errorf("symtab %s: accepted", name)
		}
	}
	// A corrupt file on disk: the next session rebuilds and still answers.
	if err := os.WriteFile(indexCachePath(dir, v.BuildID), flip, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(symCachePath(dir, v.BuildID), symFlip, 0o644); err != nil {
		t.Fatal(err)
	}
	v2 := openCached(t, dir)
	st, err := v2.Types().Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Cached {
		t.Error("a corrupt cache file was used")
	}
	if _, err := v2.Types().Struct("task_struct"); err != nil {
		t.Error(err)
	}
	if _, ok := v2.Symtab().Lookup("init_task"); !ok {
		t.Error("init_task not found after rejecting a corrupt symbol cache")
	}
	v2.Close()
	// ... and replaced the bad file with a good one.
	if b, _ := os.ReadFile(indexCachePath(dir, v.BuildID)); slices.Equal(b, flip) {
		t.Error("the corrupt index file was not rewritten")
	} else if _, err := decodeIndex(b, key); err != nil {
		t.Errorf("the rewritten index file does not decode: %v", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*", "*.tmp"))
	if len(tmps) > 0 {
		t.Errorf("temporary files left behind: %v", tmps)
	}
}

// TestLazyIndexMatchesFull: a fresh session that looks names up one by
// one, scanning units only as far as each needs, gets the same answer
// for each as the complete index; and the common types need only the
// first units.
func TestLazyIndexMatchesFull(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	full := openCached(t, "")
	defer full.Close()
	if _, err := full.Types().Stats(); err != nil {
		t.Fatal(err)
	}
	want := full.Types().lazy.ix

	lazy := openCached(t, "")
	defer lazy.Close()
	ty := lazy.Types()
	if _, err := ty.index(); err != nil {
		t.Fatal(err)
	}
	ty.lazy.stopReadAhead() // only lookups scan: the test counts units
	if _, err := ty.LookupType("struct task_struct"); err != nil {
		t.Fatal(err)
	}
	l := ty.lazy
	if l == nil || l.isDone() {
		t.Fatal("looking up task_struct scanned every unit")
	}
	t.Logf("task_struct after %d of %d units", l.next, len(l.units))
	checked := 0
	for tab := range nameTables {
		names, _ := want.records(tab)
		for i, n := range names {
			if i%7 != 0 || tab == tabVars || tab == tabDeclVars {
				continue // vars: LookupVar below
			}
			a, b, ok := want.first(tab, n)
			la, lb, lok := l.first(tab, n)
			if a != la || b != lb || ok != lok {
				t.Fatalf("table %d %q: full %#x %#x %v, lazy %#x %#x %v", tab, n, a, b, ok, la, lb, lok)
			}
			checked++
		}
	}
	for _, n := range []string{"init_task", "jiffies", "linux_banner", "jiffies_64", "per_cpu__current_task"} {
		v1, err1 := full.Types().LookupVar(n)
		v2, err2 := lazy.Types().LookupVar(n)
		if (err1 == nil) != (err2 == nil) || (err1 == nil && (v1.Addr != v2.Addr || v1.Type.String() != v2.Type.String())) {
			t.Errorf("LookupVar(%s): full %v %v, lazy %v %v", n, v1, err1, v2, err2)
		}
	}
	if _, _, ok := l.first(tabStructs, "no_such_struct_anywhere"); ok || !l.isDone() {
		t.Error("a missing name must scan everything and still be missing")
	}
	t.Logf("%d names agree", checked)
}

// TestPartialIndexCache: a session that scanned only the first units
// saves them; the next starts from them, scans on only when it must,
// and once complete agrees with a full index on every name.
func TestPartialIndexCache(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	dir := t.TempDir()
	v1 := openCached(t, dir)
	if _, err := v1.Types().Struct("task_struct"); err != nil {
		t.Fatal(err)
	}
	v1.Types().lazy.stopReadAhead()
	scanned := v1.Types().lazy.next
	if v1.Types().lazy.isDone() {
		t.Fatal("task_struct needed every unit")
	}
	v1.Close()

	v2 := openCached(t, dir)
	defer v2.Close()
	if _, err := v2.Types().Struct("task_struct"); err != nil {
		t.Fatal(err)
	}
	l := v2.Types().lazy
	if l == nil || l.base == nil || l.baseNext != scanned || l.next != scanned {
		t.Fatalf("second session did not start from the %d saved units (base %v, baseNext %d, next %d)", scanned, l != nil && l.base != nil, l.baseNext, l.next)
	}
	if _, err := v2.Types().Stats(); err != nil { // completes
		t.Fatal(err)
	}
	full := openCached(t, "")
	defer full.Close()
	if _, err := full.Types().Stats(); err != nil {
		t.Fatal(err)
	}
	want, got := full.Types().lazy.ix, l.merged()
	for tab := range nameTables {
		names, _ := want.records(tab)
		for _, n := range names {
			if w, g := want.all(tab, n), got.all(tab, n); !slices.Equal(w, g) {
				t.Fatalf("table %d %q: full %v, from partial cache %v", tab, n, w, g)
			}
		}
		if gn, _ := got.records(tab); len(gn) != len(names) {
			t.Errorf("table %d: %d names from the partial cache, %d in full", tab, len(gn), len(names))
		}
	}
}

// TestIndexCacheManyDefinitions: a table with more records than names
// (a variable defined in several units) round-trips; a decoder that
// sized the hash table by records rejected such files.
func TestIndexCacheManyDefinitions(t *testing.T) {
	ix := newTypeIndex()
	for i := range 3 {
		ix.vars[string(rune('a'+i))] = []varEntry{{typ: 1, addr: 1}, {typ: 2, addr: 2}, {typ: 3, addr: 3}, {typ: 4, addr: 4}}
	}
	key := indexKey{buildID: "ab", fileSize: 10, infoSize: 10}
	c, err := decodeIndex(encodeIndex(key, []unitSpan{{0, 10}}, 1, ix), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.all(tabVars, "b"); len(got) != 4 || got[3] != [2]uint64{4, 4} {
		t.Errorf("vars of b: %v", got)
	}
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
