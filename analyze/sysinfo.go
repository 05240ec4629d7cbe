package analyze

import (
	"bytes"
	"fmt"
	"math"
	"time"
)

// Utsname is init_uts_ns.name (struct new_utsname,
// include/uapi/linux/utsname.h): six 65-byte strings.
type Utsname struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// ReadUtsname reads the kernel's utsname. VMCOREINFO locates it
// (SYMBOL(init_uts_ns), OFFSET(uts_namespace.name)), so no vmlinux is
// needed.
func ReadUtsname(k *Kernel) (Utsname, error) {
	var u Utsname
	var addr uint64
	var nameOff uint64
	if k.vi != nil {
		addr, _ = k.vi.Symbol("init_uts_ns")
		if v, ok := k.vi.Offsets["uts_namespace.name"]; ok {
			nameOff = uint64(v)
		}
	}
	if addr == 0 {
		tab, err := k.Symbols()
		if err != nil {
			return u, err
		}
		s, ok := tab.Lookup("init_uts_ns")
		if !ok {
			return u, errNoSymbol("init_uts_ns")
		}
		addr = s.Addr
		if k.vmlinux != nil {
			nameOff, _ = k.vmlinux.Types().MemberOffset("uts_namespace", "name")
		}
	}
	b := make([]byte, 6*65)
	if err := k.ReadVirtual(b, VirtAddr(addr+nameOff), "init_uts_ns"); err != nil {
		return u, err
	}
	f := func(i int) string {
		s := b[i*65 : (i+1)*65]
		if j := bytes.IndexByte(s, 0); j >= 0 {
			s = s[:j]
		}
		return string(s)
	}
	return Utsname{f(0), f(1), f(2), f(3), f(4), f(5)}, nil
}

// symU64 reads an 8-byte global.
func (k *Kernel) symU64(name string) (uint64, error) {
	tab, err := k.Symbols()
	if err != nil {
		return 0, err
	}
	s, ok := tab.Lookup(name)
	if !ok {
		return 0, errNoSymbol(name)
	}
	return k.ReadU64(VirtAddr(s.Addr), name)
}

// symU32 reads a 4-byte global.
func (k *Kernel) symU32(name string) (uint32, error) {
	tab, err := k.Symbols()
	if err != nil {
		return 0, err
	}
	s, ok := tab.Lookup(name)
	if !ok {
		return 0, errNoSymbol(name)
	}
	return k.ReadU32(VirtAddr(s.Addr), name)
}

// HZ returns the kernel's tick rate. Crash takes CONFIG_HZ from the
// in-kernel config or derives it from mq-deadline's write_expire
// (5 * HZ); tick_nsec (kernel/time/ntp.c, NSEC_PER_SEC / HZ unless
// adjtimex changed the tick) gives the same answer without either.
func HZ(k *Kernel) int {
	tn, err := k.symU64("tick_nsec")
	if err != nil || tn == 0 {
		return 1000 // crash's x86_64 default
	}
	return int(math.Round(1e9 / float64(tn)))
}

// UptimeJiffies returns jiffies since boot as crash's get_uptime
// computes it: jiffies_64 less INITIAL_JIFFIES ((unsigned int)(-300*HZ)),
// and the HZ it used.
func UptimeJiffies(k *Kernel) (jiffies uint64, hz int, err error) {
	j, err := k.symU64("jiffies_64")
	if err != nil {
		return 0, 0, err
	}
	hz = HZ(k)
	if wrapped := j & 0xffffffff00000000; wrapped != 0 {
		j = (j & 0xffffffff) | (wrapped - 0x100000000)
		j += 300 * uint64(hz)
	} else {
		j -= uint64(uint32(-300 * int32(hz)))
	}
	return j, hz, nil
}

// Uptime returns the time since boot in whole seconds, as crash's
// convert_time shows it.
func Uptime(k *Kernel) (time.Duration, error) {
	j, hz, err := UptimeJiffies(k)
	if err != nil {
		return 0, err
	}
	return time.Duration(j/uint64(hz)) * time.Second, nil
}

// LoadAverage returns avenrun[] as crash's get_loadavg formats it:
// "%d.%02d, %d.%02d, %d.%02d" with FSHIFT 11 fixed point, rounded.
func LoadAverage(k *Kernel) (string, error) {
	tab, err := k.Symbols()
	if err != nil {
		return "", err
	}
	s, ok := tab.Lookup("avenrun")
	if !ok {
		return "", errNoSymbol("avenrun")
	}
	var out string
	for i := range 3 {
		v, err := k.ReadU64(VirtAddr(s.Addr+uint64(i)*8), "avenrun array")
		if err != nil {
			return "", err
		}
		const fshift, fixed1 = 11, 1 << 11
		a := int64(v) + fixed1/200
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d.%02d", a>>fshift, ((a&(fixed1-1))*100)>>fshift)
	}
	return out, nil
}

// CrashTime returns the wall-clock time of the crash as crash reads it:
// the timekeeper's xtime_sec (shadow_timekeeper on kernels where the
// live timekeeper hides inside tk_core), else VMCOREINFO's CRASHTIME.
func CrashTime(k *Kernel) (time.Time, error) {
	if k.vmlinux != nil {
		if off, err := k.vmlinux.Types().MemberOffset("timekeeper", "xtime_sec"); err == nil {
			tab, err := k.Symbols()
			if err == nil {
				for _, name := range []string{"timekeeper", "shadow_timekeeper"} {
					if s, ok := tab.Lookup(name); ok {
						v, err := k.ReadU64(VirtAddr(s.Addr+off), name+" xtime_sec")
						if err != nil {
							return time.Time{}, err
						}
						return time.Unix(int64(v), 0), nil
					}
				}
			}
		}
	}
	if k.vi != nil && k.vi.HasCrashTime {
		return time.Unix(k.vi.CrashTime, 0), nil
	}
	if k.vmlinux == nil {
		return time.Time{}, fmt.Errorf("no CRASHTIME in VMCOREINFO: %w", ErrNoTypes)
	}
	return time.Time{}, fmt.Errorf("no timekeeper and no CRASHTIME in VMCOREINFO")
}

// CPUMHz returns cpu_khz/1000, or 0 when unknown.
func CPUMHz(k *Kernel) int {
	v, err := k.symU32("cpu_khz")
	if err != nil {
		return 0
	}
	return int(v / 1000)
}

// Taint flags (include/linux/panic.h).
const taintLivepatch = 1 << 15 // TAINT_LIVEPATCH, "K"

// TaintMask returns tainted_mask.
func TaintMask(k *Kernel) (uint64, error) { return k.symU64("tainted_mask") }

// nodePages returns, for every online memory node, its present pages
// (pglist_data.node_present_pages) or, if zero, its spanned pages:
// crash's total_node_memory().
func nodePages(k *Kernel) ([]uint64, error) {
	if k.vmlinux == nil {
		return nil, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	present, _, err := member(ty, "pglist_data", "node_present_pages")
	if err != nil {
		return nil, err
	}
	spanned, _, err := member(ty, "pglist_data", "node_spanned_pages")
	if err != nil {
		return nil, err
	}
	var pgdats []VirtAddr
	tab, err := k.Symbols()
	if err != nil {
		return nil, err
	}
	if s, ok := tab.Lookup("contig_page_data"); ok {
		pgdats = []VirtAddr{VirtAddr(s.Addr)}
	} else if s, ok := tab.Lookup("node_data"); ok {
		// CONFIG_NUMA: node_data[MAX_NUMNODES], NULL for absent nodes.
		for i := range 1024 {
			p, err := k.ReadPtr(VirtAddr(s.Addr+uint64(i)*8), "node_data")
			if err != nil {
				break
			}
			if p == 0 {
				continue
			}
			pgdats = append(pgdats, p)
			if len(pgdats) > 64 {
				break
			}
		}
	} else {
		return nil, errNoSymbol("contig_page_data")
	}
	var out []uint64
	for _, p := range pgdats {
		n, err := k.ReadU64(p+VirtAddr(present), "pglist_data node_present_pages")
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if n, err = k.ReadU64(p+VirtAddr(spanned), "pglist_data node_spanned_pages"); err != nil {
				return nil, err
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// MemorySize guesses the installed memory the way crash's
// get_memory_size does: the nodes' pages, rounded up to a whole GiB
// when within 64 MiB of it. The result is in bytes.
func MemorySize(k *Kernel) (uint64, error) {
	nodes, err := nodePages(k)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, n := range nodes {
		total += n * 4096
	}
	const gib, mib = 1 << 30, 1 << 20
	if next := (total + gib - 1) / gib * gib; next != 0 && next-total <= 64*mib {
		total = next
	}
	return total, nil
}
