package analyze

import (
	"encoding/binary"
)

// CrashStart is where the crash utility begins the backtrace of a task
// that was running at the crash.
type CrashStart struct {
	// Slot, when non-zero, is the stack slot holding the return address
	// crash starts from (its #0 frame).
	Slot VirtAddr
	// Why names the function crash's stack search matched ("panic",
	// "machine_kexec", "crash_nmi_callback", …), or "NT_PRSTATUS" when
	// it fell back to the CPU's saved registers.
	Why string
}

// CrashStartOf reproduces the crash utility's search for an active
// task's starting frame (crash 8.0.6 x86_64.c
// x86_64_get_dumpfile_stack_frame). crash does not trust the saved
// registers of a dumped CPU; it scans the task's whole stack, then the
// CPU's IRQ stack, then its exception stacks, for return addresses into
// functions that mark the dump path:
//
//   - machine_kexec, crash_kexec (when it called machine_kexec) and the
//     old netdump/diskdump entry points: start there at once;
//   - panic: the last one on the stack, unless die is found;
//   - sysrq_handle_crash: the last one, used after all stacks;
//   - crash_nmi_callback (other CPUs of a kdump): start there at once;
//   - stop_this_cpu / smp_call_function_interrupt on the IRQ or exception
//     stacks, notify_die on the NMI stack: used when nothing else is.
//
// Without a match crash uses the registers of NT_PRSTATUS (Why
// "NT_PRSTATUS", Slot 0). Stacks crash reads but kcrash does not know
// (zero-sized exception stacks) are skipped; see the bt test for the
// case where crash fails on one.
func CrashStartOf(k *Kernel, task VirtAddr, cpu int, panicTask bool) CrashStart {
	tab, err := k.Symbols()
	if err != nil {
		return CrashStart{Why: "NT_PRSTATUS"}
	}
	name := func(v uint64) string {
		s, _, ok := tab.ByAddr(v)
		if !ok || v < uint64(startKernelMap) {
			return ""
		}
		return s.Name
	}
	var stacks []StackRange
	if ts, err := TaskStack(k, task); err == nil {
		stacks = append(stacks, ts)
	}
	if s, ok := IRQStack(k, cpu); ok {
		stacks = append(stacks, s)
	}
	stacks = append(stacks, ExceptionStacks(k, cpu)...)

	var panicSlot, crashKexec, sysrq, callFunction, notifyDie VirtAddr
	for stage, st := range stacks {
		buf := make([]byte, st.Top-st.Base)
		if k.readVA(buf, st.Base, "stack contents") != nil {
			continue
		}
		n := len(buf) / 8
		word := func(i int) uint64 { return binary.LittleEndian.Uint64(buf[8*i:]) }
		for i := range n {
			w := word(i)
			slot := st.Base + VirtAddr(8*i)
			switch sym := name(w); sym {
			case "":
			case "netconsole_netdump", "netpoll_start_netdump", "start_disk_dump", "disk_dump",
				"machine_kexec", "try_crashdump":
				return CrashStart{Slot: slot, Why: sym}
			case "crash_kexec":
				if callTarget(k, w) == "machine_kexec" {
					return CrashStart{Slot: slot, Why: sym}
				}
				if crashKexec == 0 {
					crashKexec = slot
					continue
				}
				return CrashStart{Slot: slot, Why: sym}
			case "panic":
				panicSlot = slot
			case "die":
				later := false
				for j := i + 1; j < n; j++ {
					if name(word(j)) == "sysrq_handle_crash" {
						later = true
					}
				}
				if !later {
					return CrashStart{Slot: slot, Why: sym}
				}
			case "sysrq_handle_crash":
				sysrq = slot
			case "smp_call_function_interrupt", "stop_this_cpu":
				if !panicTask && stage > 0 {
					callFunction = slot
				}
			case "crash_nmi_callback":
				if !panicTask {
					return CrashStart{Slot: slot, Why: sym}
				}
			case "notify_die":
				if !panicTask && st.Kind == StackException && st.Name == "NMI" {
					notifyDie = slot
				}
			}
		}
		if panicSlot != 0 {
			return CrashStart{Slot: panicSlot, Why: "panic"}
		}
		if crashKexec != 0 {
			return CrashStart{Slot: crashKexec, Why: "crash_kexec"}
		}
	}
	switch {
	case sysrq != 0:
		return CrashStart{Slot: sysrq, Why: "sysrq_handle_crash"}
	case notifyDie != 0:
		return CrashStart{Slot: notifyDie, Why: "notify_die"}
	}
	// crash prefers the note's registers over a stop_this_cpu found on
	// the IRQ or exception stacks when it takes them for a non-panic CPU,
	// which it does for QEMU-made dumps only.
	if cpus := k.dump.CPUs(); callFunction != 0 && (cpu >= len(cpus) || cpus[cpu].QEMU == nil) {
		return CrashStart{Slot: callFunction, Why: "stop_this_cpu"}
	}
	return CrashStart{Why: "NT_PRSTATUS"}
}

// callTarget names the function a call instruction ending at ret calls
// (a 5-byte "call rel32" just before the return address), or "".
func callTarget(k *Kernel, ret uint64) string {
	var b [5]byte
	if k.ReadKernelImage(b[:], VirtAddr(ret-5), "call instruction") != nil || b[0] != 0xe8 {
		return ""
	}
	target := ret + uint64(int64(int32(binary.LittleEndian.Uint32(b[1:]))))
	tab, err := k.Symbols()
	if err != nil {
		return ""
	}
	s, off, ok := tab.ByAddr(target)
	if !ok || off != 0 {
		return ""
	}
	return s.Name
}
