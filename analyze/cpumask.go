package analyze

import (
	"iter"
	"math/bits"
)

// cpuMask reads the bitmap of the global struct cpumask name
// (__cpu_possible_mask, __cpu_present_mask, __cpu_online_mask;
// include/linux/cpumask.h) and returns the CPUs set in it.
func (k *Kernel) cpuMask(name string) ([]int, error) {
	tab, err := k.Symbols()
	if err != nil {
		return nil, err
	}
	s, ok := tab.Lookup(name)
	if !ok {
		return nil, &FaultError{What: name, Err: errNoSymbol(name)}
	}
	size := 8
	if k.vmlinux != nil {
		if n, err := k.vmlinux.Types().StructSize("cpumask"); err == nil && n > 0 {
			size = int(n)
		}
	}
	b := make([]byte, size)
	if err := k.ReadVirtual(b, VirtAddr(s.Addr), name); err != nil {
		return nil, err
	}
	var cpus []int
	for i := 0; i+8 <= len(b); i += 8 {
		w := readUint(b[i:], 8)
		for w != 0 {
			bit := bits.TrailingZeros64(w)
			cpus = append(cpus, i*8+bit)
			w &^= 1 << bit
		}
	}
	return cpus, nil
}

// PresentCPUs returns the CPUs in cpu_present_mask.
func PresentCPUs(k *Kernel) ([]int, error) { return k.cpuMask("__cpu_present_mask") }

// OnlineCPUs returns the CPUs in cpu_online_mask. The panicking CPU
// takes the others offline when it stops them (stop_this_cpu), so a
// dump usually shows only one.
func OnlineCPUs(k *Kernel) ([]int, error) { return k.cpuMask("__cpu_online_mask") }

// possibleCPUs yields the CPUs in cpu_possible_mask, or, without it,
// those the dump has register notes for.
func (k *Kernel) possibleCPUs() iter.Seq[int] {
	return func(yield func(int) bool) {
		cpus, err := k.cpuMask("__cpu_possible_mask")
		if err != nil || len(cpus) == 0 {
			cpus = nil
			for i := range k.dump.CPUs() {
				cpus = append(cpus, i)
			}
		}
		for _, c := range cpus {
			if !yield(c) {
				return
			}
		}
	}
}

type errNoSymbol string

func (e errNoSymbol) Error() string { return "symbol " + string(e) + " not found" }
