package vmcore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// corpusHeads returns the first 64 KiB of each uncompressed corpus dump
// whose name starts with prefix: real headers and notes as fuzz seeds.
// Only files already decompressed into the cache are used, so fuzzing
// never waits for decompression.
func corpusHeads(f *testing.F, prefix string) [][]byte {
	dir := os.Getenv("KCRASH_CORE_CACHE")
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return nil
		}
		dir = filepath.Join(d, "kcrash-cores")
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*", prefix+"*"))
	var out [][]byte
	for _, m := range matches {
		fh, err := os.Open(m)
		if err != nil {
			continue
		}
		b := make([]byte, 64<<10)
		n, _ := io.ReadFull(fh, b)
		fh.Close()
		out = append(out, b[:n])
	}
	return out
}

// checkDump exercises every accessor of a dump opened from fuzz input.
// A dump that opens must answer without panicking, and every read error
// must be one of the package's sentinels.
func checkDump(t *testing.T, data []byte) {
	d, err := New(bytes.NewReader(data), int64(len(data)), Options{CachePages: 8})
	if err != nil {
		if d != nil {
			t.Fatalf("non-nil dump with error %v", err)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("open error %v is neither ErrCorrupt nor ErrUnknownFormat", err)
		}
		return
	}
	_ = d.CPUs()
	_ = d.VMCOREINFO()
	_ = d.Warnings()
	buf := make([]byte, 64)
	rs := d.Ranges()
	for i, r := range rs {
		if i > 16 {
			break
		}
		for _, pa := range []PhysAddr{r.Start, r.End - 1, r.Start + PhysAddr(r.Len()/2)} {
			_, err := d.ReadAt(buf, pa)
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrExcluded) && !errors.Is(err, ErrNotInDump) {
				t.Fatalf("read %#x: unexpected error %v", pa, err)
			}
			_ = d.PageState(PFN(uint64(pa) / d.PageSize()))
		}
	}
	var total uint64
	for _, r := range rs {
		total += r.Len() / d.PageSize()
	}
	if total < 1<<16 {
		_, _ = d.CountPages(false)
	}
}

func FuzzELF(f *testing.F) {
	f.Add(sampleELF().build())
	// A compact seed: small inputs keep the fuzzer's minimisation cheap.
	small := sampleELF()
	small.phoff = 0
	for i := range small.loads {
		small.loads[i].data = small.loads[i].data[:64]
		small.loads[i].memsz = 0
	}
	small.loads[1].memsz = 0x3000
	f.Add(small.build())
	// The headers and notes of real dumps, when the corpus is at hand.
	for _, p := range corpusHeads(f, "vmcore") {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDump(t, data) })
}

func FuzzVMCOREINFO(f *testing.F) {
	f.Add([]byte(testVMCOREINFO))
	f.Add([]byte("SYMBOL(a)=ff\nNUMBER(b)=-0x10\n=\n(\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vi, err := ParseVMCOREINFO(data)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
		if vi != nil && len(vi.Keys) != len(vi.Values) {
			t.Fatalf("%d keys, %d values", len(vi.Keys), len(vi.Values))
		}
	})
}
