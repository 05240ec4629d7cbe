package vmcore

import (
	"bytes"
	"errors"
	"testing"
)

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
	s := sampleELF()
	s.phoff = 0
	f.Add(s.build())
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
