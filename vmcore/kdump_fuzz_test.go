package vmcore

import (
	"bytes"
	"errors"
	"testing"
)

// smallKdump is a compact dump for fuzzing: 64 frames, compressed pages
// only, so that the seed stays near 30 KB.
func smallKdump(t testing.TB) []byte {
	return kdumpSpec{
		maxPFN: 64,
		kind: func(pfn uint64) pageKind {
			switch {
			case pfn == 0, pfn >= 40 && pfn < 48:
				return kindNone
			case pfn%11 == 3:
				return kindExcluded
			case pfn%7 == 2:
				return kindZero
			}
			return kindPresent
		},
		comp: func(pfn uint64) uint32 {
			return []uint32{dumpCompressedZlib, dumpCompressedSnappy, dumpCompressedZstd, dumpCompressedLZO}[pfn%4]
		},
	}.build(t).buf
}

// fuzzKdumpCheck opens data and exercises the dump: nothing may panic,
// and every error must carry one of the package's sentinels.
func fuzzKdumpCheck(t *testing.T, data []byte) {
	d, err := New(bytes.NewReader(data), int64(len(data)), Options{CachePages: 4})
	if err != nil {
		if d != nil {
			t.Fatalf("dump returned with error %v", err)
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("open error %v is neither ErrCorrupt nor ErrUnknownFormat", err)
		}
		return
	}
	defer d.Close()
	_ = d.CPUs()
	_ = d.VMCOREINFO()
	_ = d.Warnings()
	_ = d.Kdump()
	ps := d.PageSize()
	if ps == 0 {
		t.Fatal("page size 0")
	}
	check := func(pa PhysAddr, n int) {
		buf := make([]byte, n)
		got, err := d.ReadAt(buf, pa)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrExcluded) && !errors.Is(err, ErrNotInDump) {
			t.Fatalf("read %#x: error without a sentinel: %v", pa, err)
		}
		if err == nil && got != n {
			t.Fatalf("read %#x: %d of %d bytes without an error", pa, got, n)
		}
		// The page's state and a read of its first byte must agree.
		st := d.PageState(PFN(uint64(pa) / ps))
		var one [1]byte
		_, err = d.ReadAt(one[:], pa/PhysAddr(ps)*PhysAddr(ps))
		switch {
		case st == PageZero && (err != nil || one[0] != 0):
			t.Fatalf("zero page %#x reads %v, %v", pa, one, err)
		case st == PagePresent && err != nil && !errors.Is(err, ErrCorrupt):
			t.Fatalf("present page %#x: %v", pa, err)
		case st == PageExcluded && !errors.Is(err, ErrExcluded):
			t.Fatalf("excluded page %#x: %v", pa, err)
		case st == PageNotDumped && !errors.Is(err, ErrNotInDump) && !errors.Is(err, ErrCorrupt):
			t.Fatalf("page %#x not dumped: %v", pa, err)
		}
	}
	rs := d.Ranges()
	var pages uint64
	for i, r := range rs {
		pages += r.Len() / ps
		if i < 4 || i == len(rs)-1 {
			check(r.Start, int(ps))
			check(r.End-1, 1)
			check(r.Start+PhysAddr(r.Len()/2), 3*int(ps))
		}
	}
	for _, r := range d.Missing() {
		check(r.Start, 8)
	}
	for pfn := uint64(0); pfn < 70; pfn += 3 {
		check(PhysAddr(pfn*ps), int(ps))
	}
	if pages < 1<<16 {
		if _, err := d.CountPages(false); err != nil {
			t.Fatalf("CountPages: %v", err)
		}
		if _, err := d.CountPages(true); err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrExcluded) {
			t.Fatalf("CountPages(true): %v", err)
		}
	}
}

func FuzzKdump(f *testing.F) {
	kd := smallKdump(f)
	f.Add(kd)
	f.Add(kd[:len(kd)/2])
	f.Add(kd[:len(kd)-100])
	f.Add(kdumpSpec{maxPFN: 64, sig: "DISKDUMP", noNotes: true}.build(f).buf)
	f.Add(kdumpSpec{maxPFN: 64, version: 3, vmcoreOff: true, status: dumpCompressedIncomplete, zeroDesc: 20,
		comp: func(uint64) uint32 { return dumpCompressedSnappy }}.build(f).buf)
	f.Fuzz(fuzzKdumpCheck)
}

func FuzzFlattened(f *testing.F) {
	kd := smallKdump(f)
	fl := flatten(kd, true)
	f.Add(fl)
	f.Add(fl[:len(fl)*2/3])
	f.Add(flattenInOrder(kd))
	f.Add(flatten(kd[:len(kd)/2], false))
	f.Fuzz(fuzzKdumpCheck)
}
