package vmcore_test

import (
	"errors"
	"os"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/vmcore"
)

// TestReadAfterClose: a read after Close (a closure kept past its
// dump's life) fails with os.ErrClosed instead of faulting on the
// unmapped file.
func TestReadAfterClose(t *testing.T) {
	d, err := vmcore.Open(coretest.Path(t, "qemu-4l/vmcore-d31-zstd.kdump"), vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pa vmcore.PhysAddr
	for pg, err := range d.Pages() {
		if err == nil && pg.State == vmcore.PagePresent {
			pa = vmcore.PhysAddr(uint64(pg.PFN) * 4096)
			break
		}
	}
	buf := make([]byte, 8)
	if _, err := d.ReadAt(buf, pa); err != nil {
		t.Fatalf("before Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadAt(buf, pa); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("after Close: %v, want os.ErrClosed", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
