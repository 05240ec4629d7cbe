package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func repeatCommand() Command {
	return Command{
		Name:     "repeat",
		Summary:  "repeat a command",
		Synopsis: "repeat [-seconds] command",
		Help: `  This command is intended to be used with commands that show a changing
  state, or, on a dump, to keep a long command going until it is
  interrupted.  The command is run again and again until Ctrl-C is pressed.

  -seconds  wait this many seconds between runs (default: none).
   command  the command and its arguments.

  EXAMPLES
    Show jiffies once a second until Ctrl-C (on a dump it never changes):

      kcrash> repeat -1 rd -64 jiffies`,
		Run: runRepeat,
	}
}

// runRepeat runs a command until the context is cancelled. In a batch
// run without a terminal that would never end, so it stops after the
// first failure as well.
func runRepeat(ctx context.Context, env *Env, args []string) error {
	var delay time.Duration
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		n, err := strconv.Atoi(args[0][1:])
		if err != nil || n < 0 {
			return &UsageError{Msg: "invalid delay " + args[0]}
		}
		delay, args = time.Duration(n)*time.Second, args[1:]
	}
	if len(args) == 0 {
		return &UsageError{Msg: "a command is required"}
	}
	args = env.session().expandAlias(args)
	c, ok := Lookup(args[0])
	if !ok || c.Name == "repeat" {
		return fmt.Errorf("command not found: %s", args[0])
	}
	for {
		if err := c.Run(ctx, env, args[1:]); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}
