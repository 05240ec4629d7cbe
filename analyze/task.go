package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNoTypes: the answer needs the kernel's type information, which comes
// from the vmlinux's DWARF.
var ErrNoTypes = errors.New("needs the vmlinux's debug info (give the vmlinux)")

// perCPUAddr returns the address of CPU cpu's copy of the per-CPU
// variable at offset off: __per_cpu_offset[cpu] + off.
func (k *Kernel) perCPUAddr(cpu int, off uint64) (VirtAddr, error) {
	tab, err := k.Symbols()
	if err != nil {
		return 0, err
	}
	pco, ok := tab.Lookup("__per_cpu_offset")
	if !ok {
		return 0, errors.New("symbol __per_cpu_offset not found")
	}
	var b [8]byte
	if err := k.ReadKernelImage(b[:], VirtAddr(pco.Addr+uint64(cpu)*8), "__per_cpu_offset"); err != nil {
		return 0, err
	}
	return VirtAddr(binary.LittleEndian.Uint64(b[:]) + off), nil
}

// CurrentTask returns the task_struct that was running on cpu: the
// per-CPU current_task (Linux 6.1; 6.2 moved it into pcpu_hot, commit
// 64701838bf05 "x86/percpu: Move current_task to percpu hot section").
func CurrentTask(k *Kernel, cpu int) (VirtAddr, error) {
	tab, err := k.Symbols()
	if err != nil {
		return 0, err
	}
	var off uint64
	if s, ok := tab.Lookup("current_task"); ok {
		off = s.Addr
	} else if s, ok := tab.Lookup("pcpu_hot"); ok && k.vmlinux != nil {
		m, err := k.vmlinux.Types().MemberOffset("pcpu_hot", "current_task")
		if err != nil {
			return 0, err
		}
		off = s.Addr + m
	} else {
		return 0, errors.New("neither current_task nor pcpu_hot is known")
	}
	a, err := k.perCPUAddr(cpu, off)
	if err != nil {
		return 0, err
	}
	var b [8]byte
	if err := k.ReadVirtual(b[:], a, fmt.Sprintf("current_task of CPU %d", cpu)); err != nil {
		return 0, err
	}
	return VirtAddr(binary.LittleEndian.Uint64(b[:])), nil
}

// CurrentPID returns the pid of the task that was running on cpu.
func CurrentPID(k *Kernel, cpu int) (int32, error) {
	if k.vmlinux == nil {
		return 0, ErrNoTypes
	}
	task, err := CurrentTask(k, cpu)
	if err != nil {
		return 0, err
	}
	off, err := k.vmlinux.Types().MemberOffset("task_struct", "pid")
	if err != nil {
		return 0, err
	}
	var b [4]byte
	if err := k.ReadVirtual(b[:], task+VirtAddr(off), "task_struct.pid"); err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(b[:])), nil
}
