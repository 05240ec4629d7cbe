package analyze

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/kcrash/kcrash/symbols"
)

// Task is one thread of the crashed kernel (a struct task_struct), with
// the fields ps shows.
type Task struct {
	Addr        VirtAddr // the task_struct
	PID         int32
	TGID        int32
	PPID        int32    // pid of ->parent (crash's PPID; the ptrace parent if traced)
	Parent      VirtAddr // task_struct.parent
	RealParent  VirtAddr // task_struct.real_parent
	GroupLeader VirtAddr
	CPU         int
	// State is __state (or state) | exit_state, as crash's task_state().
	State uint64
	Flags uint32 // PF_*
	Comm  string
	MM    VirtAddr // NULL for kernel threads
	// Active: the task was running on its CPU (rq->curr) at the crash.
	Active bool
	// Idle: one of the per-CPU idle tasks (pid 0).
	Idle bool
}

// Task flags (include/linux/sched.h).
const (
	PFExiting = 0x00000004 // PF_EXITING
	PFKthread = 0x00200000 // PF_KTHREAD
)

// KernelThread reports whether t is a kernel thread: PF_KTHREAD, as
// crash's is_kernel_thread() (pid 0's idle tasks carry it too).
func (t *Task) KernelThread() bool { return t.Flags&PFKthread != 0 }

// taskLayout is where task_struct keeps what Tasks reads, resolved once.
type taskLayout struct {
	size                   uint64
	pid, tgid, comm, flags uint64
	state                  uint64 // __state (5.14+) or state
	stateSize              int
	exitState              uint64
	mm, parent, realParent uint64
	groupLeader            uint64
	tasks                  uint64 // task_struct.tasks
	threadGroup            uint64 // task_struct.thread_group, up to 6.6
	hasThreadGroup         bool
	signal, threadNode     uint64 // task_struct.signal/thread_node, 6.7+
	signalThreadHead       uint64
	cpu                    uint64 // task_struct.cpu or thread_info.cpu within task_struct
	rqCurr, rqIdle         uint64
}

type taskCache struct {
	once  sync.Once
	tasks []*Task
	err   error
	ly    taskLayout
}

// member resolves struct s's member m: offset and size.
func member(ty *symbols.Types, s, m string) (off, size uint64, err error) {
	return ty.MemberLayout(s, m)
}

func hasMember(ty *symbols.Types, s, m string) bool {
	_, _, err := member(ty, s, m)
	return err == nil
}

func resolveTaskLayout(k *Kernel) (taskLayout, error) {
	var l taskLayout
	if k.vmlinux == nil {
		return l, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	size, err := ty.StructSize("task_struct")
	if err != nil {
		return l, err
	}
	l.size = size
	var errs []error
	off := func(s, m string) uint64 {
		o, _, err := member(ty, s, m)
		if err != nil {
			errs = append(errs, err)
		}
		return o
	}
	l.pid = off("task_struct", "pid")
	l.tgid = off("task_struct", "tgid")
	l.comm = off("task_struct", "comm")
	l.flags = off("task_struct", "flags")
	l.exitState = off("task_struct", "exit_state")
	l.mm = off("task_struct", "mm")
	l.parent = off("task_struct", "parent")
	l.realParent = off("task_struct", "real_parent")
	l.groupLeader = off("task_struct", "group_leader")
	l.tasks = off("task_struct", "tasks")
	// Linux 5.14 renamed state to __state and made it unsigned int
	// (commit 2f064a59a11f "sched: Change task_struct::state").
	if o, sz, err := member(ty, "task_struct", "__state"); err == nil {
		l.state, l.stateSize = o, int(sz)
	} else if o, sz, err := member(ty, "task_struct", "state"); err == nil {
		l.state, l.stateSize = o, int(sz)
	} else {
		errs = append(errs, err)
	}
	// Threads: task_struct.thread_group until Linux 6.7 removed it
	// (commit 8e1f385104ac "kill task_struct->thread_group") in favour of
	// signal->thread_head / task_struct.thread_node.
	if o, _, err := member(ty, "task_struct", "thread_group"); err == nil {
		l.threadGroup, l.hasThreadGroup = o, true
	} else {
		l.signal = off("task_struct", "signal")
		l.threadNode = off("task_struct", "thread_node")
		l.signalThreadHead = off("signal_struct", "thread_head")
	}
	// The CPU: task_struct.cpu from 4.18 (with THREAD_INFO_IN_TASK) until
	// 5.16 moved it back into thread_info (commit bcf9033e5449 "sched:
	// move CPU field back into thread_info if THREAD_INFO_IN_TASK=y"),
	// which is then embedded at task_struct.thread_info.
	if o, _, err := member(ty, "task_struct", "cpu"); err == nil {
		l.cpu = o
	} else if ti, _, err := member(ty, "task_struct", "thread_info"); err == nil {
		l.cpu = ti + off("thread_info", "cpu")
	} else {
		errs = append(errs, fmt.Errorf("no task_struct.cpu nor thread_info in task_struct: %w", err))
	}
	l.rqCurr = off("rq", "curr")
	l.rqIdle = off("rq", "idle")
	if len(errs) > 0 {
		return l, fmt.Errorf("task_struct layout: %w", errors.Join(errs...))
	}
	return l, nil
}

// Tasks returns every task of the crashed kernel in crash's order: by
// pid, the per-CPU idle tasks (pid 0) by CPU. It lists the thread-group
// leaders on init_task.tasks, each leader's threads, and every CPU's
// idle task (init_task is CPU 0's; the others are the runqueues'
// rq->idle), and marks the task each CPU was running (rq->curr).
//
// A corrupt list ends the walk with a *ListCorruptError.
func Tasks(k *Kernel) ([]*Task, error) {
	c := &k.taskCache
	c.once.Do(func() {
		c.tasks, c.err = readTasks(k)
	})
	return c.tasks, c.err
}

// FindTask returns the task with the given pid (for pid 0, CPU 0's
// idle task).
func FindTask(k *Kernel, pid int32) (*Task, error) {
	ts, err := Tasks(k)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.PID == pid {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no task with pid %d", pid)
}

// TaskByAddr returns the task whose task_struct is at addr.
func TaskByAddr(k *Kernel, addr VirtAddr) (*Task, error) {
	ts, err := Tasks(k)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t.Addr == addr {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no task_struct at %#x", uint64(addr))
}

func readTasks(k *Kernel) ([]*Task, error) {
	l, err := resolveTaskLayout(k)
	if err != nil {
		return nil, err
	}
	k.taskCache.ly = l
	tab, err := k.Symbols()
	if err != nil {
		return nil, err
	}
	it, ok := tab.Lookup("init_task")
	if !ok {
		return nil, errors.New("symbol init_task not found")
	}
	initTask := VirtAddr(it.Addr)

	seen := map[VirtAddr]bool{}
	var addrs []VirtAddr
	add := func(a VirtAddr) {
		if a != 0 && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	add(initTask)
	threads := func(leader VirtAddr) error {
		var head VirtAddr
		var link uint64
		if l.hasThreadGroup {
			head, link = leader+VirtAddr(l.threadGroup), l.threadGroup
		} else {
			sig, err := k.ReadPtr(leader+VirtAddr(l.signal), "task_struct.signal")
			if err != nil {
				return err
			}
			if sig == 0 {
				return nil
			}
			head, link = sig+VirtAddr(l.signalThreadHead), l.threadNode
		}
		for node, err := range ListForEach(k, head, "thread group") {
			if err != nil {
				return err
			}
			add(node - VirtAddr(link))
		}
		return nil
	}
	var leaders []VirtAddr
	for node, err := range ListForEach(k, initTask+VirtAddr(l.tasks), "init_task.tasks") {
		if err != nil {
			return nil, err
		}
		leaders = append(leaders, node-VirtAddr(l.tasks))
	}
	for _, ld := range leaders {
		add(ld)
		if err := threads(ld); err != nil {
			return nil, err
		}
	}

	// Per-CPU idle tasks and the running task of each CPU.
	active := map[VirtAddr]bool{}
	var idle []VirtAddr
	if rq, ok := tab.Lookup("runqueues"); ok {
		for cpu := range k.possibleCPUs() {
			a, err := k.perCPUAddr(cpu, rq.Addr)
			if err != nil {
				return nil, err
			}
			cur, err1 := k.ReadPtr(a+VirtAddr(l.rqCurr), fmt.Sprintf("runqueues[%d].curr", cpu))
			id, err2 := k.ReadPtr(a+VirtAddr(l.rqIdle), fmt.Sprintf("runqueues[%d].idle", cpu))
			if err1 != nil || err2 != nil {
				continue // a CPU whose runqueue page the dump lacks
			}
			if cur != 0 {
				active[cur] = true
			}
			if id != 0 && id != initTask {
				idle = append(idle, id)
			}
		}
	}
	for _, a := range idle {
		add(a)
	}

	out := make([]*Task, 0, len(addrs))
	for _, a := range addrs {
		t, err := readTask(k, &l, a)
		if err != nil {
			return nil, err
		}
		t.Active = active[a]
		t.Idle = a == initTask || t.PID == 0
		out = append(out, t)
	}
	byAddr := make(map[VirtAddr]*Task, len(out))
	for _, t := range out {
		byAddr[t.Addr] = t
	}
	for _, t := range out {
		if p, ok := byAddr[t.Parent]; ok {
			t.PPID = p.PID
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.PID == 0 && b.PID == 0 {
			return a.CPU < b.CPU
		}
		return a.PID < b.PID
	})
	return out, nil
}

func readTask(k *Kernel, l *taskLayout, a VirtAddr) (*Task, error) {
	b := make([]byte, l.size)
	if err := k.ReadVirtual(b, a, "task_struct"); err != nil {
		return nil, err
	}
	u32 := func(off uint64) uint32 { return uint32(readUint(b[off:], 4)) }
	ptr := func(off uint64) VirtAddr { return VirtAddr(readUint(b[off:], 8)) }
	comm := b[l.comm : l.comm+16]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	t := &Task{
		Addr:        a,
		PID:         int32(u32(l.pid)),
		TGID:        int32(u32(l.tgid)),
		Parent:      ptr(l.parent),
		RealParent:  ptr(l.realParent),
		GroupLeader: ptr(l.groupLeader),
		CPU:         int(u32(l.cpu)),
		State:       readUint(b[l.state:], l.stateSize) | uint64(u32(l.exitState)),
		Flags:       u32(l.flags),
		Comm:        string(comm),
		MM:          ptr(l.mm),
	}
	return t, nil
}

// Task state bits of Linux 4.14 and later (include/linux/sched.h), the
// table crash's initialize_task_state() uses for those kernels; State
// carries __state | exit_state, so EXIT_ZOMBIE and EXIT_DEAD appear here
// too.
const (
	stateInterruptible   = 0x0001
	stateUninterruptible = 0x0002
	stateStopped         = 0x0004
	stateTraced          = 0x0008
	stateDead            = 0x0010 | 0x0080 // EXIT_DEAD | TASK_DEAD
	stateZombie          = 0x0020          // EXIT_ZOMBIE
	stateParked          = 0x0040
	stateWaking          = 0x0200
	stateNoload          = 0x0400
	stateNew             = 0x0800
)

// StateString is crash's two-letter state (task_state_string): RU, IN,
// UN, ID (TASK_IDLE), ZO, ST, TR, DE, PA, WA or NE; "??" when no rule
// matches. Later rules win, as in crash.
func (t *Task) StateString() string {
	s := t.State
	out, set := "??", false
	if s == 0 {
		out = "RU"
	}
	if s&stateInterruptible != 0 {
		out, set = "IN", true
	}
	if s&stateUninterruptible != 0 {
		out, set = "UN", true
		if s&stateNoload != 0 {
			out = "ID"
		}
	}
	if s&stateZombie != 0 {
		out, set = "ZO", true
	}
	if s&stateStopped != 0 {
		out, set = "ST", true
	}
	if s&stateTraced != 0 {
		out, set = "TR", true
	}
	if s&stateDead != 0 && !set {
		out = "DE"
	}
	switch s {
	case stateParked:
		out = "PA"
	case stateWaking:
		out = "WA"
	case stateNew:
		out = "NE"
	}
	return out
}
