package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/vmcore"
)

func dumpinfoCommand() Command {
	return Command{
		Name:     "dumpinfo",
		Summary:  "describe the dump file",
		Synopsis: "dumpinfo [--json]",
		Help: `  This command describes the dump file itself, without needing the vmlinux:
  its format and page compression, architecture, page size, kernel release,
  KASLR offset and phys_base, the CPUs with the registers each one saved
  (RIP and RSP), the panicking CPU and its task, the physical memory ranges,
  how many pages are present, excluded by filtering or recorded as zero,
  and the VMCOREINFO keys.

  The same report is printed by "kcrash dumpinfo DUMPFILE" from the shell.
  With --json it is one JSON object (see docs/json.md).

  EXAMPLES
    Describe the dump, then just its CPUs:

      kcrash> dumpinfo
         DUMPFILE: vmcore-d31-zstd.kdump (4028733 bytes)
           FORMAT: kdump-compressed, zstd-compressed pages
      ...
      kcrash> dumpinfo --json | grep -A3 cpu_state`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			info, err := CollectDumpInfo(env.Kernel, env.DumpPath)
			if err != nil {
				return err
			}
			if env.JSON || (len(args) == 1 && args[0] == "--json") {
				return WriteJSON(env.Out, info)
			}
			return info.WriteText(env.Out)
		},
	}
}

// DumpInfo is dumpinfo's report. Its JSON form is a stable interface:
// fields are only ever added.
type DumpInfo struct {
	File         string            `json:"file"`
	FileSize     int64             `json:"file_size"`
	Format       string            `json:"format"`
	Compression  string            `json:"compression"`
	Arch         string            `json:"arch"`
	PageSize     uint64            `json:"page_size"`
	Release      string            `json:"release,omitempty"`
	BuildID      string            `json:"build_id,omitempty"`
	KASLROffset  *string           `json:"kaslr_offset"`
	PhysBase     *string           `json:"phys_base"`
	CrashTime    *time.Time        `json:"crash_time,omitempty"`
	NumCPUs      int               `json:"cpus"`
	PanicCPU     *int              `json:"panic_cpu"`
	PanicPID     *int32            `json:"panic_pid"`
	PanicSource  string            `json:"panic_cpu_source,omitempty"`
	CPUs         []CPUInfo         `json:"cpu_state"`
	Ranges       []RangeInfo       `json:"memory_ranges"`
	Pages        PageInfo          `json:"pages"`
	Missing      []RangeInfo       `json:"missing_ranges,omitempty"`
	Kdump        *KdumpInfo        `json:"kdump_header,omitempty"`
	ELF          *ELFInfo          `json:"elf,omitempty"`
	LKCD         *LKCDInfo         `json:"lkcd_header,omitempty"`
	VMCOREINFO   map[string]string `json:"vmcoreinfo,omitempty"`
	VMCOREINFOKs []string          `json:"-"`
	Warnings     []string          `json:"warnings"`
}

// CPUInfo is one CPU's saved state.
type CPUInfo struct {
	CPU int `json:"cpu"`
	// PID is pr_pid of the CPU's NT_PRSTATUS: the running task's pid in
	// a kdump. QEMU writes the vCPU id there instead, so for QEMU-made
	// dumps PID is null and QEMUVCPU holds that id.
	PID      *int32 `json:"pid"`
	QEMUVCPU *int32 `json:"qemu_vcpu_id,omitempty"`
	RIP      string `json:"rip"`
	RSP      string `json:"rsp"`
	CR3      string `json:"cr3,omitempty"`
}

// RangeInfo is a physical range.
type RangeInfo struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// PageInfo counts page frames by what the dump holds for them.
type PageInfo struct {
	Present  uint64 `json:"present"`
	Excluded uint64 `json:"excluded"`
	Zero     uint64 `json:"zero"`
	// ZeroScanned: for formats that do not mark zero pages (ELF), Zero
	// was found by reading every page.
	ZeroScanned bool `json:"zero_scanned"`
}

// KdumpInfo is the part of the kdump header worth showing.
type KdumpInfo struct {
	Signature     string `json:"signature"`
	HeaderVersion int32  `json:"header_version"`
	DumpLevel     int32  `json:"dump_level"`
	Status        uint32 `json:"status"`
	CurrentCPU    int32  `json:"current_cpu"`
	NrCPUs        int32  `json:"nr_cpus"`
	MaxMapnr      uint64 `json:"max_mapnr"`
	Release       string `json:"utsname_release"`
	Nodename      string `json:"utsname_nodename"`
}

// ELFInfo is the part of the ELF container worth showing.
type ELFInfo struct {
	PhOff    string `json:"e_phoff"`
	PTNotes  int    `json:"pt_notes"`
	PTLoads  int    `json:"pt_loads"`
	Physical bool   `json:"physical_only"` // QEMU paging=false: p_vaddr is 0
}

// LKCDInfo is the part of the LKCD headers worth showing.
type LKCDInfo struct {
	Version     uint32 `json:"version"`
	DumpLevel   uint32 `json:"dump_level"`
	Compress    uint32 `json:"dump_compress"`
	PanicString string `json:"panic_string"`
	CurrentTask string `json:"current_task"`
	DumpingCPU  *int   `json:"dumping_cpu"` // null without an x86_64 asm header
	NumPages    uint32 `json:"num_pages"`
	Records     uint64 `json:"records"`
	Ended       bool   `json:"end_record"`
	// KcrashNotes: the file holds kcrash's copy of the original notes,
	// so VMCOREINFO (KASLR offset, phys_base) and the full registers.
	KcrashNotes bool `json:"kcrash_notes"`
}

func hexp(v uint64) *string { s := fmt.Sprintf("%#x", v); return &s }

func signedHex(v int64) string {
	if v < 0 {
		return fmt.Sprintf("-%#x", uint64(-v))
	}
	return fmt.Sprintf("%#x", v)
}

// CollectDumpInfo gathers dumpinfo's facts.
func CollectDumpInfo(k *analyze.Kernel, path string) (*DumpInfo, error) {
	d := k.Dump()
	info := &DumpInfo{
		File:        filepath.Base(path),
		FileSize:    d.Size(),
		Format:      string(d.Format()),
		Compression: d.Compression(),
		Arch:        "x86_64",
		PageSize:    d.PageSize(),
		NumCPUs:     len(d.CPUs()),
		Warnings:    d.Warnings(),
	}
	if vi := d.VMCOREINFO(); vi != nil {
		info.Release = vi.OSRelease
		info.BuildID = vi.BuildID
		if vi.HasKernelOffset {
			info.KASLROffset = hexp(vi.KernelOffset)
		}
		if vi.HasPhysBase {
			s := signedHex(vi.PhysBase)
			info.PhysBase = &s
		}
		if vi.HasCrashTime {
			t := time.Unix(vi.CrashTime, 0).UTC()
			info.CrashTime = &t
		}
		info.VMCOREINFO = vi.Values
		info.VMCOREINFOKs = vi.Keys
	}
	if h := d.Kdump(); h != nil {
		info.Kdump = &KdumpInfo{Signature: h.Signature, HeaderVersion: h.HeaderVersion, DumpLevel: h.DumpLevel,
			Status: h.Status, CurrentCPU: h.CurrentCPU, NrCPUs: h.NrCPUs, MaxMapnr: h.MaxMapnr,
			Release: h.Utsname.Release, Nodename: h.Utsname.Nodename}
		if info.Release == "" {
			info.Release = h.Utsname.Release
		}
		if info.PhysBase == nil {
			s := signedHex(int64(h.PhysBase))
			info.PhysBase = &s
		}
	}
	if e := d.ELF(); e != nil {
		phys := true
		for _, l := range e.Loads {
			if l.VAddr != 0 {
				phys = false
			}
		}
		info.ELF = &ELFInfo{PhOff: fmt.Sprintf("%#x", e.PhOff), PTNotes: e.NumNotes, PTLoads: len(e.Loads), Physical: phys}
	}
	if h := d.LKCD(); h != nil {
		info.LKCD = &LKCDInfo{Version: h.Version, DumpLevel: h.DumpLevel, Compress: h.Compress, PanicString: h.PanicString,
			CurrentTask: fmt.Sprintf("%#x", h.CurrentTask), NumPages: h.NumPages, Records: h.Records, Ended: h.Ended, KcrashNotes: h.KcrashNotes}
		if h.Asm != nil {
			cpu := int(h.Asm.DumpingCPU)
			info.LKCD.DumpingCPU = &cpu
		}
		if info.Release == "" {
			info.Release = h.Utsname.Release
		}
	}
	for _, c := range d.CPUs() {
		pid := c.PID
		ci := CPUInfo{CPU: c.Index, PID: &pid, RIP: fmt.Sprintf("%#016x", c.Regs.RIP), RSP: fmt.Sprintf("%#016x", c.Regs.RSP)}
		if c.QEMU != nil {
			ci.CR3 = fmt.Sprintf("%#x", c.QEMU.CR[3])
			ci.PID, ci.QEMUVCPU = nil, &pid
		}
		info.CPUs = append(info.CPUs, ci)
	}
	if cpu, src, err := analyze.PanicCPU(k); err == nil {
		info.PanicCPU = &cpu
		info.PanicSource = src
		if pid, err := analyze.CurrentPID(k, cpu); err == nil {
			info.PanicPID = &pid
		} else if cpu < len(info.CPUs) && info.CPUs[cpu].PID != nil {
			info.PanicPID = info.CPUs[cpu].PID
		}
	} else {
		info.Warnings = append(info.Warnings, "panic CPU unknown: "+err.Error())
	}
	for _, r := range d.Ranges() {
		info.Ranges = append(info.Ranges, RangeInfo{fmt.Sprintf("%#x", uint64(r.Start)), fmt.Sprintf("%#x", uint64(r.End))})
	}
	for _, r := range d.Missing() {
		info.Missing = append(info.Missing, RangeInfo{fmt.Sprintf("%#x", uint64(r.Start)), fmt.Sprintf("%#x", uint64(r.End))})
	}
	scan := d.Format() == vmcore.FormatELF
	c, err := d.CountPages(scan)
	if err != nil {
		return nil, fmt.Errorf("counting pages: %w", err)
	}
	info.Pages = PageInfo{Present: c.Present, Excluded: c.Excluded, Zero: c.Zero, ZeroScanned: scan}
	if info.Warnings == nil {
		info.Warnings = []string{}
	}
	return info, nil
}

// WriteText prints the report for people.
func (info *DumpInfo) WriteText(w io.Writer) error {
	var b strings.Builder
	row := func(k, format string, a ...any) { fmt.Fprintf(&b, "%12s: %s\n", k, fmt.Sprintf(format, a...)) }
	orNone := func(s *string) string {
		if s == nil {
			return "(unknown)"
		}
		return *s
	}
	row("DUMPFILE", "%s (%d bytes)", info.File, info.FileSize)
	if info.Compression == "none" {
		row("FORMAT", "%s, uncompressed pages", info.Format)
	} else {
		row("FORMAT", "%s, %s-compressed pages", info.Format, info.Compression)
	}
	if k := info.Kdump; k != nil {
		row("HEADER", "%q version %d, dump level %d, status %#x, max_mapnr %d", k.Signature, k.HeaderVersion, k.DumpLevel, k.Status, k.MaxMapnr)
	}
	if e := info.ELF; e != nil {
		row("ELF", "e_phoff %s, %d PT_NOTE, %d PT_LOAD%s", e.PhOff, e.PTNotes, e.PTLoads, map[bool]string{true: " (physical addresses only)", false: ""}[e.Physical])
	}
	if l := info.LKCD; l != nil {
		cpu := "unknown"
		if l.DumpingCPU != nil {
			cpu = fmt.Sprint(*l.DumpingCPU)
		}
		row("HEADER", "LKCD version %#x, dump level %d, compress %d, %d pages (%d records%s), dumping CPU %s, panic task %s",
			l.Version, l.DumpLevel, l.Compress, l.NumPages, l.Records, map[bool]string{true: "", false: ", no END record"}[l.Ended], cpu, l.CurrentTask)
		row("PANIC", "%q", l.PanicString)
		if !l.KcrashNotes {
			row("NOTE", "LKCD records no KASLR offset or phys_base: give --kaslr and --phys-base")
		}
	}
	row("ARCH", "%s", info.Arch)
	row("PAGE SIZE", "%d", info.PageSize)
	row("RELEASE", "%s", info.Release)
	if info.BuildID != "" {
		row("BUILD-ID", "%s", info.BuildID)
	}
	row("KASLR OFFSET", "%s", orNone(info.KASLROffset))
	row("PHYS_BASE", "%s", orNone(info.PhysBase))
	if info.CrashTime != nil {
		row("CRASH TIME", "%s", info.CrashTime.Format("Mon Jan _2 15:04:05 UTC 2006"))
	}
	row("CPUS", "%d", info.NumCPUs)
	if info.PanicCPU != nil {
		pid := "?"
		if info.PanicPID != nil {
			pid = fmt.Sprint(*info.PanicPID)
		}
		row("PANIC CPU", "%d (pid %s, from %s)", *info.PanicCPU, pid, info.PanicSource)
	} else {
		row("PANIC CPU", "(unknown)")
	}
	b.WriteString("\n  CPU      PID  RIP                 RSP\n")
	for _, c := range info.CPUs {
		pid := "-"
		if c.PID != nil {
			pid = fmt.Sprint(*c.PID)
		}
		fmt.Fprintf(&b, "  %3d  %7s  %s  %s\n", c.CPU, pid, c.RIP, c.RSP)
	}
	if len(info.CPUs) > 0 && info.CPUs[0].QEMUVCPU != nil {
		b.WriteString("  (QEMU-made dump: NT_PRSTATUS holds vCPU ids, not task pids)\n")
	}
	b.WriteString("\n  MEMORY RANGES\n")
	for _, r := range info.Ranges {
		fmt.Fprintf(&b, "    %18s - %-18s\n", r.Start, r.End)
	}
	zeroHow := "recorded as zero"
	if info.Pages.ZeroScanned {
		zeroHow = "all zero bytes"
	}
	fmt.Fprintf(&b, "\n  PAGES: %d present, %d excluded, %d zero (%s)\n",
		info.Pages.Present, info.Pages.Excluded, info.Pages.Zero, zeroHow)
	if len(info.Missing) > 0 {
		b.WriteString("\n  MISSING (file truncated)\n")
		for _, r := range info.Missing {
			fmt.Fprintf(&b, "    %18s - %-18s\n", r.Start, r.End)
		}
	}
	if len(info.VMCOREINFOKs) > 0 {
		fmt.Fprintf(&b, "\n  VMCOREINFO (%d keys)\n", len(info.VMCOREINFOKs))
		for _, k := range info.VMCOREINFOKs {
			fmt.Fprintf(&b, "    %s=%s\n", k, info.VMCOREINFO[k])
		}
	}
	for _, w := range info.Warnings {
		fmt.Fprintf(&b, "\n  WARNING: %s", w)
	}
	if len(info.Warnings) > 0 {
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
