package commands

import (
	"context"
	"fmt"
	"io"
	"strings"
)

func helpCommand() Command {
	return Command{
		Name:     "help",
		Summary:  "get help",
		Synopsis: "help [command]",
		Help: `  When entered with no argument, a list of all currently available commands
  is displayed.  If a command name is given, its help page is displayed.

  EXAMPLES
    List the commands, then show the help page of rd:

      kcrash> help
      kcrash> help rd`,
		Run: func(_ context.Context, env *Env, args []string) error {
			if len(args) == 0 {
				return writeCommandList(env.Out)
			}
			for _, name := range args {
				c, ok := Lookup(name)
				if !ok {
					return fmt.Errorf("no such command: %s", name)
				}
				if err := WriteHelp(env.Out, c); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func writeCommandList(w io.Writer) error {
	var b strings.Builder
	for _, c := range All() {
		fmt.Fprintf(&b, "%-12s %s\n", c.Name, c.Summary)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteHelp prints a command's help page in crash's layout.
func WriteHelp(w io.Writer, c Command) error {
	_, err := fmt.Fprintf(w, "\nNAME\n  %s - %s\n\nSYNOPSIS\n  %s\n\nDESCRIPTION\n%s\n\n", c.Name, c.Summary, c.Synopsis, c.Help)
	return err
}
