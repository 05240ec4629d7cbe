package vmcore

import (
	"bytes"
	"testing"
)

// FuzzLKCD opens fuzzed LKCD files. Seeds are the writer's own output
// (v8 with kcrash's notes, v9 without, zlib and raw pages) and a
// hand-made RLE file, so the fuzzer starts from valid headers, asm
// headers and page records. It asserts what checkDump asserts: no panic,
// error ⇔ nil dump, sentinel errors only.
//
//	go test ./vmcore -run '^$' -fuzz '^FuzzLKCD$' -fuzztime 3m
func FuzzLKCD(f *testing.F) {
	d := sampleDump(f)
	for _, lo := range []LKCDOptions{
		{ExcludedAsZero: true},
		{ExcludedAsZero: true, Version: 9, OmitNotes: true},
		{ExcludedAsZero: true, WriteOptions: WriteOptions{Compression: CompressNone}},
	} {
		var m memFile
		if _, err := WriteLKCD(&m, d, lo); err != nil {
			f.Fatal(err)
		}
		f.Add(m.b)
		// A compact variant: the header and the first records only,
		// without the 64 KiB of padding, which minimisation would spend
		// its time on.
		if len(m.b) > lkcdFirstPageV8+200 && lo.Version != 9 {
			small := append([]byte(nil), m.b[:2048]...)
			small = append(small, m.b[lkcdFirstPageV8:lkcdFirstPageV8+200]...)
			f.Add(small)
		}
	}
	f.Add(synthLKCD{version: 8, compress: lkcdCompressRLE, cpus: 1, recs: []lkcdRec{
		{0x1000, lkcdCompressed, []byte{0, 255, 1, 0, 0, 7}}, {0x2000, lkcdRaw, nil}}}.build())
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDump(t, data)
		// Pages must visit each frame once, in order, without panicking.
		if dd, err := New(bytes.NewReader(data), int64(len(data)), Options{CachePages: 8}); err == nil {
			last, n := PFN(0), 0
			for p, err := range dd.Pages() {
				if err != nil {
					break
				}
				if n > 0 && p.PFN <= last {
					t.Fatalf("pfn %#x after %#x", p.PFN, last)
				}
				if last, n = p.PFN, n+1; n > 1<<16 {
					break
				}
			}
		}
	})
}
