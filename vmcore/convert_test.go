package vmcore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// writeTo writes d in format to a file under dir and returns its path.
func writeTo(t testing.TB, dir string, d *vmcore.Dump, format string, o vmcore.WriteOptions, lo vmcore.LKCDOptions) (string, vmcore.WriteStats, error) {
	t.Helper()
	path := filepath.Join(dir, "out."+format)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st vmcore.WriteStats
	switch format {
	case "elf":
		st, err = vmcore.WriteELF(f, d, o)
	case "kdump":
		st, err = vmcore.WriteKdump(f, d, vmcore.KdumpOptions{WriteOptions: o})
	case "lkcd":
		lo.WriteOptions = o
		st, err = vmcore.WriteLKCD(f, d, lo)
	default:
		t.Fatalf("format %q", format)
	}
	return path, st, err
}

var roundTripFormats = []struct {
	format string
	comp   vmcore.Compression
}{
	{"elf", vmcore.CompressNone},
	{"kdump", vmcore.CompressZlib},
	{"kdump", vmcore.CompressZstd},
	{"kdump", vmcore.CompressSnappy},
	{"kdump", vmcore.CompressNone},
	{"lkcd", vmcore.CompressZlib},
}

// TestConvertRoundTrip converts every corpus dump to every output format,
// re-opens the result and compares every page frame with the input:
// identical bytes, excluded pages still excluded (ELF, kdump), and the
// LKCD writer refusing a filtered dump unless asked to write its
// excluded pages as zeros.
func TestConvertRoundTrip(t *testing.T) {
	start := time.Now()
	for _, sc := range coretest.Scenarios(t) {
		for _, name := range coretest.Dumps(t, sc) {
			t.Run(sc+"/"+name, func(t *testing.T) {
				t.Parallel() // reading and comparing are serial per dump
				d := openCorpus(t, sc, name)
				counts, err := d.CountPages(false)
				if err != nil {
					t.Fatal(err)
				}
				formats := roundTripFormats
				if testing.Short() {
					formats = formats[:2]
				}
				for _, f := range formats {
					// The other compressions of kdump on the filtered ELF
					// only (excluded, zero and data pages, and cheap): the
					// page logic is shared.
					if f.format == "kdump" && f.comp != vmcore.CompressZlib && name != "vmcore-d31.elf" {
						continue
					}
					t.Run(f.format+"-"+string(f.comp), func(t *testing.T) {
						dir := t.TempDir()
						o := vmcore.WriteOptions{Compression: f.comp}
						path, st, err := writeTo(t, dir, d, f.format, o, vmcore.LKCDOptions{})
						co := vmcore.CompareOptions{}
						if f.format == "lkcd" && counts.Excluded > 0 {
							if !errors.Is(err, vmcore.ErrExcludedPages) {
								t.Fatalf("LKCD of a dump with %d excluded pages: err %v, want ErrExcludedPages", counts.Excluded, err)
							}
							path, st, err = writeTo(t, dir, d, f.format, o, vmcore.LKCDOptions{ExcludedAsZero: true})
							if err == nil && st.ExcludedAsZero != counts.Excluded {
								t.Errorf("stats say %d excluded pages written as zero, the dump has %d", st.ExcludedAsZero, counts.Excluded)
							}
							co.ExcludedAsZero = true
						}
						if err != nil {
							t.Fatal(err)
						}
						out, err := vmcore.Open(path, vmcore.Options{})
						if err != nil {
							t.Fatal(err)
						}
						defer out.Close()
						if w := out.Warnings(); len(w) > 0 {
							t.Errorf("warnings: %q", w)
						}
						cs, err := vmcore.Compare(d, out, co)
						if err != nil {
							t.Fatal(err)
						}
						if cs.Identical == 0 || cs.Frames != st.Frames {
							t.Errorf("compared %v; writer %v", cs, st)
						}
						checkCarried(t, d, out)
						t.Logf("%s: %v", f.format, cs)
					})
				}
			})
		}
	}
	t.Cleanup(func() { t.Logf("round trip: %v", time.Since(start)) })
}

// checkCarried checks that the copy keeps the CPUs' registers and the
// VMCOREINFO of the original.
func checkCarried(t *testing.T, d, out *vmcore.Dump) {
	t.Helper()
	if len(out.CPUs()) != len(d.CPUs()) {
		t.Fatalf("%d CPUs, want %d", len(out.CPUs()), len(d.CPUs()))
	}
	for i, c := range d.CPUs() {
		if out.CPUs()[i].Regs != c.Regs {
			t.Errorf("CPU %d registers differ", i)
		}
	}
	if vi := d.VMCOREINFO(); vi != nil {
		if ov := out.VMCOREINFO(); ov == nil || ov.Raw != vi.Raw {
			t.Errorf("VMCOREINFO not carried over")
		}
	}
}
