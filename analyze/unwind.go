package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/kcrash/kcrash/vmcore"
)

// unwindCache holds what backtraces share per kernel.
type unwindCache struct {
	orc    orcCache
	stacks stackCache
	mods   codeModules
	frame  struct {
		once sync.Once
		ly   frameLayout
		err  error
	}
}

// Regs is an x86_64 register set in struct pt_regs order (the first 21
// fields of NT_PRSTATUS's user_regs_struct).
type Regs = vmcore.Regs

// ptRegsSize is sizeof(struct pt_regs) on x86_64.
const ptRegsSize = 21 * 8

// ExceptionFrame is a struct pt_regs the unwinder crossed: saved by the
// entry code for an interrupt, exception, NMI or system call.
type ExceptionFrame struct {
	Addr    VirtAddr // where the pt_regs lies
	Regs    Regs
	Partial bool // only the hardware iret frame (RIP, CS, RFLAGS, RSP, SS) is valid
}

// UserMode reports whether the frame interrupted user space.
func (e *ExceptionFrame) UserMode() bool { return e.Regs.CS&3 != 0 }

// Frame is one level of a kernel backtrace, innermost first.
type Frame struct {
	// PC is the frame's program counter: a return address, or, for an
	// interrupted frame, the exact instruction.
	PC VirtAddr
	// SP is the crash utility's frame address: for a call frame the
	// stack slot holding PC; for an interrupted frame (the first frame
	// of an active task, or the one below an exception frame) the stack
	// pointer at the interruption.
	SP VirtAddr
	// CFA is the caller's stack pointer after this frame returns.
	CFA VirtAddr
	// Interrupted: PC was executing (not a return address), so it is
	// looked up as is rather than as PC-1.
	Interrupted bool
	// Stack is the stack SP lies on.
	Stack StackRange
	// Exception, when set, is the pt_regs this frame's entry code saved:
	// the next frame is the code it interrupted.
	Exception *ExceptionFrame
	// Scanned: the kernel has no unwind information for the function
	// below this frame (ORC "undefined", e.g. STACK_FRAME_NON_STANDARD
	// functions such as __crash_kexec), so PC is the first word above
	// that frame's stack pointer that is a return address (follows a
	// call instruction) — what the crash utility's stack scan finds too.
	Scanned bool
}

// Trace is a task's backtrace and why it ended.
type Trace struct {
	Task   VirtAddr
	CPU    int  // the CPU the task was running on, or -1
	Active bool // running on CPU at the crash: started from that CPU's registers
	// Start describes where the first frame came from ("NT_PRSTATUS",
	// "inactive_task_frame", or a crash-style stack search).
	Start  string
	Frames []Frame
	// User, for a task its CPU caught in user mode (an NMI from user
	// space), holds those registers; the kernel stack then has no frames.
	User *Regs
	// End is nil when the walk reached the bottom of the stack (or user
	// mode); otherwise why it stopped: an unreadable page (a *FaultError),
	// a missing ORC entry, a loop.
	End error
}

// Unwind errors (Trace.End).
var (
	ErrUnwindLoop     = errors.New("stack pointer did not advance (loop)")
	ErrUnwindTooDeep  = errors.New("too many frames")
	ErrUnwindNoORC    = errors.New("no ORC entry for the address")
	ErrUnwindUndef    = errors.New("ORC: no unwind information here")
	ErrUnwindOffStack = errors.New("stack pointer left the known stacks")
)

const maxFrames = 256

// frameLayout is where task_struct keeps the saved stack pointer and
// the layout of struct inactive_task_frame (4.9+, commit 0100301bfdf5
// "sched/x86: Rewrite the switch_to() code").
type frameLayout struct {
	threadSP uint64 // offsetof(task_struct, thread.sp)
	retAddr  uint64
	bp       uint64
	bx       uint64
	r12, r13 uint64
	r14, r15 uint64
	size     uint64
}

func (k *Kernel) frameLayout() (frameLayout, error) {
	c := &k.unwind.frame
	c.once.Do(func() {
		if k.vmlinux == nil {
			c.err = ErrNoTypes
			return
		}
		ty := k.vmlinux.Types()
		var l frameLayout
		thread, err := ty.MemberOffset("task_struct", "thread")
		if err != nil {
			c.err = err
			return
		}
		sp, err := ty.MemberOffset("thread_struct", "sp")
		if err != nil {
			c.err = err
			return
		}
		l.threadSP = thread + sp
		st, err := ty.Struct("inactive_task_frame")
		if err != nil {
			c.err = err
			return
		}
		l.size = uint64(st.Size())
		for _, m := range []struct {
			name string
			dst  *uint64
		}{{"ret_addr", &l.retAddr}, {"bp", &l.bp}, {"bx", &l.bx}, {"r12", &l.r12}, {"r13", &l.r13}, {"r14", &l.r14}, {"r15", &l.r15}} {
			off, err := ty.MemberOffset("inactive_task_frame", m.name)
			if err != nil {
				c.err = err
				return
			}
			*m.dst = off
		}
		c.ly = l
	})
	return c.ly, c.err
}

// ActiveCPU returns the CPU task was running on at the crash (the CPU
// whose current task it is), or -1.
func ActiveCPU(k *Kernel, task VirtAddr) int {
	for cpu := range k.dump.CPUs() {
		if t, err := CurrentTask(k, cpu); err == nil && t == task {
			return cpu
		}
	}
	return -1
}

// Backtrace unwinds task's kernel stack with the kernel's ORC tables
// (falling back to frame pointers where ORC has no entry).
//
// A task running at the crash starts from its CPU's NT_PRSTATUS
// registers: on the panicking CPU those crash_setup_regs() saved in
// __crash_kexec(), on the others those of the NMI handler
// (crash_nmi_callback) or, in a QEMU dump taken after the guest
// panicked, wherever the reboot IPI's stop_this_cpu() halted. A sleeping
// task starts from the struct inactive_task_frame its thread.sp points
// at. The walk crosses IRQ, exception and NMI stacks through the
// pt_regs the entry code saved, and ends at the stack's bottom, at user
// mode, or with Trace.End saying why not.
func Backtrace(k *Kernel, task VirtAddr) (*Trace, error) {
	tr := &Trace{Task: task, CPU: ActiveCPU(k, task)}
	stack, err := TaskStack(k, task)
	if err != nil {
		return nil, err
	}
	if tr.CPU >= 0 {
		cpus := k.dump.CPUs()
		tr.Active = true
		tr.Start = "NT_PRSTATUS"
		regs := cpus[tr.CPU].Regs
		if regs.CS&3 != 0 {
			tr.User = &regs
			return tr, nil
		}
		tr.Frames, tr.End = k.walk(stack, tr.CPU, regs, true, 0)
		return tr, nil
	}
	regs, slot, err := k.inactiveRegs(task)
	if err != nil {
		return nil, err
	}
	tr.Start = "inactive_task_frame"
	tr.Frames, tr.End = k.walk(stack, -1, regs, false, slot)
	return tr, nil
}

// BacktraceFrom unwinds task's stack starting at a return address found
// in the stack slot slot (as the crash utility's stack search does for
// active tasks): the first frame is the function containing *slot.
func BacktraceFrom(k *Kernel, task VirtAddr, cpu int, slot VirtAddr, bp uint64) ([]Frame, error) {
	stack, err := TaskStack(k, task)
	if err != nil {
		return nil, err
	}
	ret, err := k.readU64(slot, "stack contents")
	if err != nil {
		return nil, err
	}
	regs := Regs{RIP: ret, RSP: uint64(slot) + 8, RBP: bp}
	return k.walk(stack, cpu, regs, false, slot)
}

// inactiveRegs returns the registers of a task switched out by
// __switch_to_asm: thread.sp points at struct inactive_task_frame, whose
// ret_addr is the pc; rsp is just above the frame.
func (k *Kernel) inactiveRegs(task VirtAddr) (Regs, VirtAddr, error) {
	l, err := k.frameLayout()
	if err != nil {
		return Regs{}, 0, err
	}
	sp, err := k.readU64(task+VirtAddr(l.threadSP), "thread_struct sp")
	if err != nil {
		return Regs{}, 0, err
	}
	buf := make([]byte, l.size)
	if err := k.readVA(buf, VirtAddr(sp), "inactive_task_frame"); err != nil {
		return Regs{}, 0, err
	}
	u := func(off uint64) uint64 { return binary.LittleEndian.Uint64(buf[off:]) }
	r := Regs{
		RIP: u(l.retAddr), RBP: u(l.bp), RBX: u(l.bx),
		R12: u(l.r12), R13: u(l.r13), R14: u(l.r14), R15: u(l.r15),
		RSP: sp + l.size,
	}
	return r, VirtAddr(sp + l.retAddr), nil
}

// unwinder is one walk's view of the machine: memory, the ORC lookup and
// the known stacks, as function values so that the stepping logic can be
// tested without a dump.
type unwinder struct {
	readMem func(p []byte, a VirtAddr) error
	lookup  func(pc uint64) (ORCEntry, bool)
	stackOf func(a VirtAddr) StackRange
	// isReturn reports whether v is a kernel text address that follows
	// a call instruction (for the stack scan where ORC has nothing).
	isReturn func(v uint64) bool
	noORC    error // why there is no ORC table, for error messages
}

func (u *unwinder) read(a VirtAddr) (uint64, error) {
	var b [8]byte
	if err := u.readMem(b[:], a); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// newUnwinder builds the unwinder of one task's walk on k.
func (k *Kernel) newUnwinder(task StackRange) *unwinder {
	orc, orcErr := k.ORC()
	return &unwinder{
		readMem: func(p []byte, a VirtAddr) error { return k.readVA(p, a, "stack contents") },
		lookup: func(pc uint64) (ORCEntry, bool) {
			if orc != nil && orc.Covers(pc) {
				if e, ok := orc.Lookup(pc); ok {
					return e, true
				}
			}
			return k.moduleORC(pc)
		},
		stackOf:  func(a VirtAddr) StackRange { return k.findStack(task, a) },
		isReturn: k.isReturnAddress,
		noORC:    orcErr,
	}
}

// unwind walks from regs. interrupted says regs.RIP is an executing
// instruction (else a return address, with slot its stack address).
func (k *Kernel) walk(task StackRange, cpu int, regs Regs, interrupted bool, slot VirtAddr) ([]Frame, error) {
	return k.newUnwinder(task).walk(regs, interrupted, slot)
}

// walk unwinds from regs; see Kernel.walk.
func (u *unwinder) walk(regs Regs, interrupted bool, slot VirtAddr) ([]Frame, error) {
	var frames []Frame
	sp := VirtAddr(regs.RSP)
	if !interrupted {
		sp = slot
	}
	scanned := false
	for len(frames) < maxFrames {
		pc := regs.RIP
		f := Frame{PC: VirtAddr(pc), SP: sp, Interrupted: interrupted, Scanned: scanned}
		f.Stack = u.stackOf(sp)
		if f.Stack.Kind == StackNone {
			f.Stack = u.stackOf(VirtAddr(regs.RSP))
		}
		if f.Stack.Kind == StackNone {
			frames = append(frames, f)
			return frames, fmt.Errorf("%w: rsp %#x", ErrUnwindOffStack, regs.RSP)
		}
		lookup := pc
		if !interrupted {
			lookup--
		}
		e, ok := u.lookup(lookup)
		if !ok || e.Type == ORCUndefined {
			// No unwind information: frame pointers when the kernel has
			// no ORC at all, else (and failing that) a scan for the next
			// return address.
			frames = append(frames, f)
			var next VirtAddr
			var err error
			if u.noORC != nil {
				next, err = u.framePointerStep(&regs, f.Stack)
			}
			if u.noORC == nil || err != nil {
				next, err = u.scanStep(&regs, f.Stack)
			}
			if err != nil {
				if ok {
					return frames, fmt.Errorf("%w at %#x: %v", ErrUnwindUndef, pc, err)
				}
				if u.noORC != nil {
					return frames, fmt.Errorf("%w (%v)", err, u.noORC)
				}
				return frames, err
			}
			frames[len(frames)-1].CFA = next + 8
			sp, interrupted, scanned = next, false, true
			continue
		}
		f.Scanned, scanned = scanned, false
		if e.Type == ORCEndOfStack {
			f.CFA = VirtAddr(regs.RSP)
			frames = append(frames, f)
			return frames, nil
		}
		cfa, err := u.cfa(e, &regs)
		if err != nil {
			frames = append(frames, f)
			return frames, err
		}
		f.CFA = cfa
		prevRSP := VirtAddr(regs.RSP)
		prevStack := f.Stack
		// The caller's frame pointer.
		switch e.BPReg {
		case orcRegPrevSP:
			v, err := u.read(cfa + VirtAddr(int64(e.BPOffset)))
			if err != nil {
				frames = append(frames, f)
				return frames, err
			}
			regs.RBP = v
		case orcRegBP:
			v, err := u.read(VirtAddr(int64(regs.RBP) + int64(e.BPOffset)))
			if err != nil {
				frames = append(frames, f)
				return frames, err
			}
			regs.RBP = v
		}
		switch e.Type {
		case ORCCall:
			ret, err := u.read(cfa - 8)
			if err != nil {
				frames = append(frames, f)
				return frames, err
			}
			frames = append(frames, f)
			regs.RIP, regs.RSP = ret, uint64(cfa)
			sp, interrupted = cfa-8, false
		case ORCRegs:
			ef, err := u.ptRegs(cfa, false)
			if err != nil {
				frames = append(frames, f)
				return frames, err
			}
			f.Exception = ef
			frames = append(frames, f)
			if ef.UserMode() {
				return frames, nil
			}
			regs = ef.Regs
			sp, interrupted = VirtAddr(regs.RSP), true
		case ORCRegsPartial:
			// CFA points at pt_regs.ip (IRET_FRAME_OFFSET).
			ef, err := u.ptRegs(cfa-16*8, true)
			if err != nil {
				frames = append(frames, f)
				return frames, err
			}
			f.Exception = ef
			frames = append(frames, f)
			if ef.UserMode() {
				return frames, nil
			}
			regs.RIP, regs.RSP, regs.CS, regs.EFLAGS, regs.SS = ef.Regs.RIP, ef.Regs.RSP, ef.Regs.CS, ef.Regs.EFLAGS, ef.Regs.SS
			sp, interrupted = VirtAddr(regs.RSP), true
		}
		// The stack pointer must move up the same stack, or onto another
		// known stack (IRQ → task, exception → IRQ/task).
		next := u.stackOf(VirtAddr(regs.RSP))
		if next.Kind == StackNone {
			if regs.RIP == 0 {
				return frames, nil
			}
			return frames, fmt.Errorf("%w: rsp %#x", ErrUnwindOffStack, regs.RSP)
		}
		if next == prevStack && VirtAddr(regs.RSP) <= prevRSP {
			return frames, ErrUnwindLoop
		}
		if regs.RIP == 0 {
			return frames, nil
		}
	}
	return frames, ErrUnwindTooDeep
}

// cfa computes the caller's stack pointer (the Canonical Frame Address).
func (u *unwinder) cfa(e ORCEntry, r *Regs) (VirtAddr, error) {
	off := int64(e.SPOffset)
	switch e.SPReg {
	case orcRegSP:
		return VirtAddr(int64(r.RSP) + off), nil
	case orcRegBP:
		return VirtAddr(int64(r.RBP) + off), nil
	case orcRegSPIndirect:
		// The stack-switch pattern (call_on_irqstack): the old rsp is
		// stored at the top of the new stack.
		v, err := u.read(VirtAddr(r.RSP))
		if err != nil {
			return 0, err
		}
		return VirtAddr(int64(v) + off), nil
	case orcRegBPIndirect:
		v, err := u.read(VirtAddr(int64(r.RBP) + off))
		return VirtAddr(v), err
	case orcRegR10:
		return VirtAddr(r.R10), nil
	case orcRegR13:
		return VirtAddr(r.R13), nil
	case orcRegDI:
		return VirtAddr(r.RDI), nil
	case orcRegDX:
		return VirtAddr(r.RDX), nil
	}
	return 0, fmt.Errorf("ORC: unknown sp_reg %d", e.SPReg)
}

// ptRegs reads a struct pt_regs.
func (u *unwinder) ptRegs(a VirtAddr, partial bool) (*ExceptionFrame, error) {
	var b [ptRegsSize]byte
	if partial {
		// Only ip..ss (5 words at +128) are there.
		if err := u.readMem(b[128:], a+128); err != nil {
			return nil, err
		}
	} else if err := u.readMem(b[:], a); err != nil {
		return nil, err
	}
	var v [27]uint64
	for i := range 21 {
		v[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	r := Regs{R15: v[0], R14: v[1], R13: v[2], R12: v[3], RBP: v[4], RBX: v[5], R11: v[6], R10: v[7],
		R9: v[8], R8: v[9], RAX: v[10], RCX: v[11], RDX: v[12], RSI: v[13], RDI: v[14], OrigRAX: v[15],
		RIP: v[16], CS: v[17], EFLAGS: v[18], RSP: v[19], SS: v[20]}
	return &ExceptionFrame{Addr: a, Regs: r, Partial: partial}, nil
}

// framePointerStep unwinds one frame by the frame-pointer convention:
// [rbp] = caller's rbp, [rbp+8] = return address. It returns the slot
// of the return address.
func (u *unwinder) framePointerStep(r *Regs, st StackRange) (VirtAddr, error) {
	bp := VirtAddr(r.RBP)
	if !st.Contains(bp) || !st.Contains(bp+15) || bp < VirtAddr(r.RSP) && r.RSP != 0 && st.Contains(VirtAddr(r.RSP)) {
		return 0, fmt.Errorf("%w at %#x (and no frame pointer)", ErrUnwindNoORC, r.RIP)
	}
	prevBP, err := u.read(bp)
	if err != nil {
		return 0, err
	}
	ret, err := u.read(bp + 8)
	if err != nil {
		return 0, err
	}
	r.RIP, r.RSP, r.RBP = ret, uint64(bp+16), prevBP
	return bp + 8, nil
}

// maxScan bounds the stack scan for a return address (words).
const maxScan = 1024

// scanStep finds the caller of a function without unwind information
// the way a stack scan does: the first word at or above rsp, on the same
// stack, that is a return address. It returns that word's slot.
func (u *unwinder) scanStep(r *Regs, st StackRange) (VirtAddr, error) {
	if u.isReturn == nil {
		return 0, fmt.Errorf("%w at %#x", ErrUnwindNoORC, r.RIP)
	}
	a := VirtAddr(r.RSP)
	if !st.Contains(a) {
		return 0, fmt.Errorf("%w: rsp %#x", ErrUnwindOffStack, r.RSP)
	}
	for n := 0; n < maxScan && a+8 <= st.Top; n, a = n+1, a+8 {
		v, err := u.read(a)
		if err != nil {
			return 0, err
		}
		if u.isReturn(v) {
			r.RIP, r.RSP = v, uint64(a+8)
			return a, nil
		}
	}
	return 0, fmt.Errorf("%w at %#x (and no return address above rsp %#x)", ErrUnwindNoORC, r.RIP, r.RSP)
}

// isReturnAddress reports whether v is a kernel or module text address
// right after a call instruction: call rel32 (e8), call *%reg (ff d0+r),
// call *disp8(%reg) (ff 50+r), call *disp32(%reg) (ff 90+r) or
// call *disp32(%rip) (ff 15).
func (k *Kernel) isReturnAddress(v uint64) bool {
	if v < uint64(startKernelMap) {
		return false
	}
	if orc, err := k.ORC(); err == nil && !orc.Covers(v-1) {
		if m := k.moduleFor(v); m == nil {
			return false
		}
	}
	var b [7]byte
	if k.readVA(b[:], VirtAddr(v-7), "text") != nil {
		return false
	}
	switch {
	case b[2] == 0xe8:
		return true
	case b[5] == 0xff && b[6]&0xf8 == 0xd0:
		return true
	case b[4] == 0xff && b[5]&0xf8 == 0x50:
		return true
	case b[1] == 0xff && (b[2]&0xf8 == 0x90 || b[2] == 0x15):
		return true
	}
	return false
}

// readVA reads kernel virtual memory for the unwinder: the kernel image
// linearly (so that ORC tables and text work before page tables do),
// everything else through ReadVirtual.
func (k *Kernel) readVA(p []byte, va VirtAddr, what string) error {
	if _, ok := k.kernelImagePhys(va); ok {
		if _, ok := k.kernelImagePhys(va + VirtAddr(max(len(p), 1)-1)); ok {
			return k.ReadKernelImage(p, va, what)
		}
	}
	return k.ReadVirtual(p, va, what)
}

// ReadStack reads kernel memory the way the unwinder does (stacks, the
// pt_regs on them); bt -f shows stack words with it.
func ReadStack(k *Kernel, p []byte, va VirtAddr) error {
	return k.readVA(p, va, "stack contents")
}

// KernelSP returns the kernel stack pointer a switched-out task saved
// (task_struct.thread.sp): the address of its struct inactive_task_frame.
func KernelSP(k *Kernel, task VirtAddr) (VirtAddr, error) {
	l, err := k.frameLayout()
	if err != nil {
		return 0, err
	}
	sp, err := k.readU64(task+VirtAddr(l.threadSP), "thread_struct sp")
	return VirtAddr(sp), err
}

// UserRegs returns the user-mode pt_regs at the top of a task's stack
// (where the entry code saved them on the way into the kernel).
func UserRegs(k *Kernel, stack StackRange) (*ExceptionFrame, error) {
	u := k.newUnwinder(stack)
	return u.ptRegs(stack.Top-ptRegsSize, false)
}
