package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kcrash/kcrash/analyze"
)

func sysCommand() Command {
	return Command{
		Name:     "sys",
		Summary:  "system data",
		Synopsis: "sys [--json]",
		Help: `  This command displays system-specific data.  If no arguments are entered,
  the same system data shown during crash invocation is shown.

    --json  one JSON object with the same fields (kernel, dumpfile, cpus,
            cpus_offline, date (RFC 3339), uptime_seconds, load_average,
            tasks, nodename, release, version, machine, mhz, memory_bytes,
            panic, tainted).

  KERNEL is the vmlinux and DUMPFILE the dump as given.  CPUS counts
  cpu_present_mask and reports those missing from cpu_online_mask as
  OFFLINE.  DATE is the timekeeper's wall clock, UPTIME comes from
  jiffies_64, LOAD AVERAGE from avenrun[], NODENAME, RELEASE, VERSION and
  MACHINE from init_uts_ns, MEMORY from the memory nodes' present pages,
  and PANIC is the log line that announced the crash.

  The crash options -c, -t, -i and "-config" are not supported yet.

  EXAMPLES
    Display essential system information:

      kcrash> sys
            KERNEL: vmlinux  [TAINTED]
          DUMPFILE: vmcore.elf
              CPUS: 2 [OFFLINE: 1]
              DATE: Sun Nov 22 06:19:27 UTC 2026
            UPTIME: 00:00:05
      LOAD AVERAGE: 0.08, 0.02, 0.01
             TASKS: 38
          NODENAME: (none)
           RELEASE: 6.1.192-kcrash
           VERSION: #1 SMP Sun Nov 22 06:05:42 UTC 2026
           MACHINE: x86_64  (2000 Mhz)
            MEMORY: 127.5 MB
             PANIC: "Kernel panic - not syncing: sysrq triggered crash"`,
		Run: runSys,
	}
}

// SysInfo is what "sys" shows (and "sys --json" prints).
type SysInfo struct {
	Kernel        string `json:"kernel"`
	Dumpfile      string `json:"dumpfile"`
	CPUs          int    `json:"cpus"`
	CPUsOffline   int    `json:"cpus_offline"`
	Date          string `json:"date"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	LoadAverage   string `json:"load_average"`
	Tasks         int    `json:"tasks"`
	Nodename      string `json:"nodename"`
	Release       string `json:"release"`
	Version       string `json:"version"`
	Machine       string `json:"machine"`
	MHz           int    `json:"mhz"`
	MemoryBytes   uint64 `json:"memory_bytes"`
	Panic         string `json:"panic"`
	Tainted       bool   `json:"tainted"`
	Livepatch     bool   `json:"livepatch"`
	date          time.Time
	uptime        time.Duration
}

func readSysInfo(env *Env) (*SysInfo, error) {
	k := env.Kernel
	s := &SysInfo{Dumpfile: env.DumpPath}
	if v := k.Vmlinux(); v != nil {
		s.Kernel = v.Path
	}
	if m, err := analyze.TaintMask(k); err == nil {
		s.Tainted = m != 0
		s.Livepatch = m&(1<<15) != 0
	}
	present, err := analyze.PresentCPUs(k)
	if err != nil {
		return nil, err
	}
	online, err := analyze.OnlineCPUs(k)
	if err != nil {
		return nil, err
	}
	s.CPUs = len(present)
	if s.CPUs == 0 {
		s.CPUs = len(k.Dump().CPUs())
	}
	if len(online) > 0 && s.CPUs > len(online) {
		s.CPUsOffline = s.CPUs - len(online)
	}
	if s.date, err = analyze.CrashTime(k); err != nil {
		return nil, err
	}
	s.Date = s.date.UTC().Format(time.RFC3339)
	if s.uptime, err = analyze.Uptime(k); err != nil {
		return nil, err
	}
	s.UptimeSeconds = int64(s.uptime / time.Second)
	if s.LoadAverage, err = analyze.LoadAverage(k); err != nil {
		return nil, err
	}
	tasks, err := analyze.Tasks(k)
	if err != nil {
		return nil, err
	}
	s.Tasks = len(tasks)
	u, err := analyze.ReadUtsname(k)
	if err != nil {
		return nil, err
	}
	s.Nodename, s.Release, s.Version, s.Machine = u.Nodename, u.Release, u.Version, u.Machine
	s.MHz = analyze.CPUMHz(k)
	if s.MemoryBytes, err = analyze.MemorySize(k); err != nil {
		return nil, err
	}
	if s.Panic, err = analyze.PanicMessage(k); err != nil {
		return nil, err
	}
	return s, nil
}

func runSys(_ context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("sys %s is not supported yet", strings.Join(args, " "))
	}
	s, err := readSysInfo(env)
	if err != nil {
		return err
	}
	if env.JSON {
		return json.NewEncoder(env.Out).Encode(s)
	}
	var b strings.Builder
	kernel := s.Kernel
	if s.Livepatch {
		kernel += "  [LIVEPATCH]"
	}
	if s.Tainted {
		kernel += "  [TAINTED]"
	}
	fmt.Fprintf(&b, "      KERNEL: %s\n", kernel)
	fmt.Fprintf(&b, "    DUMPFILE: %s%s\n", s.Dumpfile, dumpfileTags(env.Kernel))
	fmt.Fprintf(&b, "        CPUS: %d", s.CPUs)
	if s.CPUsOffline > 0 {
		fmt.Fprintf(&b, " [OFFLINE: %d]", s.CPUsOffline)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "        DATE: %s\n", crashDate(s.date))
	fmt.Fprintf(&b, "      UPTIME: %s\n", crashDuration(s.uptime))
	fmt.Fprintf(&b, "LOAD AVERAGE: %s\n", s.LoadAverage)
	fmt.Fprintf(&b, "       TASKS: %d\n", s.Tasks)
	fmt.Fprintf(&b, "    NODENAME: %s\n", s.Nodename)
	fmt.Fprintf(&b, "     RELEASE: %s\n", s.Release)
	fmt.Fprintf(&b, "     VERSION: %s\n", s.Version)
	if s.MHz != 0 {
		fmt.Fprintf(&b, "     MACHINE: %s  (%d Mhz)\n", s.Machine, s.MHz)
	} else {
		fmt.Fprintf(&b, "     MACHINE: %s  (unknown Mhz)\n", s.Machine)
	}
	fmt.Fprintf(&b, "      MEMORY: %s\n", pagesToSize(s.MemoryBytes/4096))
	suffix := ""
	if strings.Contains(s.Panic, "Oops: ") {
		suffix = " (check log for details)"
	}
	fmt.Fprintf(&b, "       PANIC: \"%s\"%s\n", s.Panic, suffix)
	_, err = io.WriteString(env.Out, b.String())
	return err
}

// dumpfileTags is what crash appends to DUMPFILE for a kdump-compressed
// (or flattened) dump that is not whole: filtered (dump_level > 0 in
// the sub-header), cut short, or without the vmemmap.
func dumpfileTags(k *analyze.Kernel) string {
	h := k.Dump().Kdump()
	if h == nil {
		return ""
	}
	tags := ""
	if h.DumpLevel > 0 {
		tags += " [PARTIAL DUMP]"
	}
	if h.Incomplete() {
		tags += " [INCOMPLETE]"
	}
	if h.Status&0x10 != 0 { // DUMP_DH_EXCLUDED_VMEMMAP
		tags += " [EXCLUDED VMEMMAP]"
	}
	if tags == "" {
		return ""
	}
	return " " + tags
}

// crashDate formats t as crash's ctime_tz: "%a %b %e %T %Z %Y" in local
// time.
func crashDate(t time.Time) string {
	return t.Local().Format("Mon Jan _2 15:04:05 MST 2006")
}

// crashDuration formats an uptime as crash's convert_time:
// "[N days, ]HH:MM:SS".
func crashDuration(d time.Duration) string {
	s := int64(d / time.Second)
	days := s / 86400
	s %= 86400
	out := fmt.Sprintf("%02d:%02d:%02d", s/3600, s%3600/60, s%60)
	if days > 0 {
		out = fmt.Sprintf("%d days, ", days) + out
	}
	return out
}

// pagesToSize is crash's pages_to_size: "0", "N KB", "N.N MB" or
// "N.N GB", with a ".0" dropped.
func pagesToSize(pages uint64) string {
	if pages == 0 {
		return "0"
	}
	total := float64(pages) * 4096
	var s string
	switch {
	case total >= 1<<30:
		s = fmt.Sprintf("%.1f GB", total/(1<<30))
	case total >= 1<<20:
		s = fmt.Sprintf("%.1f MB", total/(1<<20))
	default:
		s = fmt.Sprintf("%d KB", uint64(total/1024))
	}
	return strings.Replace(s, ".0 ", " ", 1)
}
