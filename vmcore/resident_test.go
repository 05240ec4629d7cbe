package vmcore_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// rssFileKB is the process's resident file-backed memory (the mapped
// dump), from /proc/self/status.
func rssFileKB(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestPassOverEveryPageStaysBounded: reading every page of a mapped
// dump (dumpinfo's zero-page count; Pages, under conversions and
// --verify) gives the
// mapping's pages back as it goes, so the resident size does not grow
// to the dump's size.
func TestPassOverEveryPageStaysBounded(t *testing.T) {
	path := coretest.Path(t, "qemu-4l/vmcore.elf")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if limit := 2 * 64 << 10; int64(limit) >= st.Size()>>10 { // two rounds of dropResidentEvery pages, in kB
		t.Skipf("the dump (%d kB) is too small to tell", st.Size()>>10)
	}
	for _, pass := range []struct {
		name string
		run  func(d *vmcore.Dump) error
	}{
		{"CountPages", func(d *vmcore.Dump) error { _, err := d.CountPages(true); return err }},
		{"Pages", func(d *vmcore.Dump) error {
			for _, err := range d.Pages() {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	} {
		// A fresh mapping for each pass: what an earlier one left
		// resident would hide this one's growth.
		d, err := vmcore.Open(path, vmcore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		before := rssFileKB(t)
		err = pass.run(d)
		grew := rssFileKB(t) - before
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s over a %d MB dump: resident file pages grew by %d kB", pass.name, st.Size()>>20, grew)
		if limit := 2 * 64 << 10; grew > limit {
			t.Errorf("%s left %d kB of the %d kB dump resident (limit %d kB)", pass.name, grew, st.Size()>>10, limit)
		}
	}
}
