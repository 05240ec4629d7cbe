package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/vmcore"
)

type convertOptions struct {
	to             string
	compress       string
	filter         int
	verify         bool
	excludedAsZero bool
	panicString    string
	lkcdVersion    int
	lkcdPlain      bool
	lkcdRawRegs    bool
	lkcdZlibZero   bool
	vmlinux        string
	workers        int
	cpuProfile     string
}

func newConvertCmd(stdout, stderr io.Writer) *cobra.Command {
	var o convertOptions
	c := &cobra.Command{
		Use:   "convert --to lkcd|elf|kdump [--compress zlib|zstd|snappy|none] [--filter LEVEL] [--verify] IN OUT",
		Short: "convert a dump to LKCD (the lcrash format), ELF or kdump-compressed",
		Long: `convert writes the dump IN in another format to OUT, accounting for every page
frame: pages with data are written, pages a filter excluded stay excluded
(ELF, kdump), and frames IN has no data for stay absent.

  --to lkcd    LKCD v8 (v9 when the headers need more room), the lcrash format
               that crash still reads: pages zlib-compressed (or --compress none),
               all-zero pages as RAW records of size 0 (--lkcd-zlib-zero writes
               whole records, which libkdumpfile needs).
               LKCD cannot mark a page excluded: a filtered input is refused
               unless --excluded-as-zero writes those pages as zeros.
               LKCD has no VMCOREINFO, so crash needs the KASLR offset and
               phys_base on its command line; convert prints them. kcrash
               reads them back from a copy of the notes it keeps in the header.
               crash and lcrash begin an active task's backtrace at the
               header's rip/rsp, so with --vmlinux those two are set to the
               frame the CPU stopped in (machine_kexec, panic,
               crash_nmi_callback, …: where crash's own stack search starts
               for ELF and kdump files); the notes' registers are kept in
               kcrash's copy. --lkcd-raw-regs copies them unchanged.
  --to elf     ELF64 vmcore, physical addresses only, one PT_LOAD per run of
               pages, all notes of IN (registers, VMCOREINFO) in one PT_NOTE.
  --to kdump   makedumpfile's kdump-compressed format (header version 6),
               zlib by default, or zstd, snappy, none.

  --filter LEVEL  makedumpfile's dump level (-d), the sum of:
                 1  pages filled with zeros
                 2  page cache pages without private data
                 4  page cache pages, with private data or not
                 8  user process data (anonymous and hugetlbfs pages)
                16  free pages (the buddy allocator's)
               Bits 2-16 classify each page by the crashed kernel's struct
               page (mem_map through VMCOREINFO's mem_section, as
               makedumpfile does), and also drop hwpoison and offline
               pages. A page whose struct page cannot be read, or that no
               memory section maps, is kept; convert prints the counts.
               Pages filtered out are recorded as excluded (ELF: the
               p_filesz < p_memsz tail of a PT_LOAD); LKCD refuses.
               Bit 1 is done as makedumpfile does it for each format:
               ELF excludes all-zero pages; kdump keeps them, each one's
               descriptor pointing at one shared zero page (it reads back
               as zeros and costs a descriptor; convert stores kdump zero
               pages so at any level, and bit 1 is recorded in the
               header). The summary line counts the zero pages stored as
               the shared zero page or dropped.
  --verify     re-open OUT and compare every page with IN before keeping it:
               each page filtered out must be one the filter excluded.

OUT is written to a temporary file in its directory and renamed over OUT
only when complete (and verified), so a failed or interrupted conversion
never leaves a file under OUT.`,
		Args:          cobra.ExactArgs(2),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			if o.cpuProfile != "" {
				stopProf, err := startCPUProfile(o.cpuProfile)
				if err != nil {
					return err
				}
				defer stopProf()
			}
			return runConvert(ctx, o, args[0], args[1], stdout, stderr)
		},
	}
	f := c.Flags()
	f.StringVar(&o.to, "to", "", "output format: lkcd, elf or kdump")
	f.StringVar(&o.compress, "compress", "", "page compression: zlib (default), zstd, snappy (kdump only) or none")
	f.IntVar(&o.filter, "filter", 0, "dump level as makedumpfile's -d: 1 zero, 2 cache, 4 cache with private data, 8 user data, 16 free pages")
	f.BoolVar(&o.verify, "verify", false, "re-open the output and compare every page with the input")
	f.BoolVar(&o.excludedAsZero, "excluded-as-zero", false, "LKCD: write pages excluded from the input as zero pages")
	f.StringVar(&o.panicString, "panic-string", "", "LKCD: the panic message for dh_panic_string (default: found in the kernel log as crash finds it)")
	f.IntVar(&o.lkcdVersion, "lkcd-version", 0, "LKCD: header version 8 or 9 (default: 8 unless the headers need 9)")
	f.StringVar(&o.vmlinux, "vmlinux", "", "the crashed kernel's vmlinux (for --to lkcd: where each CPU's backtrace starts)")
	f.BoolVar(&o.lkcdZlibZero, "lkcd-zlib-zero", false, "LKCD: write all-zero pages as whole zlib records instead of size-0 RAW records (libkdumpfile reads only whole records)")
	f.BoolVar(&o.lkcdRawRegs, "lkcd-raw-regs", false, "LKCD: copy each CPU's NT_PRSTATUS registers unchanged (default: rip/rsp at the frame the CPU stopped in, where crash starts its backtrace)")
	f.BoolVar(&o.lkcdPlain, "lkcd-plain", false, "LKCD: leave out kcrash's copy of the notes (VMCOREINFO, full registers) from the header")
	f.IntVar(&o.workers, "workers", 0, "pages compressed in parallel by this many workers (default: all CPUs)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file (for kcrash's developers)")
	_ = f.MarkHidden("cpuprofile")
	_ = c.MarkFlagRequired("to")
	return c
}

func runConvert(ctx context.Context, o convertOptions, in, out string, stdout, stderr io.Writer) (err error) {
	switch o.to {
	case "lkcd", "elf", "kdump":
	default:
		return fmt.Errorf("--to %q: want lkcd, elf or kdump", o.to)
	}
	if o.filter < 0 || o.filter > analyze.DumpLevelAll {
		return fmt.Errorf("--filter %d: not a dump level (0 to 31)", o.filter)
	}
	comp := vmcore.Compression(o.compress)
	if o.to == "elf" && comp != "" && comp != vmcore.CompressNone {
		return fmt.Errorf("--compress %s: ELF pages are not compressed", comp)
	}
	if o.to == "lkcd" && comp != "" && comp != vmcore.CompressZlib && comp != vmcore.CompressNone {
		return fmt.Errorf("--compress %s: LKCD pages are zlib-compressed or raw (none)", comp)
	}
	if o.to == "lkcd" && o.filter != 0 {
		return errors.New("--filter with --to lkcd: LKCD cannot mark a page excluded")
	}
	if err := notSameFile(in, out); err != nil {
		return err
	}

	d, err := vmcore.Open(in, vmcore.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	var cfg analyze.Config
	if o.vmlinux != "" {
		v, err := openVmlinux(o.vmlinux)
		if err != nil {
			return err
		}
		defer v.Close()
		cfg.Vmlinux = v
	}
	k, kerr := analyze.Open(d, cfg)
	if kerr != nil && o.vmlinux != "" {
		return kerr
	}
	if o.to == "lkcd" && !o.lkcdRawRegs && o.vmlinux == "" {
		fmt.Fprintln(stderr, "note: without --vmlinux the LKCD header holds the notes' registers unchanged; crash starts an active task's backtrace there (see --to lkcd)")
	}
	ci := crashInfo(d, k, o, stderr)
	var pf *analyze.PageFilter
	if o.filter&^analyze.DumpLevelZero != 0 {
		if kerr != nil {
			return kerr
		}
		if pf, err = analyze.FilterPages(k, o.filter); err != nil {
			return fmt.Errorf("--filter %d: %w", o.filter, err)
		}
		fmt.Fprintf(stdout, "filter: %v\n", pf.Counts)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".kcrash-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	prog := newProgress(stderr, "writing")
	wo := vmcore.WriteOptions{
		Compression: comp,
		Workers:     o.workers,
		DropZero:    o.filter&analyze.DumpLevelZero != 0,
		Progress: func(done, total uint64) error {
			prog.show(done, total)
			return ctx.Err()
		},
	}
	if pf != nil {
		wo.Exclude = pf.Excluded
		wo.FilterLevel = o.filter &^ analyze.DumpLevelZero
	}
	var st vmcore.WriteStats
	switch o.to {
	case "elf":
		st, err = vmcore.WriteELF(tmp, d, wo)
	case "kdump":
		st, err = vmcore.WriteKdump(tmp, d, vmcore.KdumpOptions{WriteOptions: wo, Crash: ci})
	case "lkcd":
		st, err = vmcore.WriteLKCD(tmp, d, vmcore.LKCDOptions{WriteOptions: wo, Crash: ci,
			ExcludedAsZero: o.excludedAsZero, Version: o.lkcdVersion, OmitNotes: o.lkcdPlain,
			RawRegisters: o.lkcdRawRegs, ZlibZeroPages: o.lkcdZlibZero})
		if errors.Is(err, vmcore.ErrExcludedPages) {
			err = fmt.Errorf("%w\n(use --excluded-as-zero to write them as zero pages, or convert the unfiltered dump)", err)
		}
	}
	prog.done()
	if err != nil {
		return fmt.Errorf("converting %s: %w", in, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if o.verify {
		cs, err := verifyConversion(ctx, d, tmp.Name(), st, o, pf, stderr)
		if err != nil {
			return fmt.Errorf("verifying %s: %w", out, err)
		}
		fmt.Fprintf(stdout, "verified: %v\n", cs)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	tmp = nil
	fmt.Fprintf(stdout, "%s: %s, %v\n", out, o.to, st)
	if o.to == "lkcd" {
		if kaslr, pb, ok := vmcore.LKCDReaderHint(d); ok {
			l5 := ""
			if vi := d.VMCOREINFO(); vi != nil && vi.Numbers["pgtable_l5_enabled"] == 1 {
				l5 = " --machdep vm=5level"
			}
			fmt.Fprintf(stdout, "crash needs: crash --kaslr=%#x --machdep phys_base=%s%s vmlinux %s\n", kaslr, signedHex(pb), l5, out)
		} else {
			fmt.Fprintf(stdout, "the input records no KASLR offset or phys_base: crash may need --kaslr and --machdep phys_base= found by other means\n")
		}
	}
	return nil
}

func signedHex(v int64) string {
	if v < 0 {
		return "-" + "0x" + strconv.FormatUint(uint64(-v), 16)
	}
	return "0x" + strconv.FormatUint(uint64(v), 16)
}

// notSameFile refuses to convert a file onto itself: the rename would
// replace the input.
func notSameFile(in, out string) error {
	si, err := os.Stat(in)
	if err != nil {
		return err
	}
	if so, err := os.Stat(out); err == nil && os.SameFile(si, so) {
		return fmt.Errorf("%s and %s are the same file", in, out)
	}
	return nil
}

// crashInfo finds what the output's headers record about the crash,
// through the kernel's own symbols (kallsyms via VMCOREINFO; no vmlinux
// needed), and only that: an ELF output records nothing, a kdump header
// the panic CPU and utsname, an LKCD header also each CPU's current
// task, its stack start (with --vmlinux) and the panic message, which
// takes reading the log. What cannot be found is left unknown.
func crashInfo(d *vmcore.Dump, k *analyze.Kernel, o convertOptions, stderr io.Writer) vmcore.CrashInfo {
	ci := vmcore.CrashInfo{PanicString: o.panicString}
	if k == nil || o.to == "elf" {
		return ci
	}
	if cpu, _, err := analyze.PanicCPU(k); err == nil {
		ci.PanicCPU, ci.PanicCPUKnown = cpu, true
	} else {
		fmt.Fprintf(stderr, "note: panic CPU unknown (%v)\n", err)
	}
	ci.Utsname = utsname(k)
	if o.to != "lkcd" {
		return ci
	}
	for i := range d.CPUs() {
		t, err := analyze.CurrentTask(k, i)
		if err != nil {
			fmt.Fprintf(stderr, "note: current task of CPU %d unknown (%v)\n", i, err)
			t = 0
		}
		ci.CurrentTasks = append(ci.CurrentTasks, uint64(t))
		if !o.lkcdRawRegs {
			ci.StackStarts = append(ci.StackStarts, stackStart(k, t, i, ci.PanicCPUKnown && i == ci.PanicCPU))
		}
	}
	if ci.PanicCPUKnown && ci.PanicCPU < len(ci.CurrentTasks) {
		ci.PanicTask = ci.CurrentTasks[ci.PanicCPU]
	}
	if ci.PanicString == "" {
		if recs, err := analyze.LogRecords(k); err == nil {
			ci.PanicString = panicMessage(recs)
		}
	}
	return ci
}

// stackStart is where the crash utility begins the backtrace of the
// task running on cpu (the frame its stack search finds), zero when
// unknown or when crash would take the CPU's registers anyway.
func stackStart(k *analyze.Kernel, task analyze.VirtAddr, cpu int, panicking bool) vmcore.StackStart {
	if task == 0 {
		return vmcore.StackStart{}
	}
	cs := analyze.CrashStartOf(k, task, cpu, panicking)
	if cs.Slot == 0 {
		return vmcore.StackStart{}
	}
	pc, err := k.ReadU64(cs.Slot, "stack contents")
	if err != nil {
		return vmcore.StackStart{}
	}
	return vmcore.StackStart{PC: pc, SP: uint64(cs.Slot)}
}

// utsname reads the crashed kernel's init_uts_ns.name (struct
// new_utsname, 6 fields of 65 bytes), whose address VMCOREINFO gives, so
// the written headers carry the node name and version too, as
// makedumpfile's do. nil when it cannot be read.
func utsname(k *analyze.Kernel) *vmcore.Utsname {
	vi := k.VMCOREINFO()
	if vi == nil {
		return nil
	}
	sym, ok := vi.Symbol("init_uts_ns")
	if !ok {
		return nil
	}
	var b [6 * 65]byte
	if err := k.ReadKernelImage(b[:], analyze.VirtAddr(sym+uint64(vi.Offsets["uts_namespace.name"])), "init_uts_ns.name"); err != nil {
		return nil
	}
	f := func(i int) string {
		s := b[65*i : 65*(i+1)]
		if j := strings.IndexByte(string(s), 0); j >= 0 {
			s = s[:j]
		}
		return string(s)
	}
	u := &vmcore.Utsname{Sysname: f(0), Nodename: f(1), Release: f(2), Version: f(3), Machine: f(4), Domainname: f(5)}
	if u.Sysname != "Linux" || u.Release != vi.OSRelease {
		return nil // not what it should be: better the defaults than garbage
	}
	return u
}

// panicMessages are the log lines crash takes for the panic message, in
// its order of preference (crash:task.c panic_msg[]).
var panicMessages = []string{
	"SysRq : Crash", "SysRq : Trigger a crash", "SysRq : Netdump", "Kernel panic: ", "Kernel panic - ",
	"Kernel BUG at", "kernel BUG at", "Unable to handle kernel paging request",
	"Unable to handle kernel NULL pointer dereference", "BUG: unable to handle kernel ",
	"general protection fault: ", "double fault: ", "divide error: ", "stack segment: ",
	"[Hardware Error]: ", "Bad mode in ", "Oops: ",
}

// panicMessage finds the panic message in the kernel log as crash's
// get_panicmsg does for dumps that do not record one, so that crash
// shows the same PANIC line for the LKCD file (where it prints
// dh_panic_string) as for the original.
func panicMessage(recs []analyze.LogRecord) string {
	for _, m := range panicMessages {
		for _, r := range recs {
			for _, line := range strings.Split(r.Text, "\n") {
				if strings.Contains(line, m) {
					return line
				}
			}
		}
	}
	return ""
}

func verifyConversion(ctx context.Context, d *vmcore.Dump, path string, st vmcore.WriteStats, o convertOptions, pf *analyze.PageFilter, stderr io.Writer) (vmcore.CompareStats, error) {
	c, err := vmcore.Open(path, vmcore.Options{})
	if err != nil {
		return vmcore.CompareStats{}, err
	}
	defer c.Close()
	prog := newProgress(stderr, "verifying")
	defer prog.done()
	var filtered func(vmcore.PFN) bool
	if pf != nil {
		filtered = pf.Excluded
	}
	// Only the ELF output excludes zero pages at bit 1; in a kdump file
	// they must read back as zeros.
	zeroDropped := o.filter&analyze.DumpLevelZero != 0 && o.to == "elf"
	return vmcore.Compare(d, c, vmcore.CompareOptions{
		Filtered:       filtered,
		ExcludedAsZero: st.ExcludedAsZero > 0,
		ZeroDropped:    zeroDropped,
		Progress: func(done uint64) error {
			prog.show(done, st.Frames)
			return ctx.Err()
		},
	})
}

// progress prints a one-line progress report on stderr when stderr is
// a terminal, and nothing otherwise.
type progress struct {
	w     io.Writer
	what  string
	on    bool
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, what string) *progress {
	f, ok := w.(*os.File)
	on := false
	if ok {
		st, err := f.Stat()
		on = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return &progress{w: w, what: what, on: on}
}

func (p *progress) show(done, total uint64) {
	if !p.on || time.Since(p.last) < 200*time.Millisecond || total == 0 {
		return
	}
	p.last = time.Now()
	p.shown = true
	fmt.Fprintf(p.w, "\r%s: %d/%d pages (%d%%)", p.what, done, total, done*100/total)
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
