package vmcore_test

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// discardAt is an io.WriterAt that keeps nothing, so the benchmarks
// measure reading, compressing and laying out pages, not the disk.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// largestELF returns the largest ELF dump of the corpus.
func largestELF(b *testing.B) string {
	var best string
	var bestSize int64
	for _, sc := range coretest.Scenarios(b) {
		for _, name := range coretest.Dumps(b, sc) {
			if !strings.HasSuffix(name, ".elf") {
				continue
			}
			p := coretest.Path(b, sc+"/"+name)
			if st, err := os.Stat(p); err == nil && st.Size() > bestSize {
				best, bestSize = p, st.Size()
			}
		}
	}
	if best == "" {
		b.Skip("no ELF dump in the corpus")
	}
	return best
}

// BenchmarkConvert measures conversion throughput from the largest ELF
// dump of the corpus; MB/s counts the input's page bytes.
//
//	go test ./vmcore -run '^$' -bench Convert -benchtime 5x
func BenchmarkConvert(b *testing.B) {
	path := largestELF(b)
	d, err := vmcore.Open(path, vmcore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name  string
		write func() (vmcore.WriteStats, error)
	}{
		{"ELF-to-kdump-zlib", func() (vmcore.WriteStats, error) {
			return vmcore.WriteKdump(discardAt{}, d, vmcore.KdumpOptions{WriteOptions: vmcore.WriteOptions{Compression: vmcore.CompressZlib}})
		}},
		{"ELF-to-kdump-zlib-1worker", func() (vmcore.WriteStats, error) {
			return vmcore.WriteKdump(discardAt{}, d, vmcore.KdumpOptions{WriteOptions: vmcore.WriteOptions{Compression: vmcore.CompressZlib, Workers: 1}})
		}},
		{"ELF-to-kdump-zstd", func() (vmcore.WriteStats, error) {
			return vmcore.WriteKdump(discardAt{}, d, vmcore.KdumpOptions{WriteOptions: vmcore.WriteOptions{Compression: vmcore.CompressZstd}})
		}},
		{"ELF-to-LKCD", func() (vmcore.WriteStats, error) {
			return vmcore.WriteLKCD(io.Discard, d, vmcore.LKCDOptions{})
		}},
		{"ELF-to-ELF", func() (vmcore.WriteStats, error) {
			return vmcore.WriteELF(io.Discard, d, vmcore.WriteOptions{})
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var st vmcore.WriteStats
			for i := 0; i < b.N; i++ {
				if st, err = tc.write(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(st.BytesIn))
			b.ReportMetric(float64(st.BytesOut)/float64(st.BytesIn), "out/in")
		})
	}
}
