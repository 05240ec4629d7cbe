package analyze

import "strings"

// panicMessages are the log lines that announce a crash, in the order
// crash's get_panicmsg (task.c panic_msg[]) tries them; the first line
// holding the earliest-listed one is the panic message.
var panicMessages = []string{
	"SysRq : Crash",
	"SysRq : Trigger a crash",
	"SysRq : Netdump",
	"Kernel panic: ",
	"Kernel panic - ",
	"Kernel BUG at",
	"kernel BUG at",
	"Unable to handle kernel paging request",
	"Unable to handle kernel NULL pointer dereference",
	"BUG: unable to handle kernel ",
	"general protection fault: ",
	"double fault: ",
	"divide error: ",
	"stack segment: ",
	"[Hardware Error]: ",
	"Bad mode in ",
	"Oops: ",
}

// panicKeywords is crash's fallback list (task.c panic_keywords[]).
var panicKeywords = []string{
	"Unable to handle kernel",
	"BUG: unable to handle kernel",
	"Kernel BUG at",
	"kernel BUG at",
	"Bad mode in",
	"Oops",
	"Kernel panic",
}

// PanicMessage returns the line of the kernel log that announced the
// crash, or "" when there is none, searched as crash's "sys" does.
func PanicMessage(k *Kernel) (string, error) {
	recs, err := LogRecords(k)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, r := range recs {
		if !r.HasText {
			continue
		}
		lines = append(lines, strings.Split(logTextLine(r.Text), "\n")...)
	}
	for _, m := range panicMessages {
		for _, l := range lines {
			if strings.Contains(l, m) {
				return l, nil
			}
		}
	}
	for _, l := range lines {
		for _, kw := range panicKeywords {
			if strings.Contains(l, kw) {
				return l, nil
			}
		}
	}
	return "", nil
}

// logTextLine replaces what crash's log prints as '.'.
func logTextLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c != '\n' && !(c >= 0x20 && c < 0x7f) && c != '\t' && c != '\v' && c != '\f' && c != '\r' {
			b[i] = '.'
		}
	}
	return string(b)
}
