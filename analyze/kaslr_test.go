package analyze_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

// patchedReader serves a file with some bytes replaced, so a test can
// corrupt or hide part of a real dump without copying it.
type patchedReader struct {
	r     io.ReaderAt
	off   int64
	patch []byte
}

func (p *patchedReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.r.ReadAt(b, off)
	for i := 0; i < n; i++ {
		if j := off + int64(i) - p.off; j >= 0 && j < int64(len(p.patch)) {
			b[i] = p.patch[j]
		}
	}
	return n, err
}

// TestKASLRWithoutVMCOREINFO hides the VMCOREINFO note of a QEMU dump and
// checks that the KASLR offset and phys_base are recovered from the CPU
// state (IDTR, CR3) and the vmlinux, equal to what VMCOREINFO said.
func TestKASLRWithoutVMCOREINFO(t *testing.T) {
	path := coretest.Path(t, "qemu-4l/vmcore.elf")
	vpath := coretest.Path(t, "kernel/vmlinux")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	head := make([]byte, 1<<16)
	io.ReadFull(f, head)
	at := bytes.Index(head, []byte("VMCOREINFO\x00"))
	if at < 0 {
		t.Fatal("no VMCOREINFO note in the first 64 KiB")
	}
	want, err := vmcore.New(f, st.Size(), vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := vmcore.New(&patchedReader{r: f, off: int64(at), patch: []byte("XMCOREINFO")}, st.Size(), vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if hidden.VMCOREINFO() != nil {
		t.Fatal("VMCOREINFO still found")
	}
	vf, err := os.Open(vpath)
	if err != nil {
		t.Fatal(err)
	}
	v, err := symbols.OpenVmlinux(vf, vf, vpath)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	k, err := analyze.Open(hidden, analyze.Config{Vmlinux: v})
	if err != nil {
		t.Fatal(err)
	}
	vi := want.VMCOREINFO()
	if k.KASLROffset() != vi.KernelOffset || k.PhysBase() != vi.PhysBase {
		t.Errorf("derived KASLR %#x phys_base %#x; VMCOREINFO says %#x, %#x",
			k.KASLROffset(), k.PhysBase(), vi.KernelOffset, vi.PhysBase)
	}
	// And the kernel is readable through them: linux_banner says Linux.
	s, _ := v.Symtab().Lookup("linux_banner")
	b := make([]byte, 13)
	if err := k.ReadVirtual(b, analyze.VirtAddr(s.Addr+k.KASLROffset()), "linux_banner"); err != nil || string(b) != "Linux version" {
		t.Errorf("linux_banner reads %q, %v", b, err)
	}
}
