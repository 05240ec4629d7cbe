package vmcore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// BenchmarkReadAllPages reads every page of each corpus dump once, the
// work a conversion or a full-memory search does. Bytes/s counts the
// pages actually returned (excluded pages cost a bitmap look-up only).
//
// KCRASH_BENCH_DUMPS (space-separated paths) benchmarks other dumps
// instead of the corpus, e.g. bench/readall.sh's distro-kernel dumps.
func BenchmarkReadAllPages(b *testing.B) {
	var paths, names []string
	if env := os.Getenv("KCRASH_BENCH_DUMPS"); env != "" {
		for _, p := range strings.Fields(env) {
			paths, names = append(paths, p), append(names, filepath.Base(p))
		}
	} else {
		for _, sc := range coretest.Scenarios(b) {
			for _, name := range coretest.Dumps(b, sc) {
				paths, names = append(paths, coretest.Path(b, sc+"/"+name)), append(names, sc+"/"+name)
			}
		}
	}
	for i, path := range paths {
		{
			b.Run(names[i], func(b *testing.B) {
				var bytes int64
				for i := 0; i < b.N; i++ {
					// A fresh open each round, so the page cache starts cold.
					d, err := vmcore.Open(path, vmcore.Options{CachePages: 64})
					if err != nil {
						b.Fatal(err)
					}
					bytes = readAll(b, d)
					d.Close()
				}
				b.SetBytes(bytes)
			})
		}
	}
}

func readAll(b *testing.B, d *vmcore.Dump) int64 {
	ps := d.PageSize()
	buf := make([]byte, ps)
	var n int64
	for _, r := range d.Ranges() {
		for a := uint64(r.Start) &^ (ps - 1); a < uint64(r.End); a += ps {
			_, err := d.ReadAt(buf, vmcore.PhysAddr(a))
			switch {
			case err == nil:
				n += int64(ps)
			case errors.Is(err, vmcore.ErrExcluded), errors.Is(err, vmcore.ErrNotInDump):
			default:
				b.Fatalf("%#x: %v", a, err)
			}
		}
	}
	return n
}
