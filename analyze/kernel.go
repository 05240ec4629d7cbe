package analyze

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

// VirtAddr is a kernel (or user) virtual address of the crashed machine.
type VirtAddr uint64

// x86_64 constants that do not move with KASLR
// (arch/x86/include/asm/page_64_types.h).
const (
	startKernelMap VirtAddr = 0xffffffff80000000 // __START_KERNEL_map
	kernelImageMax          = 1 << 30            // KERNEL_IMAGE_SIZE with RANDOMIZE_BASE
)

// Kernel is the crashed kernel as seen through one dump.
type Kernel struct {
	dump *vmcore.Dump
	vi   *vmcore.VMCoreInfo

	// physBase is where the kernel image was loaded relative to its link
	// address (phys_base), and kaslr the virtual KASLR slide.
	physBase int64
	kaslr    uint64

	kallsyms kallsymsCache

	xlat translator

	vmlinux   *symbols.Vmlinux
	symtabOne sync.Once
	symtab    *symbols.Table

	taskCache taskCache // tasks.go
	mmCache   mmCache   // mm.go

	unwind unwindCache // ORC tables and stack ranges: unwind.go
}

// Config carries what the user may tell when the dump cannot.
type Config struct {
	PhysBase    *int64  // overrides NUMBER(phys_base)
	KASLROffset *uint64 // overrides KERNELOFFSET
	// Vmlinux, when given, supplies symbols (and later types). It must be
	// the build that crashed unless Force is set.
	Vmlinux *symbols.Vmlinux
	Force   bool
}

// ErrMismatch: the vmlinux is not the kernel that crashed.
var ErrMismatch = errors.New("vmlinux does not match the dump")

// Open builds the kernel model for d.
func Open(d *vmcore.Dump, cfg Config) (*Kernel, error) {
	k := &Kernel{dump: d, vi: d.VMCOREINFO()}
	if k.vi != nil {
		k.physBase = k.vi.PhysBase
		k.kaslr = k.vi.KernelOffset
	}
	if hdr := d.Kdump(); hdr != nil && (k.vi == nil || !k.vi.HasPhysBase) {
		k.physBase = int64(hdr.PhysBase)
	}
	if cfg.PhysBase != nil {
		k.physBase = *cfg.PhysBase
	}
	if cfg.KASLROffset != nil {
		k.kaslr = *cfg.KASLROffset
	}
	if cfg.Vmlinux != nil {
		if err := checkMatch(cfg.Vmlinux, k.vi); err != nil && !cfg.Force {
			return nil, err
		}
		k.vmlinux = cfg.Vmlinux
	}
	if (k.vi == nil || !k.vi.HasKernelOffset) && cfg.KASLROffset == nil && k.vmlinux != nil {
		// No VMCOREINFO (a QEMU dump of a guest that did not publish it):
		// recover the slide and phys_base from the CPU state, as crash does.
		if kaslr, pb, err := k.deriveFromQEMU(); err == nil {
			k.kaslr = kaslr
			if cfg.PhysBase == nil {
				k.physBase = pb
			}
		}
	}
	return k, nil
}

// checkMatch compares the vmlinux's build-id (or, without one, its
// release) with what the crashed kernel recorded in VMCOREINFO.
func checkMatch(v *symbols.Vmlinux, vi *vmcore.VMCoreInfo) error {
	if vi == nil {
		return nil // nothing to compare against; crash's banner check comes with virtual reads
	}
	describe := func(rel, id string) string {
		if id == "" {
			id = "none"
		}
		return fmt.Sprintf("%s (build-id %s)", rel, id)
	}
	mismatch := vi.BuildID != "" && v.BuildID != "" && vi.BuildID != v.BuildID
	if vi.BuildID == "" || v.BuildID == "" {
		mismatch = vi.OSRelease != "" && v.Release != "" && vi.OSRelease != v.Release
	}
	if mismatch {
		return fmt.Errorf("%w: %s is %s, the dump's kernel is %s (use --force to go on)",
			ErrMismatch, v.Path, describe(v.Release, v.BuildID), describe(vi.OSRelease, vi.BuildID))
	}
	return nil
}

// Vmlinux returns the kernel image given by the user, or nil.
func (k *Kernel) Vmlinux() *symbols.Vmlinux { return k.vmlinux }

// Dump returns the dump the kernel was read from.
func (k *Kernel) Dump() *vmcore.Dump { return k.dump }

// VMCOREINFO returns the dump's VMCOREINFO, or nil.
func (k *Kernel) VMCOREINFO() *vmcore.VMCoreInfo { return k.vi }

// PhysBase returns phys_base.
func (k *Kernel) PhysBase() int64 { return k.physBase }

// KASLROffset returns the KASLR slide of the kernel image.
func (k *Kernel) KASLROffset() uint64 { return k.kaslr }

// ReadPhys reads physical memory.
func (k *Kernel) ReadPhys(p []byte, pa vmcore.PhysAddr) (int, error) {
	return k.dump.ReadAt(p, pa)
}

// FaultError is a failed virtual read: the address, what was being read,
// and why (wrapping vmcore.ErrExcluded, vmcore.ErrNotInDump, …).
type FaultError struct {
	Addr VirtAddr
	What string
	Err  error
}

func (e *FaultError) Error() string {
	if e.What != "" {
		return fmt.Sprintf("reading %s at %#x: %v", e.What, uint64(e.Addr), e.Err)
	}
	return fmt.Sprintf("virtual address %#x: %v", uint64(e.Addr), e.Err)
}

func (e *FaultError) Unwrap() error { return e.Err }

// kernelImagePhys translates an address of the kernel image mapping
// (text, data, bss) without page tables:
// pa = va - __START_KERNEL_map + phys_base.
func (k *Kernel) kernelImagePhys(va VirtAddr) (vmcore.PhysAddr, bool) {
	if va < startKernelMap || va-startKernelMap >= kernelImageMax {
		return 0, false
	}
	return vmcore.PhysAddr(int64(va-startKernelMap) + k.physBase), true
}

// ReadKernelImage reads from the kernel image mapping, which needs no
// page-table walk and so works before (and for) everything else.
func (k *Kernel) ReadKernelImage(p []byte, va VirtAddr, what string) error {
	pa, ok := k.kernelImagePhys(va)
	end, ok2 := k.kernelImagePhys(va + VirtAddr(max(len(p), 1)-1))
	if !ok || !ok2 || end < pa {
		return &FaultError{Addr: va, What: what, Err: fmt.Errorf("not in the kernel image mapping")}
	}
	if _, err := k.dump.ReadAt(p, pa); err != nil {
		return &FaultError{Addr: va, What: what, Err: err}
	}
	return nil
}
