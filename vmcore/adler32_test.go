package vmcore

import (
	"bytes"
	stdadler "hash/adler32"
	"math/rand/v2"
	"testing"
)

func TestAdler32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	bufs := [][]byte{nil, {0}, {0xff}, bytes.Repeat([]byte{0xff}, 1<<16+13), make([]byte, 4096)}
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 4096, 5551, 5552, 5553, 11104, 11105, 65536, 100003} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		bufs = append(bufs, b)
	}
	for _, b := range bufs {
		if got, want := adler32(b), stdadler.Checksum(b); got != want {
			t.Errorf("%d bytes: adler32 %#08x, hash/adler32 %#08x", len(b), got, want)
		}
	}
}

func FuzzAdler32(f *testing.F) {
	f.Add([]byte("Wikipedia"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := adler32(b), stdadler.Checksum(b); got != want {
			t.Errorf("%x: adler32 %#08x, hash/adler32 %#08x", b, got, want)
		}
	})
}

func BenchmarkAdler32(b *testing.B) {
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte(i * 7)
	}
	b.Run("vmcore", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			adler32(page)
		}
	})
	b.Run("hash-adler32", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		for b.Loop() {
			stdadler.Checksum(page)
		}
	})
}
