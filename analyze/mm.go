package analyze

import (
	"errors"
	"fmt"
	"sync"
)

// MemUsage is a task's memory use as crash's ps shows it (memory.c
// get_task_mem_usage): pages resident and mapped, and resident pages as
// a percentage of physical memory.
type MemUsage struct {
	RSS     uint64  // pages
	TotalVM uint64  // pages (mm_struct.total_vm)
	Percent float64 // RSS*100 / TotalPages
}

// mmLayout is what mm_struct and task_struct keep about RSS.
type mmLayout struct {
	totalVM, mmCount uint64
	rssStat          uint64 // mm_struct.rss_stat
	// rssPercpu: mm_struct.rss_stat is struct percpu_counter[] (Linux 6.2,
	// commit f1a7941243c1 "mm: convert mm's rss stats into
	// percpu_counter"); before, struct mm_rss_stat { atomic_long_t
	// count[]; }.
	rssPercpu          bool
	pcCount, pcCounter uint64 // percpu_counter.count, .counters
	pcSize             uint64
	// taskRSS: task_struct.rss_stat.count[] (int), present with
	// SPLIT_RSS_COUNTING until 6.2 removed it.
	taskRSS    uint64
	hasTaskRSS bool
	// MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES (enum in mm_types_task.h).
	file, anon, shmem int64
}

type mmCache struct {
	once       sync.Once
	ly         mmLayout
	totalPages uint64
	err        error

	mu      sync.Mutex
	tgidRSS map[int32]int64 // SPLIT_RSS_COUNTING caches, per thread group
}

func resolveMMLayout(k *Kernel) (mmLayout, error) {
	var l mmLayout
	if k.vmlinux == nil {
		return l, ErrNoTypes
	}
	ty := k.vmlinux.Types()
	var errs []error
	off := func(s, m string) uint64 {
		o, _, err := member(ty, s, m)
		if err != nil {
			errs = append(errs, err)
		}
		return o
	}
	l.totalVM = off("mm_struct", "total_vm")
	l.mmCount = off("mm_struct", "mm_count")
	l.rssStat = off("mm_struct", "rss_stat")
	if hasMember(ty, "mm_rss_stat", "count") {
		l.rssStat += off("mm_rss_stat", "count")
	} else {
		l.rssPercpu = true
		l.pcCount = off("percpu_counter", "count")
		l.pcCounter = off("percpu_counter", "counters")
		if st, err := ty.Struct("percpu_counter"); err == nil {
			l.pcSize = uint64(st.Size())
		} else {
			errs = append(errs, err)
		}
	}
	if o, _, err := member(ty, "task_struct", "rss_stat"); err == nil {
		l.hasTaskRSS = true
		l.taskRSS = o + off("task_rss_stat", "count")
	}
	enum := func(name string, def int64) int64 {
		if v, _, err := ty.LookupEnumerator(name); err == nil {
			return v
		}
		return def
	}
	l.file, l.anon, l.shmem = enum("MM_FILEPAGES", 0), enum("MM_ANONPAGES", 1), enum("MM_SHMEMPAGES", 3)
	return l, errors.Join(errs...)
}

func (k *Kernel) mmInit() (*mmCache, error) {
	c := &k.mmCache
	c.once.Do(func() {
		c.ly, c.err = resolveMMLayout(k)
		if c.err == nil {
			c.totalPages, c.err = readTotalPages(k)
		}
		c.tgidRSS = map[int32]int64{}
	})
	return c, c.err
}

// readTotalPages is crash's vt->total_pages: the pages below
// high_memory, BTOP(VTOP(high_memory)).
func readTotalPages(k *Kernel) (uint64, error) {
	tab, err := k.Symbols()
	if err != nil {
		return 0, err
	}
	s, ok := tab.Lookup("high_memory")
	if !ok {
		return 0, errNoSymbol("high_memory")
	}
	hm, err := k.ReadU64(VirtAddr(s.Addr), "high_memory")
	if err != nil {
		return 0, err
	}
	po, err := k.PageOffset()
	if err != nil {
		return 0, err
	}
	if VirtAddr(hm) < po {
		return 0, fmt.Errorf("high_memory %#x is below PAGE_OFFSET %#x", hm, uint64(po))
	}
	return (hm - uint64(po)) >> 12, nil
}

// TaskMemUsage computes t's memory use the way crash's
// get_task_mem_usage() does: the mm's file, anon and shmem counters
// (negative ones count as zero), plus, with SPLIT_RSS_COUNTING, the
// per-thread caches of every thread in t's thread group.
func TaskMemUsage(k *Kernel, t *Task) (MemUsage, error) {
	var u MemUsage
	if t.State&stateZombie != 0 || t.MM == 0 {
		return u, nil
	}
	c, err := k.mmInit()
	if err != nil {
		return u, err
	}
	l := &c.ly
	if t.Flags&PFExiting != 0 {
		n, err := k.ReadU32(t.MM+VirtAddr(l.mmCount), "mm_struct mm_count")
		if err != nil {
			return u, err
		}
		if int32(n) <= 0 {
			return u, nil
		}
	}
	var rss int64
	for _, idx := range []int64{l.file, l.anon, l.shmem} {
		var v int64
		if l.rssPercpu {
			v, err = percpuCounterSum(k, t.MM+VirtAddr(l.rssStat+uint64(idx)*l.pcSize), l)
		} else {
			var x uint64
			x, err = k.ReadU64(t.MM+VirtAddr(l.rssStat+uint64(idx)*8), "mm_struct rss_stat")
			v = int64(x)
		}
		if err != nil {
			return u, err
		}
		if v > 0 {
			rss += v
		}
	}
	if l.hasTaskRSS {
		v, err := tgidRSS(k, c, t.TGID)
		if err != nil {
			return u, err
		}
		rss += v
	}
	u.RSS = uint64(rss)
	u.TotalVM, err = k.ReadU64(t.MM+VirtAddr(l.totalVM), "mm_struct total_vm")
	if err != nil {
		return u, err
	}
	if t.KernelThread() && u.RSS == 0 {
		return u, nil
	}
	if c.totalPages > 0 {
		u.Percent = float64(u.RSS*100) / float64(c.totalPages)
	}
	return u, nil
}

// tgidRSS sums the positive task_struct.rss_stat counters of every
// thread of thread group tgid (crash's rss_cache).
func tgidRSS(k *Kernel, c *mmCache, tgid int32) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.tgidRSS[tgid]; ok {
		return v, nil
	}
	ts, err := Tasks(k)
	if err != nil {
		return 0, err
	}
	l := &c.ly
	var sum int64
	for _, t := range ts {
		if t.TGID != tgid {
			continue
		}
		for _, idx := range []int64{l.file, l.anon, l.shmem} {
			v, err := k.ReadU32(t.Addr+VirtAddr(l.taskRSS+uint64(idx)*4), "task_struct rss_stat")
			if err != nil {
				continue // crash skips an unreadable thread too
			}
			if int32(v) > 0 {
				sum += int64(int32(v))
			}
		}
	}
	c.tgidRSS[tgid] = sum
	return sum, nil
}

// percpuCounterSum is percpu_counter_sum_positive()'s value without the
// clamp: count plus every possible CPU's s32 delta.
func percpuCounterSum(k *Kernel, fbc VirtAddr, l *mmLayout) (int64, error) {
	cnt, err := k.ReadU64(fbc+VirtAddr(l.pcCount), "percpu_counter count")
	if err != nil {
		return 0, err
	}
	sum := int64(cnt)
	pcp, err := k.ReadU64(fbc+VirtAddr(l.pcCounter), "percpu_counter counters")
	if err != nil {
		return 0, err
	}
	for cpu := range k.possibleCPUs() {
		a, err := k.perCPUAddr(cpu, pcp)
		if err != nil {
			return 0, err
		}
		v, err := k.ReadU32(a, "percpu_counter counters")
		if err != nil {
			return 0, err
		}
		sum += int64(int32(v))
	}
	return sum, nil
}
