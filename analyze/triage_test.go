package analyze

import (
	"strings"
	"testing"
)

func recs(text string) []LogRecord {
	var out []LogRecord
	for i, l := range strings.Split(text, "\n") {
		out = append(out, LogRecord{TsNsec: uint64(i) * 1e9, Text: l, HasText: true})
	}
	return out
}

func TestTriageFromLog(t *testing.T) {
	tests := []struct {
		name, log, verdict string
		cpu, pid           int
		comm, taint        string
		trace0             string
	}{
		{"sysrq", `sysrq: Trigger a crash
Kernel panic - not syncing: sysrq triggered crash
CPU: 0 PID: 46 Comm: kc-trigger Kdump: loaded Tainted: G           O       6.1.192-kcrash #1 
Call Trace:
 <TASK>
 dump_stack_lvl+0x33/0x42
 panic+0xfc/0x28c
 ? printk+0x48/0x4a
 sysrq_handle_crash+0x11/0x11
 </TASK>
Kernel Offset: 0x23000000 from 0xffffffff81000000
---[ end Kernel panic - not syncing: sysrq triggered crash ]---`,
			"sysrq-triggered crash (echo c > /proc/sysrq-trigger) by PID 46 (kc-trigger) on CPU 0", 0, 46, "kc-trigger", "G           O", "dump_stack_lvl+0x33/0x42"},
		{"null deref in a module", `BUG: kernel NULL pointer dereference, address: 0000000000000008
#PF: supervisor read access in kernel mode
Oops: 0000 [#1] PREEMPT SMP NOPTI
CPU: 3 PID: 1234 Comm: insmod Tainted: G           OE      6.1.0-13-amd64 #1  Debian 6.1.55-1
RIP: 0010:foo_bar+0x12/0x40 [foo_mod]
Call Trace:
 <TASK>
 foo_init+0x20/0x1000 [foo_mod]
 do_one_initcall+0x41/0x200
 </TASK>
Modules linked in: foo_mod(OE+) ext4
Kernel panic - not syncing: Fatal exception`,
			"NULL pointer dereference in foo_bar+0x12 [foo_mod]", 3, 1234, "insmod", "G           OE", "foo_init+0x20/0x1000 [foo_mod]"},
		{"soft lockup", `watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [spin:99]
CPU: 3 PID: 99 Comm: spin Not tainted 6.1.0 #1
Kernel panic - not syncing: softlockup: hung tasks`, "soft lockup on CPU 3", 3, 99, "spin", "Not tainted", ""},
		{"nothing", "hello\nworld", "no panic or oops found in the kernel log", -1, -1, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := TriageFromLog(recs(tc.log), 5)
			if tr.Verdict != tc.verdict || tr.PanicCPU != tc.cpu || tr.PanicPID != tc.pid || tr.PanicComm != tc.comm || tr.Taint != tc.taint {
				t.Errorf("got %+v", tr)
			}
			if tc.trace0 != "" && (len(tr.Trace) == 0 || tr.Trace[0] != tc.trace0) {
				t.Errorf("trace %q", tr.Trace)
			}
			if len(tr.LastLog) == 0 || len(tr.LastLog) > 5 {
				t.Errorf("last log %d lines", len(tr.LastLog))
			}
		})
	}
}
