package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kcrash/kcrash/internal/coretest"
)

// screen collects what the program writes to its terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen, after position from, shows want.
func (s *screen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := s.String()
		if i := strings.Index(out[min(from, len(out)):], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("screen never showed %q; it shows:\n%s", want, s.String()[min(from, len(s.String())):])
	return 0
}

// TestShellInteractive drives the real shell in a pseudo-terminal: tab
// completion, history, a pipe, Ctrl-C during a long foreach bt and at the
// prompt, Ctrl-D.
func TestShellInteractive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dump := sample(t)
	vmlinux := coretest.Path(t, "kernel/vmlinux")
	bin := filepath.Join(t.TempDir(), "kcrash")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, vmlinux, dump)
	cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var scr screen
	go func() { _, _ = copyAll(&scr, tty) }()
	send := func(s string) { tty.Write([]byte(s)) }

	// Every step waits for the screen to settle before the next keys, so
	// that nothing is typed ahead: typed ahead, a line would be echoed by
	// the terminal rather than read by the line editor, and a later
	// "kcrash> " could match an earlier prompt being redrawn.
	pos := scr.waitFor(t, 0, "kcrash> ")
	// run types a command line, waits for the editor to hand it over (its
	// echo ends the screen line) and for the prompt after its output, and
	// returns that output.
	count := regexp.MustCompile(`^[1-9]\d*\r\n`) // grep -c's answer
	run := func(line string) string {
		t.Helper()
		send(line + "\r")
		start := scr.waitFor(t, pos, line+"\r\n")
		pos = scr.waitFor(t, start, "kcrash> ")
		return scr.String()[start:pos]
	}

	send("hel\t") // completes to "help "
	pos = scr.waitFor(t, pos, "kcrash> help ")
	if out := run(""); !strings.Contains(out, "read memory") { // the command list
		t.Errorf("help after completion printed:\n%s", out)
	}
	if out := run("ps | grep -c kc-"); !count.MatchString(out) { // the corpus scenario's processes
		t.Errorf("ps | grep -c kc- printed %q", out)
	}
	send("\x1b[A") // Up: the last command again
	pos = scr.waitFor(t, pos, "kcrash> ps | grep -c kc-")
	if out := run(""); !count.MatchString(out) {
		t.Errorf("ps | grep -c kc- from history printed %q", out)
	}
	run("alias fb foreach bt")
	out := run("fb | grep -c PID:") // an alias through a pipe
	perRun, err := strconv.Atoi(regexp.MustCompile(`\d+`).FindString(out))
	if err != nil || perRun < 2 {
		t.Fatalf("fb | grep -c PID: printed %q", out)
	}

	// Ctrl-C during a long foreach bt stops it, not the shell. On the
	// small sample one foreach bt takes milliseconds, so the line runs it
	// many times, then defines an alias, which shows whether the line ran
	// to its end. The line is one read of the editor: the terminal stays
	// in cooked mode, where Ctrl-C is SIGINT rather than a key, until all
	// of it has run or been interrupted. Ctrl-C goes only once the output
	// has started, when a foreach bt is certainly running.
	const runs = 300
	send(strings.Repeat("fb; ", runs) + "alias finished rd\r")
	start := scr.waitFor(t, pos, "finished rd\r\n") // the editor handed the line over
	pos = scr.waitFor(t, start, "PID: ")
	send("\x03")
	end := scr.waitFor(t, pos, ": interrupted\r\n")
	pos = scr.waitFor(t, end, "kcrash> ")
	// The terminal echoes Ctrl-C as ^C, and drops the output it had not
	// yet shown, so the count of backtraces shown is only a bound.
	out = strings.ReplaceAll(strings.ReplaceAll(scr.String()[start:end], "\r", ""), "^C", "")
	if n := strings.Count(out, "PID: "); n >= runs*perRun {
		t.Errorf("Ctrl-C did not cut foreach bt short: %d tasks shown, a full run shows %d", n, runs*perRun)
	} else {
		t.Logf("%d of %d task backtraces shown", n, runs*perRun)
	}
	// "foreach: interrupted" from the command itself, or, if Ctrl-C came
	// as one foreach bt was ending (writing its last task while the
	// terminal was behind), "fb: interrupted" for the next one.
	if !regexp.MustCompile(`\n(foreach|fb): interrupted\n$`).MatchString(out) {
		t.Errorf("no \"foreach: interrupted\" at the end of the output:\n%s", tail(out, 600))
	}
	// Nothing more of the line ran, and the next command works.
	if out := run("alias finished"); !strings.Contains(out, "alias does not exist: finished") {
		t.Errorf("the interrupted line ran to its end: alias finished shows %q", out)
	}
	if out := run("ps | grep -c kc-"); !count.MatchString(out) {
		t.Errorf("ps | grep -c kc- after Ctrl-C printed %q", out)
	}

	// Ctrl-C at the prompt clears the line and keeps the session.
	send("bogus")
	pos = scr.waitFor(t, pos, "kcrash> bogus")
	send("\x03")
	pos = scr.waitFor(t, pos, "^C")
	pos = scr.waitFor(t, pos, "kcrash> ")
	if out := run("rd -p 1000"); !strings.Contains(out, "1000:  0000000000000000") {
		t.Errorf("rd -p 1000 after Ctrl-C at the prompt printed %q", out)
	}
	send("\x04") // Ctrl-D ends the session
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("shell did not exit on Ctrl-D")
	}
	hist, err := os.ReadFile(filepath.Join(home, ".kcrash_history"))
	if err != nil || !strings.Contains(string(hist), "ps | grep -c kc-") {
		t.Errorf("history file: %q, %v", hist, err)
	}
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	return s[max(0, len(s)-n):]
}

func copyAll(dst *screen, src *os.File) (int64, error) {
	var n int64
	buf := make([]byte, 4096)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			dst.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}
