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
// dump (dumpinfo's zero-page count, a conversion, --verify) gives the
// mapping's pages back as it goes, so the resident size does not grow
// to the dump's size.
func TestPassOverEveryPageStaysBounded(t *testing.T) {
	path := coretest.Path(t, "qemu-4l/vmcore.elf")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := vmcore.Open(path, vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	before := rssFileKB(t)
	if _, err := d.CountPages(true); err != nil {
		t.Fatal(err)
	}
	grew := rssFileKB(t) - before
	limit := 2 * 64 << 10 // two rounds of dropResidentEvery pages, in kB
	t.Logf("dump %d MB, resident file pages grew by %d kB", st.Size()>>20, grew)
	if int64(limit) >= st.Size()>>10 {
		t.Skipf("the dump (%d kB) is too small to tell", st.Size()>>10)
	}
	if grew > limit {
		t.Errorf("reading every page left %d kB of the %d kB dump resident (limit %d kB)", grew, st.Size()>>10, limit)
	}
}
