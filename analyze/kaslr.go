package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kcrash/kcrash/vmcore"
)

// deriveFromQEMU finds the KASLR slide and phys_base of a QEMU-made dump
// that carries no VMCOREINFO (the guest did not publish it through
// fw_cfg), by the method crash's kaslr_helper.c documents: the IDT
// register points at the interrupt descriptor table (since 4.15 through
// its read-only alias in the CPU entry area, so IDTR itself says nothing
// about the slide); the page tables at CR3 give the table's physical
// page, whose vector 0 gate holds the runtime address of the divide
// error handler, which the vmlinux knows at link time.
func (k *Kernel) deriveFromQEMU() (kaslr uint64, physBase int64, err error) {
	if k.vmlinux == nil {
		return 0, 0, errors.New("needs the vmlinux")
	}
	cpus := k.dump.CPUs()
	if len(cpus) == 0 || cpus[0].QEMU == nil {
		return 0, 0, errors.New("no QEMU cpu-state note")
	}
	tab := k.vmlinux.Symtab()
	handler, ok := tab.Lookup("asm_exc_divide_error") // 5.8+ (commit 9d06c4027f21)
	if !ok {
		if handler, ok = tab.Lookup("divide_error"); !ok {
			return 0, 0, errors.New("vmlinux has neither asm_exc_divide_error nor divide_error")
		}
	}
	idt, ok := tab.Lookup("idt_table")
	if !ok {
		return 0, 0, errors.New("vmlinux has no idt_table")
	}
	q := cpus[0].QEMU
	root := q.CR[3] & pteAddrMask
	if _, pti := tab.Lookup("pti_init"); pti {
		root &^= 1 << 12 // PTI: the kernel's PGD is the even page of an 8 KiB pair
	}
	levels := 4
	if q.CR[4]&(1<<12) != 0 { // CR4.LA57
		levels = 5
	}
	idtPA, err := walkFrom(k.dump, vmcore.PhysAddr(root), levels, VirtAddr(q.IDT.Base))
	if err != nil {
		return 0, 0, fmt.Errorf("translating the IDT at %#x through CR3 %#x: %w", q.IDT.Base, q.CR[3], err)
	}
	var gate [16]byte
	if _, err := k.dump.ReadAt(gate[:], idtPA); err != nil {
		return 0, 0, fmt.Errorf("reading IDT vector 0: %w", err)
	}
	le := binary.LittleEndian
	runtime := uint64(le.Uint16(gate[0:])) | uint64(le.Uint16(gate[6:]))<<16 | uint64(le.Uint32(gate[8:]))<<32
	if runtime < handler.Addr {
		return 0, 0, fmt.Errorf("IDT vector 0 handler %#x is below %s's link address %#x", runtime, handler.Name, handler.Addr)
	}
	kaslr = runtime - handler.Addr
	physBase = int64(idtPA&^0xfff) - int64(idt.Addr+kaslr-uint64(startKernelMap))
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
