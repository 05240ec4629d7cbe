package shell

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kcrash/kcrash/commands"
)

// script is a LineReader that plays steps, then ends the input.
type script []func() (string, error)

func (s *script) ReadLine() (string, error) {
	if len(*s) == 0 {
		return "", io.EOF
	}
	step := (*s)[0]
	*s = (*s)[1:]
	return step()
}

func (s *script) Close() error { return nil }

// ctrlCOnWrite is a terminal where the user presses Ctrl-C when the
// first output shows: the terminal driver sends the process SIGINT.
type ctrlCOnWrite struct {
	strings.Builder
	once sync.Once
}

func (w *ctrlCOnWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { syscall.Kill(os.Getpid(), syscall.SIGINT) })
	return w.Builder.Write(p)
}

func (w *ctrlCOnWrite) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// TestRunCtrlC: SIGINT during a command cancels that command only; one
// between commands (the terminal is in cooked mode from the moment a
// line is read until the next prompt) neither ends the process nor
// cancels the next command; Ctrl-C read as a key at the prompt is
// nothing; end of input ends the session.
func TestRunCtrlC(t *testing.T) {
	var out ctrlCOnWrite
	var errb strings.Builder
	r := &commands.Runner{Env: &commands.Env{Out: &out}, Err: &errb}
	line := func(s string) func() (string, error) {
		return func() (string, error) { return s, nil }
	}
	lr := &script{
		// Runs until interrupted; its first output brings the SIGINT.
		line("repeat alias"),
		func() (string, error) {
			// Ctrl-C after the command ended, before the prompt. Without
			// a handler Go would end the process here.
			syscall.Kill(os.Getpid(), syscall.SIGINT)
			time.Sleep(100 * time.Millisecond)
			return "alias", nil
		},
		func() (string, error) { return "", ErrInterrupt }, // Ctrl-C at the prompt
		line("alias x alias"),
		line("x"),
	}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), lr, r) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the SIGINT did not stop repeat")
	}
	if got := errb.String(); got != "repeat: interrupted\n" {
		t.Errorf("errors: %q, want only \"repeat: interrupted\"", got)
	}
	if !strings.HasSuffix(out.String(), "ORIGIN   ALIAS    COMMAND\nruntime  x        alias\n") {
		t.Errorf("the commands after the interruption did not run; output ends:\n%s", out.String()[max(0, out.Len()-200):])
	}
}
