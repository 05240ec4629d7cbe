// Package coretest gives tests access to the corpus of real dumps in
// testdata/cores: it finds the files, decompresses each .zst once into a
// cache directory shared by all test binaries, and loads the crash
// utility's golden outputs recorded beside them.
//
// Without the corpus, tests skip — unless KCRASH_REQUIRE_CORES=1 (CI),
// where a missing corpus fails, so oracle tests never pass vacuously.
package coretest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Root returns the corpus directory: $KCRASH_CORES_DIR, or testdata/cores
// at the module root.
func Root(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("KCRASH_CORES_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "cores")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("module root not found")
		}
		dir = parent
	}
}

func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("KCRASH_REQUIRE_CORES") == "1" {
		tb.Fatalf("corpus required (KCRASH_REQUIRE_CORES=1): %s", msg)
	}
	tb.Skip("corpus missing: " + msg)
}

// Scenarios returns the names of the corpus's crash scenarios (the
// directories holding a meta.json).
func Scenarios(tb testing.TB) []string {
	tb.Helper()
	root := Root(tb)
	matches, _ := filepath.Glob(filepath.Join(root, "*", "meta.json"))
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Base(filepath.Dir(m)))
	}
	if len(out) == 0 {
		missing(tb, "no scenario with a meta.json under %s", root)
	}
	sort.Strings(out)
	return out
}

// Dumps returns the dump file names of a scenario (without .zst).
func Dumps(tb testing.TB, scenario string) []string {
	tb.Helper()
	dir := filepath.Join(Root(tb), scenario)
	matches, _ := filepath.Glob(filepath.Join(dir, "vmcore*"))
	seen := map[string]bool{}
	var out []string
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".zst")
		switch filepath.Ext(name) {
		case ".txt", ".json", ".tsv", ".log":
			continue // notes the corpus script keeps beside the dumps
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	// Derivable dumps whose goldens are committed count too.
	goldenDirs, _ := filepath.Glob(filepath.Join(dir, "oracle", "crash", "*"))
	for _, g := range goldenDirs {
		name := filepath.Base(g)
		if _, err := derivable(filepath.Dir(dir), scenario, name); err == nil && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		missing(tb, "no dumps in %s", dir)
	}
	sort.Strings(out)
	return out
}

var decompressMu sync.Mutex

// Path returns a readable path for a corpus file given relative to the
// corpus root ("qemu-4l/vmcore.elf"): the file itself when it is stored
// uncompressed, else its .zst decompressed into the cache.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Root(tb), rel)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	z := p + ".zst"
	if _, err := os.Stat(z); err != nil {
		// A dump the corpus script derived from a committed one is
		// remade rather than stored (meta.json says how).
		scenario, name := filepath.Dir(rel), filepath.Base(rel)
		if d, derr := derivable(Root(tb), scenario, name); derr == nil {
			src := Path(tb, filepath.Join(scenario, "vmcore.elf"))
			decompressMu.Lock()
			defer decompressMu.Unlock()
			out, err := derive(Root(tb), scenario, name, src, d)
			if err != nil {
				tb.Fatalf("deriving %s: %v", rel, err)
			}
			return out
		}
		missing(tb, "neither %s nor %s.zst", rel, rel)
	}
	decompressMu.Lock()
	defer decompressMu.Unlock()
	out, err := cached(z, filepath.Base(p))
	if err != nil {
		tb.Fatalf("decompressing %s: %v", z, err)
	}
	return out
}

// CacheDir is where decompressed corpus files live.
func CacheDir() (string, error) {
	if d := os.Getenv("KCRASH_CORE_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "kcrash-cores"), nil
}

// cached decompresses z into the cache under a name keyed by the hash of
// the compressed file, so a changed corpus never reuses a stale copy.
// Writing to a temporary file and renaming keeps concurrent test binaries
// from seeing a half-written file.
func cached(z, name string) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	sum, err := FileSHA256(z)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, sum[:16], name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	in, err := os.Open(z)
	if err != nil {
		return "", err
	}
	defer in.Close()
	// The corpus is compressed with zstd --long=27: allow that window.
	dec, err := zstd.NewReader(in, zstd.WithDecoderMaxWindow(1<<31), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return "", err
	}
	defer dec.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), name+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, dec); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return out, os.Rename(tmp.Name(), out)
}

// FileSHA256 returns the hex sha256 of a file, as meta.json and the
// recorded golden sets name the dumps they belong to.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Golden is one command's recorded output from the crash utility.
type Golden struct {
	Command string
	Output  string
	File    string // path of the golden file, for messages
}

// Goldens loads crash's recorded outputs for one dump of a scenario
// (oracle/crash/<dump>/index.tsv: "file<TAB>command" lines).
func Goldens(tb testing.TB, scenario, dump string) []Golden {
	tb.Helper()
	dir := filepath.Join(Root(tb), scenario, "oracle", "crash", dump)
	f, err := os.Open(filepath.Join(dir, "index.tsv"))
	if err != nil {
		missing(tb, "no crash goldens for %s/%s", scenario, dump)
	}
	defer f.Close()
	var out []Golden
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		file, cmd, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			tb.Fatalf("golden %s: %v", file, err)
		}
		out = append(out, Golden{Command: cmd, Output: string(b), File: filepath.Join(scenario, "oracle", "crash", dump, file)})
	}
	return out
}
