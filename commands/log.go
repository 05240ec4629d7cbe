package commands

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
)

func logCommand() Command {
	return Command{
		Name:     "log",
		Summary:  "dump system message buffer",
		Synopsis: "log [-tdmc] [--json]",
		Help: `  This command dumps the kernel log_buf contents in chronological order.  The
  command supports the older log_buf formats, which may or may not contain a
  timestamp inserted prior to each message, as well as the newer variable-length
  record format, where the timestamp is contained in each log entry's header.

       -t  Display the message text without the timestamp; only applicable to the
           variable-length record format.
       -d  Display the dictionary of key/value pair properties that are optionally
           appended to a message by the kernel's dev_printk() function; only
           applicable to the variable-length record format.
       -m  Display the message log level in brackets preceding each message.  For
           the variable-length record format, the level will be displayed in
           hexadecimal.
       -c  Display the caller id field that identifies either the thread id or
           the CPU id (if in CONFIG_PRINTK_CALLER kernels) that generated the
           message.
   --json  One JSON array of records: seq, ts_nsec, level, facility, caller
           ("T<pid>" or "C<cpu>"), text, subsystem, device.

  The log is read from the printk ring buffer through the layout published in
  VMCOREINFO, so it needs no vmlinux.

  EXAMPLES
    Dump the kernel message buffer:

      kcrash> log
      [    0.000000] Linux version 6.1.192-kcrash (root@vm) ...`,
		Run: runLog,
	}
}

const (
	logNoTime = 1 << iota
	logDict
	logLevel
	logCaller
)

func runLog(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "tdmcTas")
	if err != nil || len(operands) > 0 {
		return &UsageError{Msg: fmt.Sprint("bad arguments: ", args)}
	}
	flags := 0
	for _, o := range opts {
		switch o.c {
		case 't':
			flags |= logNoTime
		case 'd':
			flags |= logDict
		case 'm':
			flags |= logLevel
		case 'c':
			flags |= logCaller
		default:
			return fmt.Errorf("option -%c is not supported yet", o.c)
		}
	}
	recs, err := analyze.LogRecords(env.Kernel)
	if err != nil {
		return err
	}
	if env.JSON {
		return logJSON(env.Out, recs)
	}
	pidWidth := 8 // crash's PID_CHARS_DEFAULT
	if flags&logCaller != 0 {
		pidWidth = pidChars(env.Kernel)
	}
	var b strings.Builder
	for i, r := range recs {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		formatLogRecord(&b, r, flags, pidWidth)
	}
	_, err = io.WriteString(env.Out, b.String())
	return err
}

// formatLogRecord prints one record as crash's dump_record does: the
// "[%5d.%06d] " stamp, continuation lines indented under the text, and
// non-printable bytes as '.'.
func formatLogRecord(b *strings.Builder, r analyze.LogRecord, flags, pidWidth int) {
	if !r.HasText {
		b.WriteByte('\n')
		return
	}
	start := b.Len()
	if flags&logNoTime == 0 {
		fmt.Fprintf(b, "[%5d.%06d] ", r.TsNsec/1e9, r.TsNsec%1e9/1000)
	}
	if flags&logCaller != 0 {
		kind := 'T'
		if r.CallerIsCPU() {
			kind = 'C'
		}
		fmt.Fprintf(b, "[%*s] ", pidWidth, fmt.Sprintf("%c%d", kind, r.Caller()))
	}
	if flags&logLevel != 0 {
		fmt.Fprintf(b, "<%x>", r.Level)
	}
	indent := strings.Repeat(" ", b.Len()-start)
	for i := 0; i < len(r.Text); i++ {
		c := r.Text[i]
		switch {
		case c == '\n':
			b.WriteString("\n" + indent)
		case c >= 0x20 && c < 0x7f, c == ' ', c == '\t', c == '\v', c == '\f', c == '\r':
			b.WriteByte(c)
		default:
			b.WriteByte('.')
		}
	}
	if flags&logDict != 0 {
		if r.Subsystem != "" {
			b.WriteString("\n" + indent + "SUBSYSTEM=" + r.Subsystem)
		}
		if r.Device != "" {
			b.WriteString("\n" + indent + "DEVICE=" + r.Device)
		}
	}
	b.WriteByte('\n')
}

// pidChars is the caller column width crash derives from pid_max.
func pidChars(k *analyze.Kernel) int {
	tab, err := k.Symbols()
	if err != nil {
		return 8
	}
	s, ok := tab.Lookup("pid_max")
	if !ok {
		return 8
	}
	var b [4]byte
	if err := k.ReadVirtual(b[:], analyze.VirtAddr(s.Addr), "pid_max"); err != nil {
		return 8
	}
	switch pm := binary.LittleEndian.Uint32(b[:]); {
	case pm <= 99999:
		return 6
	case pm <= 999999:
		return 7
	}
	return 8
}

// LogRecordJSON is one record of "log --json".
type LogRecordJSON struct {
	Seq       uint64 `json:"seq"`
	TsNsec    uint64 `json:"ts_nsec"`
	Level     uint8  `json:"level"`
	Facility  uint8  `json:"facility"`
	Caller    string `json:"caller,omitempty"`
	Text      string `json:"text"`
	Subsystem string `json:"subsystem,omitempty"`
	Device    string `json:"device,omitempty"`
}

func logJSON(w io.Writer, recs []analyze.LogRecord) error {
	out := make([]LogRecordJSON, 0, len(recs))
	for _, r := range recs {
		j := LogRecordJSON{Seq: r.Seq, TsNsec: r.TsNsec, Level: r.Level, Facility: r.Facility,
			Text: r.Text, Subsystem: r.Subsystem, Device: r.Device}
		if r.CallerID != 0 {
			kind := "T"
			if r.CallerIsCPU() {
				kind = "C"
			}
			j.Caller = fmt.Sprintf("%s%d", kind, r.Caller())
		}
		out = append(out, j)
	}
	return json.NewEncoder(w).Encode(out)
}
