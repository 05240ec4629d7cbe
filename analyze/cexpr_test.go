package analyze

import (
	"errors"
	"testing"
)

func TestParseExpr(t *testing.T) {
	isType := func(n string) bool { return n == "pid_t" || n == "u64" }
	tests := []struct {
		in, want string
	}{
		{"jiffies", "jiffies"},
		{"init_task.comm", "init_task.comm"},
		{"init_task.tasks.next->next", "init_task.tasks.next->next"},
		{"init_task.comm[1] + 1", "(init_task.comm[1] + 1)"},
		{"*init_task.sched_class", "(*init_task.sched_class)"},
		{"&init_task.comm", "(&init_task.comm)"},
		{"(struct list_head *)0xffff", "((struct list_head *)65535)"},
		{"((struct task_struct *)0x10)->pid", "((struct task_struct *)16)->pid"},
		{"(unsigned long)x", "((unsigned long)x)"},
		{"(long unsigned int)x", "((unsigned long)x)"},
		{"(pid_t)x", "((pid_t)x)"},
		{"(u64 *)x", "((u64 *)x)"},
		{"(x)", "x"},
		{"sizeof(struct task_struct)", "sizeof(struct task_struct)"},
		{"sizeof(int)", "sizeof(int)"},
		{"sizeof x", "sizeof(x)"},
		{"1 + 2 * 3", "(1 + (2 * 3))"},
		{"(1 + 2) * 3", "((1 + 2) * 3)"},
		{"a << 2 | b & 1", "((a << 2) | (b & 1))"},
		{"a == 1 && b != 2 || c", "(((a == 1) && (b != 2)) || c)"},
		{"-5", "(-5)"},
		{"~0", "(~0)"},
		{"!x", "(!x)"},
		{"a - -b", "(a - (-b))"},
		{"a[b[1]]", "a[b[1]]"},
		{"010", "8"},
		{"*a@3", "((*a) @ 3)"},
		{"a[1]@2 + 1", "(a[1] @ (2 + 1))"},
		{"0x10UL", "16"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			e, err := ParseExpr(tc.in, isType)
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.in, err)
			}
			if got := e.String(); got != tc.want {
				t.Errorf("ParseExpr(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseExprErrors(t *testing.T) {
	for _, in := range []string{"", "a +", "a.", "(struct)x", "a[1", "(a", "a $ b", "1x2", "a b"} {
		t.Run(in, func(t *testing.T) {
			_, err := ParseExpr(in, nil)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseExpr(%q) error = %v, want a *SyntaxError", in, err)
			}
		})
	}
}

func TestNumberTypes(t *testing.T) {
	tests := []struct {
		in             string
		unsigned, long bool
	}{
		{"1", false, false},
		{"2147483647", false, false},
		{"2147483648", false, true},
		{"0x80000000", true, false},
		{"0xffffffff", true, false},
		{"0x100000000", false, true},
		{"0xffffffffffffffff", true, true},
		{"1u", true, false},
		{"1l", false, true},
		{"1ul", true, true},
	}
	for _, tc := range tests {
		e, err := ParseExpr(tc.in, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		n := e.(*numExpr)
		if n.Unsigned != tc.unsigned || n.Long != tc.long {
			t.Errorf("%s: unsigned %v long %v, want %v %v", tc.in, n.Unsigned, n.Long, tc.unsigned, tc.long)
		}
	}
}
