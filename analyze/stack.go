package analyze

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/kcrash/kcrash/symbols"
)

// StackKind says which kernel stack an address lies on.
type StackKind int

const (
	StackNone      StackKind = iota
	StackTask                // the task's own kernel stack (task_struct.stack)
	StackIRQ                 // a CPU's hard-IRQ stack (hardirq_stack_ptr)
	StackException           // a CPU's IST exception stack in cpu_entry_area
)

// StackRange is one kernel stack: [Base, Top).
type StackRange struct {
	Kind StackKind
	Base VirtAddr
	Top  VirtAddr
	CPU  int    // for IRQ and exception stacks
	Name string // exception stacks: "DOUBLEFAULT", "NMI", "DEBUG", "MCE", "VC", "VC2" (crash's names)
}

// Contains reports whether a is inside the stack.
func (s StackRange) Contains(a VirtAddr) bool { return s.Kind != StackNone && a >= s.Base && a < s.Top }

// Default stack sizes of x86_64 without KASAN
// (arch/x86/include/asm/page_64_types.h): THREAD_SIZE and IRQ_STACK_SIZE
// are 16 KiB.
const defaultThreadSize = 16 << 10

type stackCache struct {
	once       sync.Once
	threadSize uint64
	taskStack  uint64 // offsetof(task_struct, stack)
	irq        []StackRange
	exc        [][]StackRange // by CPU
	err        error
}

func (k *Kernel) stacks() *stackCache {
	c := &k.unwind.stacks
	c.once.Do(func() { c.err = k.loadStacks(c) })
	return c
}

func (k *Kernel) loadStacks(c *stackCache) error {
	c.threadSize = defaultThreadSize
	if k.vmlinux == nil {
		return ErrNoTypes
	}
	ty := k.vmlinux.Types()
	// THREAD_SIZE (32 KiB with KASAN): the linker script lays out the
	// init task's stack as THREAD_SIZE bytes between these symbols;
	// else sizeof(union thread_union), which most kernels' DWARF lacks
	// (and looking for a missing type reads all of it).
	syms := k.vmlinux.Symtab()
	start, ok1 := syms.Lookup("__start_init_task")
	end, ok2 := syms.Lookup("__end_init_task")
	if n := end.Addr - start.Addr; ok1 && ok2 && end.Addr > start.Addr && n >= 4096 && n&(n-1) == 0 {
		c.threadSize = n
	} else if t, err := ty.LookupType("union thread_union"); err == nil && t.Size() >= 4096 {
		c.threadSize = uint64(t.Size())
	}
	off, err := ty.MemberOffset("task_struct", "stack")
	if err != nil {
		return err
	}
	c.taskStack = off
	tab, err := k.Symbols()
	if err != nil {
		return err
	}
	ncpu := len(k.dump.CPUs())
	// IRQ stacks: per-CPU hardirq_stack_ptr (6.1) or
	// pcpu_hot.hardirq_stack_ptr (6.2+, commit 64701838bf05). Since
	// 5.x the pointer is the stack top minus 8 (the slot the previous
	// stack pointer is saved in by call_on_irqstack).
	var irqOff uint64
	if s, ok := tab.Lookup("hardirq_stack_ptr"); ok {
		irqOff = s.Addr
	} else if s, ok := tab.Lookup("pcpu_hot"); ok {
		if m, err := ty.MemberOffset("pcpu_hot", "hardirq_stack_ptr"); err == nil {
			irqOff = s.Addr + m
		}
	}
	for cpu := range ncpu {
		if irqOff == 0 {
			break
		}
		p, err := k.perCPUAddr(cpu, irqOff)
		if err != nil {
			break
		}
		ptr, err := k.readU64(p, "hardirq_stack_ptr")
		if err != nil || ptr == 0 {
			c.irq = append(c.irq, StackRange{})
			continue
		}
		top := ptr
		if top%4096 != 0 {
			top += 8
		}
		c.irq = append(c.irq, StackRange{Kind: StackIRQ, Base: VirtAddr(top - c.threadSize), Top: VirtAddr(top), CPU: cpu})
	}
	// Exception stacks: per-CPU cea_exception_stacks points at struct
	// cea_exception_stacks in the cpu_entry_area; its members are the
	// stacks and their guard pages (arch/x86/include/asm/cpu_entry_area.h).
	if s, ok := tab.Lookup("cea_exception_stacks"); ok {
		st, err := ty.Struct("cea_exception_stacks")
		if err == nil {
			for cpu := range ncpu {
				p, err := k.perCPUAddr(cpu, s.Addr)
				var list []StackRange
				if err == nil {
					if base, err := k.readU64(p, "cea_exception_stacks"); err == nil && base != 0 {
						list = exceptionStacks(st, VirtAddr(base), cpu)
					}
				}
				c.exc = append(c.exc, list)
			}
		}
	}
	return nil
}

// exceptionStacks lists the IST stacks of one CPU in crash's order and
// names (x86_64.c x86_64_ist_init): DF, NMI, DB, MCE, VC, VC2. Stacks of
// size zero (MCE without CONFIG_X86_MCE, VC without AMD_MEM_ENCRYPT) are
// left out.
func exceptionStacks(st *dwarf.StructType, base VirtAddr, cpu int) []StackRange {
	var out []StackRange
	for _, n := range []struct{ member, name string }{
		{"DF_stack", "DOUBLEFAULT"}, {"NMI_stack", "NMI"}, {"DB_stack", "DEBUG"},
		{"MCE_stack", "MCE"}, {"VC_stack", "VC"}, {"VC2_stack", "VC2"},
	} {
		m, ok := symbols.FindMember(st, n.member)
		if !ok || m.Type == nil || m.Type.Size() <= 0 {
			continue
		}
		b := base + VirtAddr(m.Offset)
		out = append(out, StackRange{Kind: StackException, Base: b, Top: b + VirtAddr(m.Type.Size()), CPU: cpu, Name: n.name})
	}
	return out
}

func (k *Kernel) readU64(a VirtAddr, what string) (uint64, error) {
	var b [8]byte
	if err := k.readVA(b[:], a, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// TaskStack returns the kernel stack of a task (task_struct.stack,
// THREAD_SIZE bytes).
func TaskStack(k *Kernel, task VirtAddr) (StackRange, error) {
	c := k.stacks()
	if c.err != nil {
		return StackRange{}, c.err
	}
	base, err := k.readU64(task+VirtAddr(c.taskStack), "task_struct.stack")
	if err != nil {
		return StackRange{}, err
	}
	if base == 0 {
		return StackRange{}, fmt.Errorf("task %#x has no stack", uint64(task))
	}
	return StackRange{Kind: StackTask, Base: VirtAddr(base), Top: VirtAddr(base + c.threadSize)}, nil
}

// IRQStack returns cpu's hard-IRQ stack.
func IRQStack(k *Kernel, cpu int) (StackRange, bool) {
	c := k.stacks()
	if cpu < 0 || cpu >= len(c.irq) || c.irq[cpu].Kind == StackNone {
		return StackRange{}, false
	}
	return c.irq[cpu], true
}

// ExceptionStacks returns cpu's IST exception stacks.
func ExceptionStacks(k *Kernel, cpu int) []StackRange {
	c := k.stacks()
	if cpu < 0 || cpu >= len(c.exc) {
		return nil
	}
	return c.exc[cpu]
}

// findStack returns the stack holding a: the task's, or any CPU's IRQ or
// exception stack.
func (k *Kernel) findStack(task StackRange, a VirtAddr) StackRange {
	if task.Contains(a) {
		return task
	}
	c := k.stacks()
	for _, s := range c.irq {
		if s.Contains(a) {
			return s
		}
	}
	for _, l := range c.exc {
		for _, s := range l {
			if s.Contains(a) {
				return s
			}
		}
	}
	return StackRange{}
}
