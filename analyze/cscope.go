package analyze

import (
	"debug/dwarf"

	"github.com/kcrash/kcrash/symbols"
)

// kernelScope evaluates expressions against the dump's memory and the
// vmlinux's debug info, at the addresses the kernel was loaded at.
type kernelScope struct {
	k  *Kernel
	ty *symbols.Types
}

// Scope returns the scope for evaluating C expressions; it needs the
// vmlinux's debug info.
func (k *Kernel) Scope() (Scope, error) {
	if k.vmlinux == nil {
		return nil, ErrNoTypes
	}
	return kernelScope{k, k.vmlinux.Types()}, nil
}

// Relocate moves a link-time kernel-image address by the KASLR slide;
// other addresses (per-CPU offsets) stay.
func (k *Kernel) Relocate(addr uint64) uint64 {
	if addr >= uint64(startKernelMap) {
		return addr + k.kaslr
	}
	return addr
}

// AddrName names a run-time kernel address as gdb would print it next
// to a pointer ("init_task+168"), or returns "".
func (k *Kernel) AddrName(addr uint64) string {
	if k.vmlinux == nil {
		return ""
	}
	n, err := k.vmlinux.AddrNamer(k.kaslr)
	if err != nil {
		return ""
	}
	return n.Name(addr)
}

func (s kernelScope) LookupVar(name string) (symbols.Var, error) {
	v, err := s.ty.LookupVar(name)
	if err != nil {
		return v, err
	}
	// gdb relocates every symbol by the KASLR slide, per-CPU offsets
	// included ("p &runqueues" shows the offset plus the slide).
	if v.PerCPU {
		v.Addr += s.k.kaslr
	} else {
		v.Addr = s.k.Relocate(v.Addr)
	}
	return v, nil
}

func (s kernelScope) LookupFunc(name string) (symbols.Func, error) {
	f, err := s.ty.LookupFunc(name)
	if err != nil {
		return f, err
	}
	f.Addr = s.k.Relocate(f.Addr)
	return f, nil
}

func (s kernelScope) LookupEnumerator(name string) (int64, *dwarf.EnumType, error) {
	return s.ty.LookupEnumerator(name)
}

func (s kernelScope) LookupType(name string) (dwarf.Type, error) { return s.ty.LookupType(name) }

func (s kernelScope) Read(p []byte, addr uint64) error {
	return s.k.ReadVirtual(p, VirtAddr(addr), "gdb request")
}

// PerCPUAddr returns CPU cpu's copy of the per-CPU variable at offset
// off: __per_cpu_offset[cpu] + off.
func (k *Kernel) PerCPUAddr(cpu int, off uint64) (uint64, error) {
	a, err := k.perCPUAddr(cpu, off)
	return uint64(a), err
}
