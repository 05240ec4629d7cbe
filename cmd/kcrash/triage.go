package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kcrash/kcrash/analyze"
)

// TriageReport is one dump's entry in "kcrash triage"; its JSON form is
// documented in docs/json.md.
type TriageReport struct {
	Dump         string   `json:"dump"`
	Error        string   `json:"error,omitempty"`
	Vmlinux      string   `json:"vmlinux,omitempty"`
	Release      string   `json:"release,omitempty"`
	CrashTime    string   `json:"crash_time,omitempty"`
	Uptime       string   `json:"uptime,omitempty"`
	PanicMessage string   `json:"panic_message,omitempty"`
	PanicCPU     *int     `json:"panic_cpu"`
	PanicPID     *int     `json:"panic_pid"`
	PanicComm    string   `json:"panic_comm,omitempty"`
	Taint        string   `json:"taint,omitempty"`
	Backtrace    []string `json:"backtrace"`
	Modules      []string `json:"modules"`
	Verdict      string   `json:"verdict,omitempty"`
	LastLog      []string `json:"last_log"`
	Warnings     []string `json:"warnings"`
}

func newTriageCmd(stdout, stderr io.Writer) *cobra.Command {
	var vmlinux, format string
	var jsonOut, markdown bool
	var lines int
	c := &cobra.Command{
		Use:   "triage DUMPFILE...",
		Short: "summarise many dumps: release, panic, task, backtrace, taint, modules, log tail, verdict",
		Long: `triage opens each dump (in parallel, one worker per core) and reports what a
support engineer asks first. A bad dump yields its own error entry and never
stops the batch; the exit status is 1 if any dump could not be triaged.

The vmlinux is taken from -k, or from a file named vmlinux* beside the dump;
without one, everything that the log and VMCOREINFO tell is still reported.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case jsonOut:
				format = "json"
			case markdown:
				format = "markdown"
			}
			reports := triageAll(cmd.Context(), args, vmlinux, lines, stderr)
			var err error
			switch format {
			case "json":
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				err = enc.Encode(reports)
			case "markdown":
				err = writeTriageMarkdown(stdout, reports)
			default:
				err = writeTriageText(stdout, reports)
			}
			if err != nil {
				return err
			}
			for _, r := range reports {
				if r.Error != "" {
					return exitError{code: 1}
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&vmlinux, "vmlinux", "k", "", "the vmlinux for every dump")
	c.Flags().BoolVar(&jsonOut, "json", false, "one JSON array")
	c.Flags().BoolVar(&markdown, "markdown", false, "a Markdown report")
	c.Flags().IntVar(&lines, "log-lines", 50, "how many of the last log lines to include")
	return c
}

func triageAll(ctx context.Context, dumps []string, vmlinux string, lines int, stderr io.Writer) []TriageReport {
	reports := make([]TriageReport, len(dumps))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	progress := isTerminal(stderr)
	for w := 0; w < min(runtime.NumCPU(), len(dumps)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				reports[i] = triageOne(ctx, dumps[i], vmlinux, lines)
				mu.Lock()
				done++
				if progress {
					fmt.Fprintf(stderr, "\r[%d/%d] %s\x1b[K", done, len(dumps), filepath.Base(dumps[i]))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range dumps {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if progress {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	return reports
}

// findVmlinux looks for a kernel image beside the dump.
func findVmlinux(dump string) string {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(dump), "vmlinux*"))
	for _, m := range matches {
		if isV, err := classify(m); err == nil && isV {
			return m
		}
	}
	return ""
}

func triageOne(ctx context.Context, dump, vmlinux string, lines int) (rep TriageReport) {
	rep = TriageReport{Dump: dump, Backtrace: []string{}, Modules: []string{}, LastLog: []string{}, Warnings: []string{}}
	defer func() {
		if p := recover(); p != nil {
			rep.Error = fmt.Sprintf("internal error (please report): %v", p)
		}
	}()
	if vmlinux == "" {
		vmlinux = findVmlinux(dump)
	}
	args := []string{dump}
	if vmlinux != "" {
		args = append(args, vmlinux)
		rep.Vmlinux = vmlinux
	}
	k, _, closeFn, err := openKernel(sessionOptions{}, args)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	defer closeFn()
	rep.Warnings = append(rep.Warnings, k.Dump().Warnings()...)
	if vi := k.VMCOREINFO(); vi != nil {
		rep.Release = vi.OSRelease
		if vi.HasCrashTime {
			rep.CrashTime = time.Unix(vi.CrashTime, 0).UTC().Format("2006-01-02 15:04:05 UTC")
		}
	} else if h := k.Dump().Kdump(); h != nil {
		rep.Release = h.Utsname.Release
	}
	recs, err := analyze.LogRecords(k)
	if err != nil {
		rep.Warnings = append(rep.Warnings, "kernel log unreadable: "+err.Error())
	}
	t := analyze.TriageFromLog(recs, lines)
	rep.PanicMessage, rep.PanicComm, rep.Taint, rep.Verdict = t.PanicMessage, t.PanicComm, t.Taint, t.Verdict
	if len(recs) > 0 {
		up := time.Duration(t.UptimeNsec)
		rep.Uptime = fmt.Sprintf("%02d:%02d:%02d", int(up.Hours()), int(up.Minutes())%60, int(up.Seconds())%60)
	}
	if t.PanicCPU >= 0 {
		rep.PanicCPU, rep.PanicPID = &t.PanicCPU, &t.PanicPID
	} else if cpu, _, err := analyze.PanicCPU(k); err == nil {
		rep.PanicCPU = &cpu
	}
	rep.Backtrace = append(rep.Backtrace, t.Trace...)
	if mods, err := moduleList(k); err == nil {
		rep.Modules = append(rep.Modules, mods...)
	} else {
		// Without the vmlinux the module list is unreadable; an oops
		// still printed "Modules linked in:".
		rep.Modules = append(rep.Modules, t.Modules...)
	}
	rep.LastLog = append(rep.LastLog, t.LastLog...)
	if len(recs) == 0 && rep.Verdict == "no panic or oops found in the kernel log" {
		rep.Verdict = "unknown: the kernel log could not be read"
	}
	return rep
}

// moduleList names the loaded modules with their taint letters, so
// out-of-tree (O) and unsigned (E) modules stand out: "foo [OE]".
func moduleList(k *analyze.Kernel) ([]string, error) {
	if k.Vmlinux() == nil {
		return nil, analyze.ErrNoTypes
	}
	mods, err := analyze.Modules(k)
	if err != nil {
		return nil, err
	}
	flags, _ := analyze.TaintFlags(k)
	var out []string
	for _, m := range mods {
		letters := ""
		for bit, f := range flags {
			if m.Taints&(1<<uint(bit)) != 0 && f.Char != 0 {
				letters += string(f.Char)
			}
		}
		if letters != "" {
			out = append(out, m.Name+" ["+letters+"]")
		} else {
			out = append(out, m.Name)
		}
	}
	return out, nil
}

func writeTriageText(w io.Writer, reports []TriageReport) error {
	var b strings.Builder
	for _, r := range reports {
		fmt.Fprintf(&b, "== %s\n", r.Dump)
		if r.Error != "" {
			fmt.Fprintf(&b, "     ERROR: %s\n\n", r.Error)
			continue
		}
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "%10s: %s\n", k, v)
			}
		}
		row("RELEASE", r.Release)
		row("TIME", r.CrashTime)
		row("UPTIME", r.Uptime)
		row("PANIC", r.PanicMessage)
		if r.PanicCPU != nil {
			on := fmt.Sprintf("CPU %d", *r.PanicCPU)
			if r.PanicPID != nil {
				on += fmt.Sprintf(", PID %d (%s)", *r.PanicPID, r.PanicComm)
			}
			row("PANIC ON", on)
		}
		row("TAINTED", r.Taint)
		row("VERDICT", r.Verdict)
		row("MODULES", strings.Join(r.Modules, " "))
		if len(r.Backtrace) > 0 {
			b.WriteString(" BACKTRACE:\n")
			for _, f := range r.Backtrace {
				b.WriteString("    " + f + "\n")
			}
		}
		if len(r.LastLog) > 0 {
			fmt.Fprintf(&b, "  LAST LOG: (%d lines)\n", len(r.LastLog))
			for _, l := range r.LastLog {
				b.WriteString("    " + l + "\n")
			}
		}
		for _, wn := range r.Warnings {
			row("WARNING", wn)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeTriageMarkdown(w io.Writer, reports []TriageReport) error {
	var b strings.Builder
	b.WriteString("# Crash triage\n\n| dump | release | verdict |\n|---|---|---|\n")
	for _, r := range reports {
		v := r.Verdict
		if r.Error != "" {
			v = "**error**: " + r.Error
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", filepath.Base(r.Dump), r.Release, strings.ReplaceAll(v, "|", "\\|"))
	}
	for _, r := range reports {
		fmt.Fprintf(&b, "\n## %s\n\n", filepath.Base(r.Dump))
		if r.Error != "" {
			fmt.Fprintf(&b, "Error: %s\n", r.Error)
			continue
		}
		fmt.Fprintf(&b, "- release: %s\n- time: %s\n- uptime: %s\n- panic: `%s`\n- taint: `%s`\n- verdict: %s\n",
			r.Release, r.CrashTime, r.Uptime, r.PanicMessage, r.Taint, r.Verdict)
		if r.PanicCPU != nil && r.PanicPID != nil {
			fmt.Fprintf(&b, "- panicking task: PID %d (%s) on CPU %d\n", *r.PanicPID, r.PanicComm, *r.PanicCPU)
		}
		if len(r.Backtrace) > 0 {
			b.WriteString("\n```\n" + strings.Join(r.Backtrace, "\n") + "\n```\n")
		}
		if len(r.LastLog) > 0 {
			b.WriteString("\n<details><summary>last log lines</summary>\n\n```\n" + strings.Join(r.LastLog, "\n") + "\n```\n</details>\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
