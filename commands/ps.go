package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kcrash/kcrash/analyze"
)

func psCommand() Command {
	return Command{
		Name:    "ps",
		Summary: "display process status information",
		Synopsis: `ps [-k|-u|-G|-y policy] [-s] [-p|-c|-t|-a|-g|-r|-l|-S|-A|-H] [--json]
     [pid | task | command] ...`,
		Help: `  This command displays process status for selected, or all, processes
  in the system.  If no arguments are entered, the process data is
  is displayed for all processes.  Specific processes may be selected
  by using the following identifier formats:

       pid  a process PID.
      task  a hexadecimal task_struct pointer.
   command  a command name.  If a command name is made up of letters that
            are all numerical values, precede the name string with a "\".

  The process list may be further restricted by the following options:

        -k  select all kernel threads.
        -u  select all user tasks.
        -G  display only the thread group leader in a thread group.
 -y policy  select tasks of the comma-separated scheduling policies, by
            name (NORMAL, FIFO, RR, BATCH, ISO, IDLE, DEADLINE) or number.

  The default output shows the task's PID, its parent's PID, the CPU it
  last ran on, its task_struct address, its state (RU, IN, UN, ID, ZO,
  ST, TR, DE, PA, WA, NE), its share of physical memory (%MEM), its
  virtual size (VSZ) and resident set (RSS) in kilobytes, and its name;
  kernel threads' names are in brackets.  A ">" marks the task that was
  running on each CPU when the system crashed.

        -s  replace the TASK column with the KSTACKP column, the saved
            kernel stack pointer (thread.sp).
        -p  display the parental hierarchy of selected, or all, tasks.
        -c  display the children of selected, or all, tasks.
        -g  display tasks by thread group, of selected, or all, tasks.
        -r  display resource limits (rlimits) of selected, or all, tasks.
        -t  display the task run time, start time, and cumulative user
            and system times.
        -a  display the command line arguments and environment strings of
            selected, or all, user-mode tasks.
        -l  display the task's last-run timestamp (sched_info.last_arrival),
            most recent first; needs CONFIG_SCHED_INFO.
        -S  display a summary consisting of the number of tasks in a task
            state.
        -A  display only the active task on each cpu.
        -H  display no header line.
    --json  one JSON array of the selected tasks: pid, ppid, cpu, task,
            state, pct_mem, vsz_kb, rss_kb, comm, kernel_thread, active.

  The crash options -m and -C are not supported yet.

  EXAMPLES
    Show the process status of all current tasks:

      kcrash> ps
            PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM
              0       0   0  ffffffff8c411600  RU   0.0        0        0  [swapper/0]
              0       0   1  ffff8f06401d8000  RU   0.0        0        0  [swapper/1]
              1       0   1  ffff8f0640178000  IN   1.4     2256     1788  init
      ...
      >      46       1   0  ffff8f0640363c00  RU   0.5      984      692  kc-trigger

    Show the parental hierarchy of task 46:

      kcrash> ps -p 46
      PID: 0        TASK: ffffffff8c411600  CPU: 0    COMMAND: "swapper/0"
       PID: 1        TASK: ffff8f0640178000  CPU: 1    COMMAND: "init"
        PID: 46       TASK: ffff8f0640363c00  CPU: 0    COMMAND: "kc-trigger"`,
		Run: runPs,
	}
}

const (
	psKernel = 1 << iota
	psUser
	psGroup
	psKstackp
	psParents
	psChildren
	psLastRun
	psSummary
	psActive
	psNoHeader
	psThreads
	psRlimit
	psTimes
	psArgs
)

// psExclusive are crash's mutually exclusive ps modes.
const psExclusive = psParents | psChildren | psLastRun | psSummary | psActive | psThreads | psRlimit | psTimes | psArgs

// psSelector is one "pid | task | command" operand.
type psSelector struct {
	pid  int32
	task analyze.VirtAddr
	comm string
	kind byte // 'p', 't', 'c'
}

func (s psSelector) match(t *analyze.Task) bool {
	switch s.kind {
	case 'p':
		return t.PID == s.pid
	case 't':
		return t.Addr == s.task
	}
	return t.Comm == s.comm
}

func runPs(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "HASgstcpkuGlmarC:y:")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	flags := 0
	var policy uint64 // -y: a mask of 1 << SCHED_*
	excl := func(f int) error {
		if flags&psExclusive&^f != 0 {
			return fmt.Errorf("-a, -t, -c, -p, -g, -l, -m, -S, -r and -A flags are all mutually-exclusive")
		}
		flags |= f
		return nil
	}
	for _, o := range opts {
		switch o.c {
		case 'k':
			if flags&psUser != 0 {
				return fmt.Errorf("-u and -k are mutually exclusive")
			}
			flags |= psKernel
		case 'u':
			if flags&psKernel != 0 {
				return fmt.Errorf("-u and -k are mutually exclusive")
			}
			flags |= psUser
		case 'G':
			flags |= psGroup
		case 's':
			flags |= psKstackp
		case 'y':
			if policy, err = schedPolicyMask(o.val); err != nil {
				return err
			}
		case 'H':
			flags |= psNoHeader
		case 'p':
			err = excl(psParents)
		case 'c':
			err = excl(psChildren)
		case 'g':
			err = excl(psThreads)
		case 'r':
			err = excl(psRlimit)
		case 't':
			err = excl(psTimes)
		case 'a':
			err = excl(psArgs)
		case 'S':
			err = excl(psSummary)
		case 'A':
			err = excl(psActive)
		case 'l':
			if !analyze.HasLastArrival(env.Kernel) {
				return &UsageError{Msg: "last-run timestamps do not exist in this kernel"}
			}
			err = excl(psLastRun)
		case 'm':
			if !analyze.HasLastArrival(env.Kernel) {
				return &UsageError{Msg: "last-run timestamps do not exist in this kernel"}
			}
			return fmt.Errorf("option -m is not supported yet")
		default:
			return fmt.Errorf("option -%c is not supported yet", o.c)
		}
		if err != nil {
			return err
		}
	}
	tasks, err := analyze.Tasks(env.Kernel)
	if err != nil {
		return err
	}
	var b strings.Builder
	var sels []psSelector
	if len(operands) > 0 {
		if flags&psSummary != 0 {
			return fmt.Errorf("-S option takes no arguments")
		}
		for _, a := range operands {
			if s, ok := parseTaskSelector(tasks, a); ok {
				sels = append(sels, s)
			} else if isNumber(a) {
				// crash reports the bad operand and goes on with the rest.
				fmt.Fprintf(&b, "ps: invalid task or pid value: %s\n\n", a)
			} else {
				sels = append(sels, psSelector{kind: 'c', comm: strings.TrimPrefix(a, `\`)})
			}
		}
	}
	if flags&psLastRun != 0 {
		tasks, err = analyze.SortByLastRun(env.Kernel, tasks)
		if err != nil {
			return err
		}
	}
	// The rows, in crash's order: every task once for "ps", every task
	// once per matching operand otherwise.
	var rows []*analyze.Task
	for _, t := range tasks {
		if len(operands) == 0 {
			rows = append(rows, t)
			continue
		}
		for _, s := range sels {
			if s.match(t) {
				rows = append(rows, t)
			}
		}
	}
	rows = filterPs(env.Kernel, tasks, rows, flags, len(operands) > 0)
	if policy != 0 {
		kept := rows[:0:0]
		for _, t := range rows {
			p, err := analyze.TaskPolicy(env.Kernel, t)
			if err != nil {
				return err
			}
			if p < 64 && policy&(1<<p) != 0 {
				kept = append(kept, t)
			}
		}
		rows = kept
	}

	if env.JSON {
		return psJSON(env, rows)
	}
	if flags&(psExclusive&^psActive|psNoHeader) == 0 {
		col := "      TASK      "
		if flags&psKstackp != 0 {
			col = "     KSTACKP    "
		}
		b.WriteString("      PID    PPID  CPU " + col + "  ST  %MEM      VSZ      RSS  COMM\n")
	}
	if flags&psTimes != 0 {
		if err := writeTimes(&b, env.Kernel, rows, len(operands) == 0); err != nil {
			return err
		}
		_, err := io.WriteString(env.Out, b.String())
		return err
	}
	if flags&psSummary != 0 {
		writePsSummary(&b, rows)
		_, err := io.WriteString(env.Out, b.String())
		return err
	}
	byAddr := map[analyze.VirtAddr]*analyze.Task{}
	for _, t := range tasks {
		byAddr[t.Addr] = t
	}
	idleShown := false
	for i, t := range rows {
		if i%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case flags&psParents != 0:
			writeParents(&b, t, byAddr)
			b.WriteString("\n")
		case flags&psChildren != 0:
			writeChildren(&b, t, tasks)
			b.WriteString("\n")
		case flags&psArgs != 0:
			if err := writeArgs(&b, env.Kernel, t); err != nil {
				return err
			}
		case flags&psRlimit != 0:
			if err := writeRlimits(&b, env.Kernel, t); err != nil {
				return err
			}
		case flags&psThreads != 0:
			writeThreads(&b, t, tasks, len(operands) > 0, &idleShown)
		case flags&psLastRun != 0:
			if err := writeLastRun(&b, env.Kernel, t, tasks[0]); err != nil {
				return err
			}
		default:
			if flags&psActive != 0 && len(operands) == 0 && !t.Active {
				continue
			}
			if err := writePsLine(&b, env.Kernel, t, flags); err != nil {
				return err
			}
		}
	}
	_, err = io.WriteString(env.Out, b.String())
	return err
}

// schedPolicies are crash's names of the SCHED_* policies.
var schedPolicies = []struct {
	name  string
	value uint
}{{"NORMAL", 0}, {"FIFO", 1}, {"RR", 2}, {"BATCH", 3}, {"ISO", 4}, {"IDLE", 5}, {"DEADLINE", 6}}

// schedPolicyMask parses -y's comma-separated policies, by name
// (case-insensitive) or number, as crash's make_sched_policy; crash
// compares only a name's length, so "FIFOX" means FIFO too.
func schedPolicyMask(s string) (uint64, error) {
	var mask uint64
	for _, p := range strings.Split(s, ",") {
		u := strings.ToUpper(p)
		found := false
		for _, sp := range schedPolicies {
			if strings.HasPrefix(u, sp.name) || u == strconv.Itoa(int(sp.value)) || u == fmt.Sprintf("0X%X", sp.value) {
				mask |= 1 << sp.value
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%s: invalid scheduling policy", p)
		}
	}
	return mask, nil
}

// filterPs applies -k, -u and -G.
func filterPs(k *analyze.Kernel, all, rows []*analyze.Task, flags int, specified bool) []*analyze.Task {
	out := rows[:0:0]
	seen := map[*analyze.Task]bool{}
	for _, t := range rows {
		if flags&psUser != 0 && t.KernelThread() {
			continue
		}
		if flags&psKernel != 0 && !t.KernelThread() {
			continue
		}
		if flags&psGroup != 0 {
			if t = groupLeader(t, all, specified); t == nil {
				continue
			}
			if seen[t] {
				continue
			}
			seen[t] = true
		}
		out = append(out, t)
	}
	return out
}

// parseTaskSelector reads a pid or task address operand the way crash's
// str_to_context does: a decimal pid first, then a hexadecimal task
// address, then a hexadecimal pid.
func parseTaskSelector(tasks []*analyze.Task, s string) (psSelector, bool) {
	if !isNumber(s) {
		return psSelector{}, false
	}
	if d, err := strconv.ParseInt(s, 10, 32); err == nil {
		for _, t := range tasks {
			if t.PID == int32(d) {
				return psSelector{kind: 'p', pid: int32(d)}, true
			}
		}
	}
	h, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"), 16, 64)
	if err != nil {
		return psSelector{}, false
	}
	for _, t := range tasks {
		if uint64(t.Addr) == h {
			return psSelector{kind: 't', task: t.Addr}, true
		}
	}
	for _, t := range tasks {
		if uint64(t.PID) == h {
			return psSelector{kind: 'p', pid: t.PID}, true
		}
	}
	return psSelector{}, false
}

// isNumber is crash's IS_A_NUMBER: decimal or hexadecimal digits.
func isNumber(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// writePsLine prints one row as crash's show_ps_data does.
func writePsLine(b *strings.Builder, k *analyze.Kernel, t *analyze.Task, flags int) error {
	u, err := analyze.TaskMemUsage(k, t)
	if err != nil {
		return err
	}
	if t.Active {
		b.WriteString("> ")
	} else {
		b.WriteString("  ")
	}
	ptr := fmt.Sprintf("%16x", uint64(t.Addr))
	if flags&psKstackp != 0 {
		// An active task's stack pointer is in its CPU's registers,
		// not in thread.sp: crash shows "--".
		ptr = "       --       "
		if !t.Active {
			sp, err := analyze.TaskKernelSP(k, t)
			if err != nil {
				return err
			}
			ptr = fmt.Sprintf("%16x", uint64(sp))
		}
	}
	st := t.StateString()
	fmt.Fprintf(b, "%7d %7d %3d  %s %3s", t.PID, t.PPID, t.CPU, ptr, st)
	if len(st) > 3 {
		b.WriteString(" ")
	} else {
		b.WriteString("  ")
	}
	fmt.Fprintf(b, "%4s %8d %8d  ", fmt.Sprintf("%.1f", u.Percent), u.TotalVM*4096/1024, u.RSS*4096/1024)
	if t.KernelThread() {
		b.WriteString("[" + t.Comm + "]\n")
	} else {
		b.WriteString(t.Comm + "\n")
	}
	return nil
}

// taskHeader is crash's print_task_header line.
func taskHeader(t *analyze.Task) string {
	return fmt.Sprintf("PID: %-7d  TASK: %-16x  CPU: %-3d  COMMAND: \"%s\"\n", t.PID, uint64(t.Addr), t.CPU, t.Comm)
}

func writeParents(b *strings.Builder, t *analyze.Task, byAddr map[analyze.VirtAddr]*analyze.Task) {
	chain := []*analyze.Task{t}
	for len(chain) < 1<<16 {
		p, ok := byAddr[chain[len(chain)-1].Parent]
		if !ok || p == chain[len(chain)-1] {
			break
		}
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		b.WriteString(strings.Repeat(" ", len(chain)-1-i) + taskHeader(chain[i]))
	}
}

func writeChildren(b *strings.Builder, t *analyze.Task, all []*analyze.Task) {
	b.WriteString(taskHeader(t))
	n := 0
	for _, c := range all {
		if c.Parent == t.Addr {
			b.WriteString("  " + taskHeader(c))
			n++
		}
	}
	if n == 0 {
		b.WriteString("  (no children)\n")
	}
}

// writeThreads is crash's show_tgid_list: a thread group's leader and,
// indented, its other threads. A thread stands for its leader when it
// was named; the idle tasks (tgid 0) are listed once.
func writeThreads(b *strings.Builder, t *analyze.Task, all []*analyze.Task, specified bool, idleShown *bool) {
	if t = groupLeader(t, all, specified); t == nil {
		return
	}
	if t.PID == 0 && *idleShown {
		return
	}
	b.WriteString(taskHeader(t))
	n := 0
	for _, o := range all {
		if o == t || o.TGID != t.TGID {
			continue
		}
		b.WriteString("  " + taskHeader(o))
		n++
		if o.PID == 0 {
			*idleShown = true
		}
	}
	if n == 0 {
		b.WriteString("  (no threads)\n")
	}
	b.WriteString("\n")
}

// writeTimes is crash's show_task_times for nanosecond kernels: each
// task's run time (uptime less start, in whole jiffies), start time and
// CPU times; all tasks are shown by start time, named ones in table
// order (crash runs show_task_times once per match).
func writeTimes(b *strings.Builder, k *analyze.Kernel, rows []*analyze.Task, byStart bool) error {
	j, hz, err := analyze.UptimeJiffies(k)
	if err != nil {
		return err
	}
	type row struct {
		t  *analyze.Task
		tt analyze.TaskTimes
	}
	var rs []row
	for _, t := range rows {
		tt, err := analyze.ReadTaskTimes(k, t)
		if err != nil {
			return err
		}
		rs = append(rs, row{t, tt})
	}
	if byStart {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].tt.Start < rs[j].tt.Start })
	}
	for _, r := range rs {
		run := uint64(0)
		if s := r.tt.Start / 1e9 * uint64(hz); s <= j {
			run = j - s
		}
		b.WriteString(taskHeader(r.t))
		fmt.Fprintf(b, "    RUN TIME: %s\n", crashDuration(time.Duration(run/uint64(hz))*time.Second))
		fmt.Fprintf(b, "  START TIME: %d\n", r.tt.Start)
		fmt.Fprintf(b, "       UTIME: %d\n", r.tt.UTime)
		fmt.Fprintf(b, "       STIME: %d\n\n", r.tt.STime)
	}
	return nil
}

// writeArgs is crash's show_task_args: the argument strings separated by
// spaces, the environment one string a line.
func writeArgs(b *strings.Builder, k *analyze.Kernel, t *analyze.Task) error {
	b.WriteString(taskHeader(t))
	if t.MM == 0 {
		b.WriteString("ps: no user stack\n\n")
		return nil
	}
	args, envs, failed, err := analyze.TaskArgs(k, t)
	if err != nil {
		return err
	}
	if args == nil {
		fmt.Fprintf(b, "ps: cannot access user stack address: %x\n\n", uint64(failed))
		return nil
	}
	b.WriteString("ARG: ")
	c := 0
	for _, ch := range args {
		if ch == 0 {
			if c > 0 {
				b.WriteString(" ")
			}
			c = 0
			continue
		}
		b.WriteByte(ch)
		c++
	}
	if envs == nil {
		fmt.Fprintf(b, "ps: cannot access user stack address: %x\n\n", uint64(failed))
		return nil
	}
	b.WriteString("\nENV: ")
	c, d := 0, 0
	for i, ch := range envs {
		if ch == 0 {
			if c > 0 {
				b.WriteString("\n")
			}
			c = 0
			continue
		}
		if c == 0 && i > 0 {
			b.WriteString("     ")
		}
		b.WriteByte(ch)
		c++
		d++
	}
	b.WriteString("\n")
	if d == 0 {
		b.WriteString("\n")
	}
	return nil
}

// rlimitNames are crash's names of the RLIMIT_* indexes.
var rlimitNames = []string{"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"}

// writeRlimits is crash's show_task_rlimit.
func writeRlimits(b *strings.Builder, k *analyze.Kernel, t *analyze.Task) error {
	rl, err := analyze.TaskRlimits(k, t)
	if err != nil {
		return err
	}
	w1, w2 := 10, len("(unlimited)") // the longest name, SIGPENDING
	val := func(v uint64) string {
		if v == ^uint64(0) {
			return "(unlimited)"
		}
		return center(w2, strconv.FormatUint(v, 10), false)
	}
	b.WriteString(taskHeader(t))
	fmt.Fprintf(b, "  %*s   %s   %s\n", w1, "RLIMIT", center(w2, "CURRENT", true), center(w2, "MAXIMUM", true))
	for i, r := range rl {
		name := "(unknown)"
		if i < len(rlimitNames) {
			name = rlimitNames[i]
		}
		fmt.Fprintf(b, "  %*s   %s   %s\n", w1, name, val(r.Cur), val(r.Max))
	}
	b.WriteString("\n")
	return nil
}

func writePsSummary(b *strings.Builder, rows []*analyze.Task) {
	var order []string
	count := map[string]int{}
	for _, t := range rows {
		s := t.StateString()
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	for _, s := range order {
		fmt.Fprintf(b, "  %s: %d\n", s, count[s])
	}
}

func writeLastRun(b *strings.Builder, k *analyze.Kernel, t, first *analyze.Task) error {
	w, err := analyze.TaskLastRun(k, first)
	if err != nil {
		return err
	}
	width := len(strconv.FormatUint(w, 10))
	lr, err := analyze.TaskLastRun(k, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "[%*d] [%s]  %s", width, lr, t.StateString(), taskHeader(t))
	return nil
}

// PsRowJSON is one task of "ps --json".
type PsRowJSON struct {
	PID          int32   `json:"pid"`
	PPID         int32   `json:"ppid"`
	CPU          int     `json:"cpu"`
	Task         string  `json:"task"`
	State        string  `json:"state"`
	PctMem       float64 `json:"pct_mem"`
	VSZKB        uint64  `json:"vsz_kb"`
	RSSKB        uint64  `json:"rss_kb"`
	Comm         string  `json:"comm"`
	KernelThread bool    `json:"kernel_thread"`
	Active       bool    `json:"active"`
}

func psJSON(env *Env, rows []*analyze.Task) error {
	out := make([]PsRowJSON, 0, len(rows))
	for _, t := range rows {
		u, err := analyze.TaskMemUsage(env.Kernel, t)
		if err != nil {
			return err
		}
		pct, _ := strconv.ParseFloat(fmt.Sprintf("%.1f", u.Percent), 64)
		out = append(out, PsRowJSON{
			PID: t.PID, PPID: t.PPID, CPU: t.CPU, Task: fmt.Sprintf("%#x", uint64(t.Addr)),
			State: t.StateString(), PctMem: pct, VSZKB: u.TotalVM * 4, RSSKB: u.RSS * 4,
			Comm: t.Comm, KernelThread: t.KernelThread(), Active: t.Active,
		})
	}
	return json.NewEncoder(env.Out).Encode(out)
}

// groupLeader returns the task that stands for t in a thread-group
// listing: t itself if it leads its group, its leader if t was named
// (specified), else nil (a thread the listing shows under its leader).
func groupLeader(t *analyze.Task, all []*analyze.Task, specified bool) *analyze.Task {
	if t.PID == t.TGID {
		return t
	}
	if !specified {
		return nil
	}
	for _, l := range all {
		if l.PID == t.TGID {
			return l
		}
	}
	return nil
}
