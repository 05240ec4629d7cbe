// Package shell is kcrash's interactive front end: a line editor with
// history and completion, and a loop that runs each line through the
// commands runner with Ctrl-C cancelling the running command rather than
// the session.
//
// The line editor (github.com/chzyer/readline, unmaintained since 2022)
// stays behind the small LineReader interface so it can be replaced
// without touching anything else.
package shell

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"

	"github.com/chzyer/readline"

	"github.com/kcrash/kcrash/commands"
)

// LineReader reads one edited line at a time.
type LineReader interface {
	// ReadLine returns the next line; ErrInterrupt on Ctrl-C at the
	// prompt, io.EOF on Ctrl-D.
	ReadLine() (string, error)
	Close() error
}

// ErrInterrupt: the user pressed Ctrl-C at the prompt.
var ErrInterrupt = errors.New("interrupt")

// Completer proposes completions for the word being typed.
type Completer func(line string) []string

type rl struct{ inst *readline.Instance }

// NewReadline opens the terminal line editor with a persistent history.
func NewReadline(prompt, historyFile string, complete Completer, stdin io.ReadCloser, stdout io.Writer) (LineReader, error) {
	inst, err := readline.NewEx(&readline.Config{
		Prompt:            prompt,
		HistoryFile:       historyFile,
		HistoryLimit:      5000,
		AutoComplete:      completerAdapter(complete),
		InterruptPrompt:   "^C",
		EOFPrompt:         "exit",
		HistorySearchFold: true,
		Stdin:             stdin,
		Stdout:            stdout,
	})
	if err != nil {
		return nil, err
	}
	return &rl{inst: inst}, nil
}

func (r *rl) ReadLine() (string, error) {
	line, err := r.inst.Readline()
	if errors.Is(err, readline.ErrInterrupt) {
		return "", ErrInterrupt
	}
	return line, err
}

func (r *rl) Close() error { return r.inst.Close() }

// completerAdapter turns a Completer into readline's interface, which
// wants the suffixes that complete the current word.
type completerAdapter Completer

func (c completerAdapter) Do(line []rune, pos int) ([][]rune, int) {
	s := string(line[:pos])
	word := s[strings.LastIndexAny(s, " \t")+1:]
	var out [][]rune
	for _, cand := range c(s) {
		if strings.HasPrefix(cand, word) {
			out = append(out, []rune(cand[len(word):]+" "))
		}
	}
	return out, len([]rune(word))
}

// DefaultHistoryFile is ~/.kcrash_history.
func DefaultHistoryFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".kcrash_history")
}

// Run reads lines until exit or end of input and runs them. While a
// command runs, Ctrl-C (SIGINT) cancels that command only; at the prompt
// the line editor reads Ctrl-C as a key (ErrInterrupt) that clears the
// line, as in crash.
//
// SIGINT is caught for the whole loop, not only while a command runs:
// the terminal is in cooked mode from the moment the editor returns a
// line until it prompts again, and a Ctrl-C in the moments just before
// or after a command must not fall through to Go's default action, which
// ends the process.
func Run(ctx context.Context, lr LineReader, r *commands.Runner) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	for {
		line, err := lr.ReadLine()
		if errors.Is(err, ErrInterrupt) {
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		// A Ctrl-C that arrived after the last command ended, before the
		// prompt, belongs to no command: drop it rather than let it
		// cancel this one.
		select {
		case <-sig:
		default:
		}
		cmdCtx, cancel := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			select {
			case <-sig:
				cancel()
			case <-cmdCtx.Done():
			}
		}()
		err = r.RunLine(cmdCtx, line)
		cancel()
		<-watched // so the next command's watcher alone takes the next Ctrl-C
		if errors.Is(err, commands.ErrExit) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Completions builds the completer: command names first, then flags of
// the command, symbol names and type names.
func Completions(symbols func() []string, types func() []string) Completer {
	var cmds []string
	for _, c := range commands.All() {
		cmds = append(cmds, c.Name)
	}
	var syms, typs []string
	return func(line string) []string {
		fields := strings.Fields(line)
		if len(fields) == 0 || (len(fields) == 1 && !strings.HasSuffix(line, " ")) {
			return cmds
		}
		word := ""
		if !strings.HasSuffix(line, " ") {
			word = fields[len(fields)-1]
		}
		if strings.HasPrefix(word, "-") {
			return flagsOf(fields[0])
		}
		switch fields[0] {
		case "struct", "union", "whatis":
			if typs == nil && types != nil {
				typs = types()
				sort.Strings(typs)
			}
			return prefixed(typs, word)
		}
		if syms == nil && symbols != nil {
			syms = symbols()
			sort.Strings(syms)
		}
		return prefixed(syms, word)
	}
}

// prefixed returns the sorted names starting with p (at most 500, so a
// one-letter prefix does not flood the terminal).
func prefixed(sorted []string, p string) []string {
	i := sort.SearchStrings(sorted, p)
	var out []string
	for ; i < len(sorted) && strings.HasPrefix(sorted[i], p) && len(out) < 500; i++ {
		if i == 0 || sorted[i] != sorted[i-1] {
			out = append(out, sorted[i])
		}
	}
	return out
}

// flagsOf lists the flags a command's synopsis mentions.
func flagsOf(name string) []string {
	c, ok := commands.Lookup(name)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range strings.FieldsFunc(c.Synopsis, func(r rune) bool { return strings.ContainsRune(" []|", r) }) {
		if strings.HasPrefix(f, "-") {
			out = append(out, f)
		}
	}
	return out
}
