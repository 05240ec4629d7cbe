// Package commands implements kcrash's commands: one table of
// declarations (name, help in the crash utility's layout, behaviour) that
// feeds dispatch, help and the generated reference. Commands receive an
// Env and return errors; they never touch the process or the terminal.
package commands

import (
	"context"
	"errors"
	"io"
	"sort"

	"github.com/kcrash/kcrash/analyze"
)

// Env is everything a command may touch.
type Env struct {
	Session  *Session // aliases and settings; nil means a fresh default session
	Kernel   *analyze.Kernel
	DumpPath string // as given by the user, for display
	Out      io.Writer
	JSON     bool // --json: one JSON value per command
}

// Command declares one command.
type Command struct {
	Name     string
	Summary  string // crash's one-line description
	Synopsis string // usage line, every flag
	Help     string // description and options, in crash's layout
	Run      func(ctx context.Context, env *Env, args []string) error
}

// ErrExit is returned by the exit/q commands: the caller ends the session.
var ErrExit = errors.New("exit requested")

// UsageError reports bad arguments; the runner prints the synopsis.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// All returns the command table, sorted by name.
func All() []Command {
	cmds := []Command{
		rdCommand(),
		foreachCommand(),
		taskCommand(),
		kmemCommand(),
		btCommand(),
		structCommand(), unionCommand(), whatisCommand(), pCommand(),
		modCommand(),
		sysCommand(),
		psCommand(),
		aliasCommand(),
		setCommand(),
		repeatCommand(),
		symCommand(),
		vtopCommand(), ptovCommand(),
		disCommand(),
		logCommand(),
		dumpinfoCommand(),
		helpCommand(),
		exitCommand("exit"),
		exitCommand("q"),
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return cmds
}

// Lookup finds a command by name.
func Lookup(name string) (Command, bool) {
	for _, c := range All() {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

func exitCommand(name string) Command {
	return Command{
		Name:     name,
		Summary:  "exit this session",
		Synopsis: name,
		Help:     "  Bring the session to an end.",
		Run: func(context.Context, *Env, []string) error {
			return ErrExit
		},
	}
}
