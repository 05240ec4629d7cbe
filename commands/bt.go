package commands

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

func btCommand() Command {
	return Command{
		Name:     "bt",
		Summary:  "backtrace",
		Synopsis: "bt [-a|-c cpu(s)|-g|-r|-t|-T|-l|-e|-E|-f|-F|-o|-O|-v|-p] [-R ref] [-s [-x|d]] [-I ip] [-S sp] [pid | task] [--json]",
		Help: `  Display a kernel stack backtrace.  If no arguments are given, the stack
  trace of the current context (the task that panicked) will be displayed.

        -a  displays the stack traces of the active task on each CPU.
            (only applicable to crash dumps)
    -c cpu  display the stack trace of the active task on one or more CPUs,
            which can be specified using the format "3", "1,8,9", "1-23",
            or "1,8,9-14". (only applicable to crash dumps)
        -f  display all stack data contained in a frame; this option can be
            used to determine the arguments passed to each function.
        -t  display all text symbols found from the last known stack location
            to the top of the stack. (helpful if the back trace fails)
        -T  display all text symbols found from just above the task_struct or
            thread_info to the top of the stack. (helpful if the back trace
            fails or the -t option starts too high in the process stack).
        -g  display stack traces of all threads in the thread group of
            the target process (the group leader first).
        -r  display raw stack data, consisting of a memory dump of the two
            pages of memory containing the task_union structure.
        -l  show file and line number of each stack trace text location.
        -s  display the symbol name plus its offset.
        -x  when displaying a symbol offset with the -s option, override
            the default output format with hexadecimal format.
        -d  when displaying a symbol offset with the -s option, override
            the default output format with decimal format.
       pid  a process PID.
      task  a hexadecimal task_struct pointer.
    --json  the frames of each task as JSON: sp, pc, function, offset,
            module, and any exception frame (pt_regs) crossed.

  Each frame line shows the level, the stack address holding the return
  address (for an interrupted frame, its stack pointer), the function and
  the text address.  Exception frames (system call, interrupt, exception
  and NMI entries) are shown as the registers the entry code saved, with
  the interrupted kernel location as "[exception RIP: ...]"; a change of
  stack is shown as "--- <IRQ stack> ---" or "--- <NMI exception stack> ---".

  kcrash unwinds with the kernel's ORC tables (from the vmlinux, or from
  the kernel image in the dump); below a function ORC does not describe
  (such as __crash_kexec) it scans the stack for the next return address,
  and in a kernel without ORC it follows frame pointers.
  Like the crash utility, it starts a running task's trace at the frame
  crash's stack search finds (panic, machine_kexec, crash_nmi_callback);
  return addresses at the very start of a function (calls to noreturn
  functions) are left out as crash leaves them out.

  The crash options -e, -E, -F, -o, -O, -v, -p, -R,
  -I and -S are not supported yet; -t and -T read the task's own stack
  only (not the IRQ or exception stack a running task may be on).

  EXAMPLES
    Display the stack trace of the task that panicked:

      kcrash> bt
      PID: 46       TASK: ffff8f0640363c00  CPU: 0    COMMAND: "kc-trigger"
       #0 [ffffa58a4016fd90] panic at ffffffff8bc39268
       #1 [ffffa58a4016fe10] __handle_sysrq at ffffffff8bbce832
       #2 [ffffa58a4016fe40] write_sysrq_trigger at ffffffff8bbcece4
       #3 [ffffa58a4016fe50] proc_reg_write at ffffffff8bb1d6e7
       #4 [ffffa58a4016fe70] vfs_write at ffffffff8bae3242
       #5 [ffffa58a4016ff00] ksys_write at ffffffff8bae3432
       #6 [ffffa58a4016ff40] do_syscall_64 at ffffffff8bc3c9a8
       #7 [ffffa58a4016ff50] entry_SYSCALL_64_after_hwframe at ffffffff8be000af
          RIP: 0000000000430f50  RSP: 00007ffd4a43c998  RFLAGS: 00000202
          RAX: ffffffffffffffda  RBX: 0000000000000003  RCX: 0000000000430f50
          RDX: 0000000000000001  RSI: 000000000047ddf9  RDI: 0000000000000003
          RBP: 00007ffd4a43c9a0   R8: 0000000000000000   R9: 0000000000000000
          R10: 0000000000000000  R11: 0000000000000202  R12: 00007ffd4a43cc78
          R13: 0000000000000001  R14: 0000000000000001  R15: 0000000000000002
          ORIG_RAX: 0000000000000001  CS: 0033  SS: 002b`,
		Run: runBt,
	}
}

// BtFlags are bt's display options; foreach bt passes the same ones.
type BtFlags struct {
	Full      bool // -f: the stack words between frames
	Lines     bool // -l: file and line of each text address
	SymOffset bool // -s: name+offset
	Radix     int  // -x 16, -d 10; 0 = crash's default (decimal)
}

func runBt(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "ac:grtTlEefFoOvpsxdR:I:S:")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	var fl BtFlags
	all := false
	text, textAll, raw, group := false, false, false, false
	var cpus []int
	for _, o := range opts {
		switch o.c {
		case 'a':
			all = true
		case 'c':
			cpus, err = parseCPUSpec(o.val, len(env.Kernel.Dump().CPUs()), env)
			if err != nil {
				return err
			}
		case 'f':
			fl.Full = true
		case 'r':
			raw = true
		case 'g':
			group = true
		case 't':
			text = true
		case 'T':
			text, textAll = true, true
		case 'l':
			fl.Lines = true
		case 's':
			fl.SymOffset = true
		case 'x':
			if fl.Radix == 10 {
				return errors.New("-d and -x are mutually exclusive")
			}
			fl.Radix = 16
		case 'd':
			if fl.Radix == 16 {
				return errors.New("-d and -x are mutually exclusive")
			}
			fl.Radix = 10
		default:
			return fmt.Errorf("option -%c is not supported yet", o.c)
		}
	}
	p, err := NewBacktracePrinter(env.Kernel, fl)
	if err != nil {
		return err
	}
	var tasks []*analyze.Task
	switch {
	case all && cpus != nil:
		return errors.New("-a and -c are mutually exclusive")
	case all || cpus != nil:
		ts, err := activeTasks(env.Kernel)
		if err != nil {
			return err
		}
		if cpus == nil {
			tasks = ts
		}
		for _, c := range cpus {
			tasks = append(tasks, ts[c])
		}
	case len(operands) == 0:
		t, err := panicTask(env.Kernel)
		if err != nil {
			return err
		}
		tasks = []*analyze.Task{t}
	default:
		for _, a := range operands {
			t, err := btTaskArg(env.Kernel, a)
			if err != nil {
				return err
			}
			tasks = append(tasks, t)
		}
	}
	if group {
		if all || cpus != nil {
			return errors.New("-a and -c cannot be used with the -g option")
		}
		if tasks, err = threadGroups(env.Kernel, tasks); err != nil {
			return err
		}
	}
	if env.JSON {
		var out []BacktraceJSON
		var errs []error
		for _, t := range tasks {
			j, err := p.JSON(t)
			if err != nil {
				errs = append(errs, err)
			}
			out = append(out, j)
		}
		enc := json.NewEncoder(env.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	var errs []error
	for i, t := range tasks {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		print := p.Print
		if raw {
			print = func(w io.Writer, t *analyze.Task, subsequent bool) error {
				return rawStack(ctx, env, w, t, subsequent)
			}
		} else if text {
			print = func(w io.Writer, t *analyze.Task, subsequent bool) error {
				return p.PrintText(w, t, subsequent, textAll)
			}
		}
		if err := print(env.Out, t, i > 0); err != nil {
			errs = append(errs, fmt.Errorf("PID %d: %w", t.PID, err))
		}
	}
	return errors.Join(errs...)
}

// activeTasks returns the task running on each CPU, in CPU order (bt -a).
func activeTasks(k *analyze.Kernel) ([]*analyze.Task, error) {
	var out []*analyze.Task
	for cpu := range k.Dump().CPUs() {
		a, err := analyze.CurrentTask(k, cpu)
		if err != nil {
			return nil, err
		}
		t, err := analyze.TaskByAddr(k, a)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// panicTask is the task running on the CPU that panicked.
func panicTask(k *analyze.Kernel) (*analyze.Task, error) {
	cpu, _, err := analyze.PanicCPU(k)
	if err != nil {
		return nil, err
	}
	a, err := analyze.CurrentTask(k, cpu)
	if err != nil {
		return nil, err
	}
	return analyze.TaskByAddr(k, a)
}

// btTaskArg resolves a pid (decimal) or task_struct address (hex), the
// way crash's str_to_context tries them.
func btTaskArg(k *analyze.Kernel, s string) (*analyze.Task, error) {
	if pid, err := strconv.ParseInt(s, 10, 32); err == nil {
		if t, err := analyze.FindTask(k, int32(pid)); err == nil {
			return t, nil
		}
	}
	if v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64); err == nil {
		if t, err := analyze.TaskByAddr(k, analyze.VirtAddr(v)); err == nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("invalid task or pid value: %s", s)
}

// BacktracePrinter prints task backtraces exactly as the crash utility's
// bt does on x86_64. Build one per command (it indexes the symbols once)
// and call Print for each task; foreach bt does the same.
type BacktracePrinter struct {
	k         *analyze.Kernel
	syms      []symbols.Symbol // the kernel's, sorted by address (Kernel.Symbols)
	text      []symbols.TextRange
	sv        *symView // for -l only: building it sorts every symbol
	fl        BtFlags
	panicTask analyze.VirtAddr
}

// NewBacktracePrinter prepares backtraces of k's tasks with flags fl.
// It is cheap: foreach bt may build one per task.
func NewBacktracePrinter(k *analyze.Kernel, fl BtFlags) (*BacktracePrinter, error) {
	tab, err := k.Symbols()
	if err != nil {
		return nil, err
	}
	p := &BacktracePrinter{k: k, syms: tab.All(), fl: fl}
	if v := k.Vmlinux(); v != nil {
		for _, r := range v.TextRanges() {
			p.text = append(p.text, symbols.TextRange{Start: r.Start + k.KASLROffset(), End: r.End + k.KASLROffset()})
		}
	} else if a, ok1 := tab.Lookup("_stext"); ok1 {
		if b, ok2 := tab.Lookup("_etext"); ok2 {
			p.text = []symbols.TextRange{{Start: a.Addr, End: b.Addr}}
		}
	}
	if fl.Lines {
		if p.sv, err = newSymView(k); err != nil {
			return nil, err
		}
	}
	if t, err := panicTask(k); err == nil {
		p.panicTask = t.Addr
	}
	return p, nil
}

// kernelSymbol is crash's value_search for a kernel text address: of the
// symbols at the highest address not above pc, the last by name (crash
// keeps them sorted by value, then name); at an exact match the first by
// name, passing over ".text.*" section names, SyS_ aliases and
// *_text_start markers when another name follows.
func (p *BacktracePrinter) kernelSymbol(pc uint64) (symbols.Symbol, uint64, bool) {
	in := false
	for _, r := range p.text {
		if pc >= r.Start && pc < r.End {
			in = true
			break
		}
	}
	if !in {
		return symbols.Symbol{}, 0, false
	}
	syms := p.syms
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Addr > pc }) - 1
	for i >= 0 && (syms[i].Type == 'a' || syms[i].Type == 'A' || syms[i].Name == "") {
		i--
	}
	if i < 0 {
		return symbols.Symbol{}, 0, false
	}
	at := syms[i].Addr
	var group []symbols.Symbol
	for j := i; j >= 0 && syms[j].Addr == at; j-- {
		if syms[j].Type != 'a' && syms[j].Type != 'A' && syms[j].Name != "" {
			group = append(group, syms[j])
		}
	}
	sort.Slice(group, func(a, b int) bool { return group[a].Name < group[b].Name })
	for i := range group {
		group[i].Name = stripSymbolEnd(group[i].Name) // after sorting, as crash does
	}
	if at != pc {
		return group[len(group)-1], pc - at, true
	}
	k := 0
	next := func() bool { return k+1 < len(group) }
	if strings.HasPrefix(group[k].Name, ".text.") && next() {
		k++
	}
	if (strings.HasPrefix(group[k].Name, "SyS_") || strings.HasPrefix(group[k].Name, "compat_SyS_")) && next() {
		k++
	}
	if strings.HasSuffix(group[k].Name, "_text_start") && next() {
		k++
	}
	return group[k], 0, true
}

// line is bt -l's "file: line" for a text address.
func (p *BacktracePrinter) line(pc uint64) string {
	if p.sv == nil {
		return ""
	}
	return p.sv.line(pc)
}

// btHeader is crash's print_task_header line.
func btHeader(t *analyze.Task) string {
	return fmt.Sprintf("PID: %-7d  TASK: %-16x  CPU: %-3d  COMMAND: \"%s\"\n", t.PID, uint64(t.Addr), t.CPU, t.Comm)
}

// frames returns the frames crash would walk for t: for a running task
// from the frame crash's stack search picks, else from the saved state.
func (p *BacktracePrinter) frames(t *analyze.Task) (frames []analyze.Frame, fromRegs, user bool, end error) {
	cpu := analyze.ActiveCPU(p.k, t.Addr)
	if cpu >= 0 {
		st := analyze.CrashStartOf(p.k, t.Addr, cpu, t.Addr == p.panicTask)
		if st.Slot != 0 {
			fr, err := analyze.BacktraceFrom(p.k, t.Addr, cpu, st.Slot, p.k.Dump().CPUs()[cpu].Regs.RBP)
			return fr, false, false, err
		}
	}
	tr, err := analyze.Backtrace(p.k, t.Addr)
	if err != nil {
		return nil, false, false, err
	}
	return tr.Frames, tr.Active, tr.User != nil, tr.End
}

// notesShown reports whether crash displays a CPU's note registers for
// this dump (QEMU-made, or kdump-compressed with ELF notes).
func (p *BacktracePrinter) notesShown(cpu int) bool {
	cpus := p.k.Dump().CPUs()
	if cpu < 0 || cpu >= len(cpus) {
		return false
	}
	f := p.k.Dump().Format()
	return cpus[cpu].QEMU != nil || f == vmcore.FormatKdump || f == vmcore.FormatFlattened
}

// symbol names a text address as crash's value_search does; module
// addresses get the module's name.
func (p *BacktracePrinter) symbol(pc uint64) (name string, off uint64, module string, ok bool) {
	if s, off, ok := p.kernelSymbol(pc); ok {
		return s.Name, off, "", true
	}
	if s, off, mod, ok := analyze.ModuleSymbol(p.k, pc); ok && s.Name != "" {
		return s.Name, off, mod, true
	}
	return "", 0, "", false
}

func (p *BacktracePrinter) symOffset(name string, off uint64, radix int) string {
	if off == 0 {
		return name
	}
	if radix == 16 {
		return fmt.Sprintf("%s+0x%x", name, off)
	}
	return fmt.Sprintf("%s+%d", name, off)
}

// Print writes t's backtrace: crash's task header (after a blank line
// when subsequent) and the frames. An unwinding problem that crash would
// not print is returned as the error, after the frames that were found.
func (p *BacktracePrinter) Print(w io.Writer, t *analyze.Task, subsequent bool) error {
	var b strings.Builder
	if subsequent {
		b.WriteString("\n")
	}
	b.WriteString(btHeader(t))
	frames, fromRegs, user, end := p.frames(t)
	if user {
		// The CPU was caught in user mode: crash shows only that.
		b.WriteString("    [exception RIP: user space]\n")
		if cpu := analyze.ActiveCPU(p.k, t.Addr); p.notesShown(cpu) {
			r := p.k.Dump().CPUs()[cpu].Regs
			writeRegBlock(&b, r)
			fmt.Fprintf(&b, "    CS: %04x  SS: %04x\n", r.CS, r.SS)
		}
	}
	level := 0
	var frameptr analyze.VirtAddr
	var lastStack analyze.StackRange
	skipInterrupted := false
	for i, f := range frames {
		if i > 0 && frames[i-1].Stack.Kind == analyze.StackIRQ && f.Stack.Kind != analyze.StackIRQ {
			b.WriteString("--- <IRQ stack> ---\n")
			frameptr = 0
		}
		if f.Interrupted {
			switch {
			case i == 0 && fromRegs:
				p.writeRegsFromNotes(&b, t, f)
				frameptr = 0
				continue
			case skipInterrupted:
				skipInterrupted = false
				continue
			}
		}
		name, off, mod, ok := p.symbol(uint64(f.PC))
		if !ok || (off == 0 && !f.Interrupted) {
			// crash ignores text addresses with no symbol or at a
			// function's first byte (the return address of a call to a
			// noreturn function at the end of its caller).
			if f.Exception == nil {
				continue
			}
		} else {
			if p.fl.Full {
				if frameptr != 0 && f.Stack == lastStack {
					p.writeFullFrame(&b, frameptr, f.SP)
				}
				frameptr, lastStack = f.SP+8, f.Stack
			}
			label := name
			if p.fl.SymOffset {
				label = p.symOffset(name, off, p.fl.Radix)
			}
			pad := " "
			if level >= 10 {
				pad = ""
			}
			fmt.Fprintf(&b, "%s#%d [%8x] %s at %x", pad, level, uint64(f.SP), label, uint64(f.PC))
			if mod != "" {
				fmt.Fprintf(&b, " [%s]", mod)
			}
			b.WriteString("\n")
			if p.fl.Lines {
				if l := p.line(uint64(f.PC)); l != "" {
					fmt.Fprintf(&b, "    %s\n", l)
				}
			}
			level++
		}
		if e := f.Exception; e != nil {
			p.writeExceptionFrame(&b, e)
			if e.UserMode() {
				break
			}
			if st := f.Stack; st.Kind == analyze.StackException {
				fmt.Fprintf(&b, "--- <%s exception stack> ---\n", st.Name)
				frameptr = 0
			} else {
				skipInterrupted = true
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return err
	}
	return end
}

// writeFullFrame is bt -f: the stack words from frameptr through sp.
func (p *BacktracePrinter) writeFullFrame(b *strings.Builder, from, to analyze.VirtAddr) {
	if to < from || to-from > 1<<16 {
		return
	}
	n := int(to-from)/8 + 1
	buf := make([]byte, 8*n)
	if analyze.ReadStack(p.k, buf, from) != nil {
		return
	}
	for i := range n {
		if i%2 == 0 {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(b, "    %x: ", uint64(from)+uint64(8*i))
		}
		v := uint64(0)
		for j := 7; j >= 0; j-- {
			v = v<<8 | uint64(buf[8*i+j])
		}
		fmt.Fprintf(b, "%016x ", v)
	}
	b.WriteString("\n")
}

// writeExceptionFrame prints a pt_regs as crash's x86_64_exception_frame
// does: the interrupted kernel location first, then the registers.
func (p *BacktracePrinter) writeExceptionFrame(b *strings.Builder, e *analyze.ExceptionFrame) {
	r := e.Regs
	kernel := !e.UserMode()
	if kernel {
		b.WriteString("    [exception RIP: ")
		if name, off, _, ok := p.symbol(r.RIP); ok {
			b.WriteString(p.symOffset(name, off, 0))
		} else {
			b.WriteString("unknown or invalid address")
		}
		b.WriteString("]\n")
	}
	writeRegBlock(b, r)
	fmt.Fprintf(b, "    ORIG_RAX: %016x  CS: %04x  SS: %04x\n", r.OrigRAX, r.CS, r.SS)
	if kernel && p.fl.Lines {
		if l := p.line(r.RIP); l != "" {
			fmt.Fprintf(b, "    %s\n", l)
		}
	}
}

func writeRegBlock(b *strings.Builder, r vmcore.Regs) {
	fmt.Fprintf(b, "    RIP: %016x  RSP: %016x  RFLAGS: %08x\n", r.RIP, r.RSP, r.EFLAGS)
	fmt.Fprintf(b, "    RAX: %016x  RBX: %016x  RCX: %016x\n", r.RAX, r.RBX, r.RCX)
	fmt.Fprintf(b, "    RDX: %016x  RSI: %016x  RDI: %016x\n", r.RDX, r.RSI, r.RDI)
	fmt.Fprintf(b, "    RBP: %016x   R8: %016x   R9: %016x\n", r.RBP, r.R8, r.R9)
	fmt.Fprintf(b, "    R10: %016x  R11: %016x  R12: %016x\n", r.R10, r.R11, r.R12)
	fmt.Fprintf(b, "    R13: %016x  R14: %016x  R15: %016x\n", r.R13, r.R14, r.R15)
}

// writeRegsFromNotes is how crash starts a running task's trace when its
// stack search found nothing: the kernel location and the CPU's
// registers from the dump's notes (display_regs_from_elf_notes).
func (p *BacktracePrinter) writeRegsFromNotes(b *strings.Builder, t *analyze.Task, f analyze.Frame) {
	cpu := analyze.ActiveCPU(p.k, t.Addr)
	if !p.notesShown(cpu) {
		return // crash shows nothing for an ELF kdump's note registers
	}
	r := p.k.Dump().CPUs()[cpu].Regs
	b.WriteString("    [exception RIP: ")
	if name, off, _, ok := p.symbol(r.RIP); ok {
		b.WriteString(p.symOffset(name, off, 0))
	} else {
		b.WriteString("unknown or invalid address")
	}
	b.WriteString("]\n")
	writeRegBlock(b, r)
	fmt.Fprintf(b, "    CS: %04x  SS: %04x\n", r.CS, r.SS)
}

// BacktraceJSON is one task's backtrace for --json.
type BacktraceJSON struct {
	PID     int32       `json:"pid"`
	Task    string      `json:"task"`
	CPU     int         `json:"cpu"`
	Command string      `json:"command"`
	Frames  []FrameJSON `json:"frames"`
	Error   string      `json:"error,omitempty"`
}

// FrameJSON is one frame for --json: every frame the unwinder found,
// named by the function containing it (pc-1 for a return address).
type FrameJSON struct {
	SP          string         `json:"sp"`
	PC          string         `json:"pc"`
	Function    string         `json:"function,omitempty"`
	Offset      uint64         `json:"offset"`
	Module      string         `json:"module,omitempty"`
	Interrupted bool           `json:"interrupted,omitempty"`
	Scanned     bool           `json:"scanned,omitempty"` // found by stack scan (no unwind info)
	Stack       string         `json:"stack"`
	Exception   *ExceptionJSON `json:"exception,omitempty"`
}

// ExceptionJSON is a pt_regs crossed by the unwinder.
type ExceptionJSON struct {
	Addr string            `json:"addr"`
	User bool              `json:"user_mode"`
	Regs map[string]string `json:"regs"`
}

// JSON returns t's backtrace as data.
func (p *BacktracePrinter) JSON(t *analyze.Task) (BacktraceJSON, error) {
	out := BacktraceJSON{PID: t.PID, Task: fmt.Sprintf("%x", uint64(t.Addr)), CPU: t.CPU, Command: t.Comm, Frames: []FrameJSON{}}
	frames, _, _, end := p.frames(t)
	for _, f := range frames {
		j := FrameJSON{SP: fmt.Sprintf("%x", uint64(f.SP)), PC: fmt.Sprintf("%x", uint64(f.PC)), Interrupted: f.Interrupted, Scanned: f.Scanned, Stack: stackName(f.Stack)}
		look := uint64(f.PC)
		if !f.Interrupted {
			look--
		}
		if name, off, mod, ok := p.symbol(look); ok {
			if !f.Interrupted {
				off++
			}
			j.Function, j.Offset, j.Module = name, off, mod
		}
		if e := f.Exception; e != nil {
			names := vmcore.RegNames()
			vals := e.Regs.Slice()
			regs := map[string]string{}
			for i := range 21 {
				regs[names[i]] = fmt.Sprintf("%x", vals[i])
			}
			j.Exception = &ExceptionJSON{Addr: fmt.Sprintf("%x", uint64(e.Addr)), User: e.UserMode(), Regs: regs}
		}
		out.Frames = append(out.Frames, j)
	}
	if end != nil {
		out.Error = end.Error()
	}
	return out, end
}

func stackName(s analyze.StackRange) string {
	switch s.Kind {
	case analyze.StackTask:
		return "task"
	case analyze.StackIRQ:
		return "irq"
	case analyze.StackException:
		return strings.ToLower(s.Name)
	}
	return ""
}

// PrintText is bt -t (and -T with all): every kernel text address on the
// task's stack, from where the trace would start (from the stack's
// bottom with -T) to its top, then a user task's saved registers.
func (p *BacktracePrinter) PrintText(w io.Writer, t *analyze.Task, subsequent, all bool) error {
	var b strings.Builder
	if subsequent {
		b.WriteString("\n")
	}
	b.WriteString(btHeader(t))
	stack, err := analyze.TaskStack(p.k, t.Addr)
	if err != nil {
		return err
	}
	var start analyze.VirtAddr
	var pc uint64
	if cpu := analyze.ActiveCPU(p.k, t.Addr); cpu >= 0 {
		st := analyze.CrashStartOf(p.k, t.Addr, cpu, t.Addr == p.panicTask)
		r := p.k.Dump().CPUs()[cpu].Regs
		start, pc = analyze.VirtAddr(r.RSP), r.RIP
		if st.Slot != 0 {
			start = st.Slot
			var v [8]byte
			if err := analyze.ReadStack(p.k, v[:], st.Slot); err == nil {
				pc = binary.LittleEndian.Uint64(v[:])
			}
		}
	} else {
		sp, err := analyze.KernelSP(p.k, t.Addr)
		if err != nil {
			return err
		}
		start = sp
		tr, err := analyze.Backtrace(p.k, t.Addr)
		if err == nil && len(tr.Frames) > 0 {
			pc = uint64(tr.Frames[0].PC)
		}
	}
	if all {
		start = stack.Base
	} else {
		name := "(unknown)"
		if n, _, _, ok := p.symbol(pc); ok {
			name = n
		}
		fmt.Fprintf(&b, "%sSTART: %s at %x\n", strings.Repeat(" ", 14), name, pc)
	}
	if !stack.Contains(start) {
		io.WriteString(w, b.String())
		return fmt.Errorf("the trace starts at %#x, off the task's stack (IRQ and exception stacks are not scanned by -t yet)", uint64(start))
	}
	buf := make([]byte, stack.Top-start)
	if err := analyze.ReadStack(p.k, buf, start); err != nil {
		io.WriteString(w, b.String())
		return err
	}
	for i := 0; i+8 <= len(buf); i += 8 {
		v := binary.LittleEndian.Uint64(buf[i:])
		name, off, mod, ok := p.symbol(v)
		if !ok {
			continue
		}
		label := name
		if p.fl.SymOffset {
			label = p.symOffset(name, off, p.fl.Radix)
		}
		fmt.Fprintf(&b, "  [%16x] %s at %x", uint64(start)+uint64(i), label, v)
		if mod != "" {
			fmt.Fprintf(&b, " [%s]", mod)
		}
		b.WriteString("\n")
	}
	if !t.KernelThread() {
		if ef, err := analyze.UserRegs(p.k, stack); err == nil {
			p.writeExceptionFrame(&b, ef)
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// rawStack is bt -r: the task's whole kernel stack as "rd -s" shows it
// (crash's raw_stack_dump).
func rawStack(ctx context.Context, env *Env, w io.Writer, t *analyze.Task, subsequent bool) error {
	st, err := analyze.TaskStack(env.Kernel, t.Addr)
	if err != nil {
		return err
	}
	if subsequent {
		io.WriteString(w, "\n")
	}
	io.WriteString(w, btHeader(t))
	rd, ok := Lookup("rd")
	if !ok {
		return errors.New("rd is not available")
	}
	sub := *env
	sub.Out, sub.JSON = w, false
	return rd.Run(ctx, &sub, []string{"-s", fmt.Sprintf("%x", uint64(st.Base)), strconv.FormatUint(uint64(st.Top-st.Base)/8, 10)})
}

// threadGroups replaces each task by its whole thread group: the leader
// (pid == tgid) first, then the other threads in task-list order, as
// crash's bt -g does.
func threadGroups(k *analyze.Kernel, tasks []*analyze.Task) ([]*analyze.Task, error) {
	all, err := analyze.Tasks(k)
	if err != nil {
		return nil, err
	}
	var out []*analyze.Task
	for _, t := range tasks {
		if t.PID == 0 {
			out = append(out, t)
			continue
		}
		for _, o := range all {
			if o.PID == t.TGID && o.TGID == t.TGID {
				out = append(out, o)
				break
			}
		}
		for _, o := range all {
			if o.TGID == t.TGID && o.PID != t.TGID {
				out = append(out, o)
			}
		}
	}
	return out, nil
}
