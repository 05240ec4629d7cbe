package analyze

import (
	"fmt"
	"sort"
)

// HasLastArrival reports whether tasks record when they last ran:
// task_struct.sched_info.last_arrival, which needs CONFIG_SCHED_INFO
// (without it struct sched_info is empty).
func HasLastArrival(k *Kernel) bool {
	if k.vmlinux == nil {
		return false
	}
	return hasMember(k.vmlinux.Types(), "sched_info", "last_arrival")
}

// TaskLastRun returns t's sched_info.last_arrival (ns of rq clock).
func TaskLastRun(k *Kernel, t *Task) (uint64, error) {
	if k.vmlinux == nil {
		return 0, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	si, _, err := member(ty, "task_struct", "sched_info")
	if err != nil {
		return 0, err
	}
	la, _, err := member(ty, "sched_info", "last_arrival")
	if err != nil {
		return 0, err
	}
	return k.ReadU64(t.Addr+VirtAddr(si+la), "sched_info last_arrival")
}

// SortByLastRun returns a copy of tasks ordered most recently run first,
// as crash's sort_context_array_by_last_run.
func SortByLastRun(k *Kernel, tasks []*Task) ([]*Task, error) {
	lr := make(map[*Task]uint64, len(tasks))
	for _, t := range tasks {
		v, err := TaskLastRun(k, t)
		if err != nil {
			return nil, err
		}
		lr[t] = v
	}
	out := append([]*Task(nil), tasks...)
	sort.SliceStable(out, func(i, j int) bool { return lr[out[i]] > lr[out[j]] })
	return out, nil
}

// TaskKernelSP returns the kernel stack pointer saved when t was last
// switched out (task_struct.thread.sp, x86_64).
func TaskKernelSP(k *Kernel, t *Task) (VirtAddr, error) {
	if k.vmlinux == nil {
		return 0, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	th, _, err := member(ty, "task_struct", "thread")
	if err != nil {
		return 0, err
	}
	sp, _, err := member(ty, "thread_struct", "sp")
	if err != nil {
		return 0, err
	}
	return k.ReadPtr(t.Addr+VirtAddr(th+sp), "thread_struct sp")
}

// Rlimit is one resource limit (struct rlimit): current and maximum,
// with ^0 meaning RLIM_INFINITY.
type Rlimit struct{ Cur, Max uint64 }

// TaskRlimits returns t's resource limits: signal->rlim[] (2.6.10+) or,
// on older kernels, task_struct.rlim[].
func TaskRlimits(k *Kernel, t *Task) ([]Rlimit, error) {
	if k.vmlinux == nil {
		return nil, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	base := t.Addr
	off, size, err := member(ty, "task_struct", "rlim")
	if err != nil {
		sig, _, err := member(ty, "task_struct", "signal")
		if err != nil {
			return nil, err
		}
		if base, err = k.ReadPtr(t.Addr+VirtAddr(sig), "task_struct signal"); err != nil {
			return nil, err
		}
		if off, size, err = member(ty, "signal_struct", "rlim"); err != nil {
			return nil, fmt.Errorf("cannot determine rlimit array location: %w", err)
		}
	}
	b := make([]byte, size)
	if err := k.ReadVirtual(b, base+VirtAddr(off), "signal_struct rlimit array"); err != nil {
		return nil, err
	}
	out := make([]Rlimit, len(b)/16)
	for i := range out {
		out[i] = Rlimit{readUint(b[i*16:], 8), readUint(b[i*16+8:], 8)}
	}
	return out, nil
}

// TaskTimes are a task's start time and CPU times (task_struct
// start_time, utime, stime: nanoseconds on 64-bit kernels since 4.11's
// move to nanosecond cputime).
type TaskTimes struct{ Start, UTime, STime uint64 }

// ReadTaskTimes reads t's times.
func ReadTaskTimes(k *Kernel, t *Task) (TaskTimes, error) {
	var tt TaskTimes
	if k.vmlinux == nil {
		return tt, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"start_time", &tt.Start}, {"utime", &tt.UTime}, {"stime", &tt.STime}} {
		off, size, err := member(ty, "task_struct", f.name)
		if err != nil {
			return tt, err
		}
		if size != 8 {
			return tt, fmt.Errorf("task_struct.%s is %d bytes; only 64-bit nanosecond times are supported", f.name, size)
		}
		if *f.dst, err = k.ReadU64(t.Addr+VirtAddr(off), "task_struct "+f.name); err != nil {
			return tt, err
		}
	}
	return tt, nil
}

// TaskPolicy returns t's scheduling policy (task_struct.policy:
// SCHED_NORMAL 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6).
func TaskPolicy(k *Kernel, t *Task) (uint32, error) {
	if k.vmlinux == nil {
		return 0, ErrNoTypes
	}
	off, _, err := member(k.vmlinux.Types(), "task_struct", "policy")
	if err != nil {
		return 0, err
	}
	return k.ReadU32(t.Addr+VirtAddr(off), "task_struct policy")
}
