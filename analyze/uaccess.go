package analyze

import (
	"encoding/binary"
	"fmt"

	"github.com/kcrash/kcrash/vmcore"
)

// userTranslate maps a user virtual address of the address space whose
// top-level page table is pgd (mm_struct.pgd, a direct-map address)
// to a physical address, walking the same x86_64 tables as the kernel's
// (4 or 5 levels, 1 GiB and 2 MiB pages).
func userTranslate(k *Kernel, pgd VirtAddr, va VirtAddr) (vmcore.PhysAddr, error) {
	root, err := k.Translate(pgd)
	if err != nil {
		return 0, err
	}
	levels := k.PagingLevels()
	table := root &^ 4095
	for i := range levels {
		shift := 12 + 9*uint(levels-1-i)
		ea := table + vmcore.PhysAddr((uint64(va)>>shift&511)*8)
		var b [8]byte
		if _, err := k.dump.ReadAt(b[:], ea); err != nil {
			return 0, &FaultError{Addr: va, What: "user page table", Err: err}
		}
		e := binary.LittleEndian.Uint64(b[:])
		if e&ptePresent == 0 {
			return 0, &FaultError{Addr: va, What: "user page table", Err: fmt.Errorf("not present: %w", ErrNotMapped)}
		}
		last := i == levels-1
		if !last && e&ptePSE != 0 && shift <= 30 {
			size := uint64(1) << shift
			return vmcore.PhysAddr(e&pteAddrMask&^(size-1) | uint64(va)&(size-1)), nil
		}
		if last {
			return vmcore.PhysAddr(e&pteAddrMask | uint64(va)&4095), nil
		}
		table = vmcore.PhysAddr(e & pteAddrMask)
	}
	return 0, &FaultError{Addr: va, Err: ErrNotMapped}
}

// ReadUser reads user memory of t's address space into p; the error
// names the first page that could not be read.
func ReadUser(k *Kernel, t *Task, p []byte, va VirtAddr) error {
	if t.MM == 0 {
		return fmt.Errorf("task %d has no user address space", t.PID)
	}
	if k.vmlinux == nil {
		return ErrNoTypes
	}
	off, err := k.vmlinux.Types().MemberOffset("mm_struct", "pgd")
	if err != nil {
		return err
	}
	pgd, err := k.ReadPtr(t.MM+VirtAddr(off), "mm_struct pgd")
	if err != nil {
		return err
	}
	for done := 0; done < len(p); {
		a := va + VirtAddr(done)
		pa, err := userTranslate(k, pgd, a)
		if err != nil {
			return err
		}
		n := min(len(p)-done, int(4096-uint64(a)%4096))
		if _, err := k.dump.ReadAt(p[done:done+n], pa); err != nil {
			return &FaultError{Addr: a, What: "user memory", Err: err}
		}
		done += n
	}
	return nil
}

// TaskArgs returns the bytes of t's argument and environment areas
// (mm_struct arg_start..arg_end, env_start..env_end). When a page cannot
// be read, failedAt is its address and the area is nil.
func TaskArgs(k *Kernel, t *Task) (args, env []byte, failedAt VirtAddr, err error) {
	if k.vmlinux == nil {
		return nil, nil, 0, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	var v [4]uint64
	for i, m := range []string{"arg_start", "arg_end", "env_start", "env_end"} {
		off, err := ty.MemberOffset("mm_struct", m)
		if err != nil {
			return nil, nil, 0, err
		}
		if v[i], err = k.ReadU64(t.MM+VirtAddr(off), "mm_struct "+m); err != nil {
			return nil, nil, 0, err
		}
	}
	read := func(start, end uint64) ([]byte, VirtAddr) {
		if end < start || end-start > 1<<24 {
			return nil, VirtAddr(start)
		}
		b := make([]byte, end-start)
		for done := uint64(0); done < uint64(len(b)); {
			a := start + done
			n := min(uint64(len(b))-done, 4096-a%4096)
			if err := ReadUser(k, t, b[done:done+n], VirtAddr(a)); err != nil {
				return nil, VirtAddr(a)
			}
			done += n
		}
		return b, 0
	}
	if args, failedAt = read(v[0], v[1]); args == nil {
		return nil, nil, failedAt, nil
	}
	env, failedAt = read(v[2], v[3])
	return args, env, failedAt, nil
}
