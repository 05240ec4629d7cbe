package symbols

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestPruneCacheDir: the most recently used files stay, the oldest go,
// and only stale temporary files are removed.
func TestPruneCacheDir(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	touch := func(name string, age time.Duration) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		touch("k"+strconv.Itoa(i)+".idx", time.Duration(i)*time.Hour)
	}
	touch("old.1.tmp", 2*time.Hour)
	touch("new.2.tmp", time.Minute) // maybe a session writing it now
	pruneCacheDir(dir, 3, now)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := []string{"k0.idx", "k1.idx", "k2.idx", "new.2.tmp"}
	if !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
}
