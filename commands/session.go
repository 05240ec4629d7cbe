package commands

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Session is the state a shell session keeps between commands (crash
// keeps it in globals): aliases and settings changed with "set".
type Session struct {
	Aliases map[string]string
	Radix   int  // 10 or 16: the default output radix for values
	Scroll  bool // page output through a pager on a terminal
	JSON    bool // "set output json": every command prints JSON
	Values  int  // gdb's value history: the last $N that p printed
}

// NewSession returns the defaults crash starts with.
func NewSession() *Session {
	return &Session{Aliases: map[string]string{}, Radix: 10, Scroll: true}
}

func (e *Env) session() *Session {
	if e.Session == nil {
		e.Session = NewSession()
	}
	return e.Session
}

// expandAlias replaces an alias in the first word with its definition.
func (s *Session) expandAlias(words []string) []string {
	for range 10 { // aliases may name aliases, but never loop forever
		def, ok := s.Aliases[words[0]]
		if !ok {
			return words
		}
		w, err := splitWords(def)
		if err != nil || len(w) == 0 {
			return words
		}
		words = append(w, words[1:]...)
	}
	return words
}

func aliasCommand() Command {
	return Command{
		Name:     "alias",
		Summary:  "command aliases",
		Synopsis: "alias [alias] [command string]",
		Help: `  This command creates an alias for a given command string.  If no arguments
  are entered, the current list of aliases are displayed.  If one argument is
  entered, the command string for that alias, if any, is displayed.

           alias  the single-word name of the alias.
  command string  the command and its arguments that the alias stands for.

  EXAMPLES
    Create an alias for ps -u and use it:

      kcrash> alias upsu ps -u
      kcrash> upsu`,
		Run: func(_ context.Context, env *Env, args []string) error {
			s := env.session()
			switch len(args) {
			case 0:
				names := make([]string, 0, len(s.Aliases))
				for n := range s.Aliases {
					names = append(names, n)
				}
				sort.Strings(names)
				var b strings.Builder
				b.WriteString("ORIGIN   ALIAS    COMMAND\n")
				for _, n := range names {
					fmt.Fprintf(&b, "runtime  %-8s %s\n", n, s.Aliases[n])
				}
				_, err := io.WriteString(env.Out, b.String())
				return err
			case 1:
				def, ok := s.Aliases[args[0]]
				if !ok {
					return fmt.Errorf("alias does not exist: %s", args[0])
				}
				_, err := fmt.Fprintf(env.Out, "runtime  %-8s %s\n", args[0], def)
				return err
			}
			if _, isCmd := Lookup(args[0]); isCmd {
				return fmt.Errorf("alias name is a command: %s", args[0])
			}
			s.Aliases[args[0]] = strings.Join(args[1:], " ")
			return nil
		},
	}
}

func setCommand() Command {
	return Command{
		Name:     "set",
		Summary:  "set a process context or internal crash variable",
		Synopsis: "set [radix 10|16] [scroll on|off] [output json|text]",
		Help: `  This command sets an internal session variable, or with no argument
  shows them.

     radix 10|16  the default radix of values printed by p and struct.
   scroll on|off  page long output through a pager on a terminal.
  output json|text  make every command print one JSON value (like --json)
                  or crash's text again.

  EXAMPLES
      kcrash> set radix 16
      output radix: 16 (hex)`,
		Run: func(_ context.Context, env *Env, args []string) error {
			s := env.session()
			if len(args) == 0 {
				_, err := fmt.Fprintf(env.Out, "   radix: %d\n  scroll: %s\n  output: %s\n",
					s.Radix, onOff(s.Scroll), map[bool]string{true: "json", false: "text"}[s.JSON])
				return err
			}
			if len(args) != 2 {
				return &UsageError{Msg: "set takes a variable and a value"}
			}
			switch args[0] {
			case "radix":
				switch args[1] {
				case "10":
					s.Radix = 10
					_, err := fmt.Fprintln(env.Out, "output radix: 10 (decimal)")
					return err
				case "16":
					s.Radix = 16
					_, err := fmt.Fprintln(env.Out, "output radix: 16 (hex)")
					return err
				}
				return fmt.Errorf("invalid radix: %s (10 or 16)", args[1])
			case "scroll":
				switch args[1] {
				case "on", "off":
					s.Scroll = args[1] == "on"
					_, err := fmt.Fprintf(env.Out, "scroll: %s\n", args[1])
					return err
				}
				return fmt.Errorf("invalid scroll value: %s (on or off)", args[1])
			case "output":
				switch args[1] {
				case "json", "text":
					s.JSON = args[1] == "json"
					return nil
				}
				return fmt.Errorf("invalid output: %s (json or text)", args[1])
			}
			return fmt.Errorf("unknown variable: %s", args[0])
		},
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
