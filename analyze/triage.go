package analyze

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Triage is the one-screen summary of a crash that support engineers
// want first. Most of it is read from the kernel log the panicking CPU
// wrote (the panic line, the "CPU: … PID: … Comm: … Tainted: …" header
// of dump_stack(), the oops and its call trace), so it needs no vmlinux.
type Triage struct {
	Release      string
	CrashTime    int64 // seconds since the epoch, 0 if unknown
	UptimeNsec   uint64
	PanicMessage string // "Kernel panic - not syncing: …", or the oops line
	PanicCPU     int    // -1 if unknown
	PanicPID     int    // -1 if unknown
	PanicComm    string
	Taint        string   // the letters after "Tainted:", e.g. "G           O"
	Trace        []string // the call trace the kernel printed, innermost first
	Modules      []string // "Modules linked in:" when an oops printed it
	Verdict      string
	LastLog      []string // the last lines of the log, formatted as `log` prints them
}

var (
	reDumpStack = regexp.MustCompile(`^CPU: (\d+) PID: (\d+) Comm: (\S+)(?: Kdump: \S+)?(?: (?:Tainted|Not tainted)[: ]\s*(.*?)\s+\d+\.\d+\S*\s+#)?`)
	reTrace     = regexp.MustCompile(`^\s*(\? )?([A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+)( \[[^\]]+\])?$`)
	reRIP       = regexp.MustCompile(`^RIP: [0-9a-f]{4}:(\S+)(?: (\[[^\]]+\]))?`)
	reSoftLock  = regexp.MustCompile(`soft lockup - CPU#(\d+) stuck`)
	reHardLock  = regexp.MustCompile(`Watchdog detected hard LOCKUP on cpu (\d+)`)
	reNullDeref = regexp.MustCompile(`BUG: kernel NULL pointer dereference, address: (\S+)`)
	rePaging    = regexp.MustCompile(`BUG: unable to handle page fault for address: (\S+)`)
	reBugAt     = regexp.MustCompile(`kernel BUG at (\S+)!`)
	reGPF       = regexp.MustCompile(`general protection fault`)
	reHung      = regexp.MustCompile(`INFO: task (\S+) blocked for more than`)
	reOOM       = regexp.MustCompile(`Out of memory and no killable processes|System is deadlocked on memory`)
)

// TriageFromLog extracts the facts from log records.
func TriageFromLog(recs []LogRecord, lastN int) Triage {
	t := Triage{PanicCPU: -1, PanicPID: -1}
	var lines []string
	for _, r := range recs {
		for _, l := range strings.Split(strings.TrimRight(r.Text, "\n"), "\n") {
			lines = append(lines, l)
		}
		if r.TsNsec > t.UptimeNsec {
			t.UptimeNsec = r.TsNsec
		}
	}
	// The first oops line explains a later panic; without one, the first
	// panic line is the message.
	firstOops, firstPanic := -1, -1
	for i, l := range lines {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "---[ end"):
		case strings.Contains(l, "Kernel panic - not syncing"):
			if firstPanic < 0 {
				firstPanic = i
			}
		case isCrashLine(l):
			if firstOops < 0 {
				firstOops = i
			}
		}
	}
	start := firstPanic
	if firstOops >= 0 && (firstPanic < 0 || firstOops < firstPanic) {
		start = firstOops
	}
	if start >= 0 {
		t.PanicMessage = lines[start]
		inTrace := false
		for _, l := range lines[start+1:] {
			if m := reDumpStack.FindStringSubmatch(l); m != nil && t.PanicPID < 0 {
				t.PanicCPU, _ = strconv.Atoi(m[1])
				t.PanicPID, _ = strconv.Atoi(m[2])
				t.PanicComm = m[3]
				t.Taint = strings.TrimSpace(m[4])
				if strings.Contains(l, "Not tainted") {
					t.Taint = "Not tainted"
				}
				continue
			}
			if strings.HasPrefix(l, "Modules linked in:") {
				t.Modules = strings.Fields(strings.TrimPrefix(l, "Modules linked in:"))
			}
			if strings.Contains(l, "Call Trace:") {
				inTrace = true
				continue
			}
			if inTrace {
				if strings.Contains(l, "</TASK>") || strings.HasPrefix(l, "---[ end") {
					inTrace = false
					if len(t.Trace) > 0 {
						break
					}
					continue
				}
				if m := reTrace.FindStringSubmatch(l); m != nil && m[1] == "" {
					t.Trace = append(t.Trace, m[2]+m[3])
				}
			}
		}
	}
	t.Verdict = verdict(lines, start, t)
	if lastN > 0 && len(recs) > 0 {
		var b strings.Builder
		first := max(0, len(recs)-lastN)
		for _, r := range recs[first:] {
			fmt.Fprintf(&b, "[%5d.%06d] %s\n", r.TsNsec/1e9, r.TsNsec%1e9/1000, strings.TrimRight(r.Text, "\n"))
		}
		t.LastLog = strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	}
	return t
}

func isCrashLine(l string) bool {
	for _, p := range []string{"Kernel panic - not syncing", "BUG:", "Oops:", "kernel BUG at", "general protection fault",
		"watchdog: BUG: soft lockup", "Watchdog detected hard LOCKUP", "INFO: task "} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

// verdict is the one-line diagnosis: what kind of crash, and where.
func verdict(lines []string, start int, t Triage) string {
	if start < 0 {
		return "no panic or oops found in the kernel log"
	}
	msg := lines[start]
	where := ""
	for _, l := range lines[start:] {
		if m := reRIP.FindStringSubmatch(l); m != nil && !strings.HasPrefix(m[1], "0x") {
			where = strings.SplitN(m[1], "/", 2)[0]
			if m[2] != "" {
				where += " " + m[2]
			}
			break
		}
	}
	in := func(s string) string {
		if where == "" {
			return s
		}
		return s + " in " + where
	}
	who := ""
	if t.PanicPID >= 0 {
		who = fmt.Sprintf(" by PID %d (%s) on CPU %d", t.PanicPID, t.PanicComm, t.PanicCPU)
	}
	switch {
	case strings.Contains(msg, "sysrq triggered crash"):
		return "sysrq-triggered crash (echo c > /proc/sysrq-trigger)" + who
	case reNullDeref.MatchString(msg):
		return in("NULL pointer dereference")
	case rePaging.MatchString(msg):
		return in("bad page fault at " + rePaging.FindStringSubmatch(msg)[1])
	case reBugAt.MatchString(msg):
		return in("kernel BUG at " + reBugAt.FindStringSubmatch(msg)[1])
	case reGPF.MatchString(msg):
		return in("general protection fault")
	case reSoftLock.MatchString(msg):
		return "soft lockup on CPU " + reSoftLock.FindStringSubmatch(msg)[1]
	case reHardLock.MatchString(msg):
		return "hard lockup on CPU " + reHardLock.FindStringSubmatch(msg)[1]
	case reHung.MatchString(msg):
		return "hung task " + reHung.FindStringSubmatch(msg)[1]
	case reOOM.MatchString(strings.Join(lines[start:min(len(lines), start+5)], "\n")):
		return "out of memory"
	}
	return strings.TrimSpace(msg) + who
}
