package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kcrash/kcrash/vmcore"
)

// deriveFromQEMU finds the KASLR slide and phys_base of a QEMU-made dump
// that carries no VMCOREINFO (the guest did not publish it through
// fw_cfg), the way crash's kaslr_helper does: the IDT register holds the
// runtime address of idt_table, whose link-time address the vmlinux
// knows; the page tables at CR3 then give its physical address.
func (k *Kernel) deriveFromQEMU() (kaslr uint64, physBase int64, err error) {
	if k.vmlinux == nil {
		return 0, 0, errors.New("needs the vmlinux")
	}
	cpus := k.dump.CPUs()
	if len(cpus) == 0 || cpus[0].QEMU == nil {
		return 0, 0, errors.New("no QEMU cpu-state note")
	}
	q := cpus[0].QEMU
	idt, ok := k.vmlinux.Symtab().Lookup("idt_table")
	if !ok {
		return 0, 0, errors.New("vmlinux has no idt_table")
	}
	runtime := q.IDT.Base
	if runtime < idt.Addr {
		return 0, 0, fmt.Errorf("IDTR base %#x is below idt_table's link address %#x", runtime, idt.Addr)
	}
	kaslr = runtime - idt.Addr
	levels := 4
	if q.CR[4]&(1<<12) != 0 { // CR4.LA57
		levels = 5
	}
	pa, err := walkFrom(k.dump, vmcore.PhysAddr(q.CR[3]&pteAddrMask), levels, VirtAddr(runtime))
	if err != nil {
		return 0, 0, fmt.Errorf("translating the IDT at %#x through CR3 %#x: %w", runtime, q.CR[3], err)
	}
	physBase = int64(pa) - int64(runtime-uint64(startKernelMap))
	return kaslr, physBase, nil
}

// walkFrom translates va through the page tables rooted at root.
func walkFrom(d *vmcore.Dump, root vmcore.PhysAddr, levels int, va VirtAddr) (vmcore.PhysAddr, error) {
	table := root
	for i := levels - 1; i >= 0; i-- {
		shift := 12 + 9*uint(i)
		var b [8]byte
		if _, err := d.ReadAt(b[:], table+vmcore.PhysAddr(((uint64(va)>>shift)&511)*8)); err != nil {
			return 0, err
		}
		e := binary.LittleEndian.Uint64(b[:])
		if e&ptePresent == 0 {
			return 0, ErrNotMapped
		}
		if i == 0 || (i <= 2 && e&ptePSE != 0) {
			size := uint64(1) << shift
			return vmcore.PhysAddr(e&pteAddrMask&^(size-1) | uint64(va)&(size-1)), nil
		}
		table = vmcore.PhysAddr(e & pteAddrMask)
	}
	return 0, ErrNotMapped
}
