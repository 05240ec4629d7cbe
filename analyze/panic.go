package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PanicCPU returns the CPU that panicked and where that fact came from.
//
// panic() claims the global panic_cpu (atomic_t, PANIC_CPU_INVALID = -1)
// before anything else (kernel/panic.c), and crash_kexec() does the same
// when kdump is entered from an oops; so the variable names the CPU for
// both sysrq-c and a real kdump.
func PanicCPU(k *Kernel) (cpu int, source string, err error) {
	tab, err := k.Symbols()
	if err != nil {
		return -1, "", err
	}
	s, ok := tab.Lookup("panic_cpu")
	if !ok {
		return -1, "", errors.New("symbol panic_cpu not found")
	}
	var b [4]byte
	if err := k.ReadKernelImage(b[:], VirtAddr(s.Addr), "panic_cpu"); err != nil {
		return -1, "", err
	}
	v := int32(binary.LittleEndian.Uint32(b[:]))
	if v < 0 {
		return -1, "", errors.New("panic_cpu is -1: the kernel did not panic (or had not yet claimed the CPU)")
	}
	if n := len(k.dump.CPUs()); int(v) >= n && n > 0 {
		return -1, "", fmt.Errorf("panic_cpu = %d but the dump has notes for %d CPUs", v, n)
	}
	return int(v), "panic_cpu", nil
}
