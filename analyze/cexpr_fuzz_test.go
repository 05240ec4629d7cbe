package analyze

import "testing"

// FuzzParseExpr: any input either parses or returns a *SyntaxError, and
// evaluating what parses against the mock kernel never panics.
//
//	go test ./analyze -run '^$' -fuzz FuzzParseExpr -fuzztime 30s
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"jiffies", "init_task.comm[1] + 1", "((struct task *)0x1000)->next->pid",
		"sizeof(struct task)", "&arr[3] - &arr[1]", "~0 << 40", "-(-(-1))", "(unsigned long)t0.next", "*(int *)0x3000"} {
		f.Add(s)
	}
	m := newMockScope()
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s, func(n string) bool { return n == "pid_t" })
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("ParseExpr(%q): error %T, want *SyntaxError", s, err)
			}
			return
		}
		if v, err := Eval(m, e); err == nil {
			Load(m, v)
		}
	})
}
