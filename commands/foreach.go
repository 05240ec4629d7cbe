package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
)

func foreachCommand() Command {
	return Command{
		Name:    "foreach",
		Summary: "display command data for multiple tasks in the system",
		Synopsis: `foreach [[pid | taskp | name | state | [kernel | user | gleader | active]] ...]
        command [flag] [argument]`,
		Help: `  This command allows for an examination of various kernel data associated
  with any, or all, tasks in the system, without having to set the context
  to each targeted task.

      pid  perform the command(s) on this PID.
    taskp  perform the command(s) on task referenced by this hexadecimal
           task_struct pointer.
     name  perform the command(s) on all tasks with this name.
    state  perform the command(s) on all tasks in this state: RU, IN, UN,
           ST, TR, ZO, DE, PA, WA, ID or NE.
   kernel  perform the command(s) on all kernel threads.
     user  perform the command(s) on all user threads.
  gleader  perform the command(s) on all user thread group leaders.
   active  perform the command(s) on the active thread on each CPU.

  If none of the task-identifying arguments above are entered, the command
  will be performed on all tasks.

  command  select one or more of the following commands to be run on the
           tasks selected, or on all tasks:

             bt  run the "bt" command (optional flags: -f -l -s -x -d)
           task  run the "task" command (optional flags: -x -d)
             ps  run the "ps" command (optional flags: -s -G and one of
                 -p -c -t -a -g -r)

  The flags are given after the command name (or anywhere), as in crash,
  and go to the command.  The crash commands vm, files, net, set, sig and
  vtop are not supported here yet.

  EXAMPLES
    Display the stack traces of all the kc-sleeper tasks:

      kcrash> foreach kc-sleeper bt
      PID: 38       TASK: ffff8f0641163c00  CPU: 0    COMMAND: "kc-sleeper"
       #0 [ffffa58a40133d28] __schedule at ffffffff8bc3fc95
      ...

    Display the ps line of every kernel thread:

      kcrash> foreach kernel ps
            PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM
              0       0   0  ffffffff8c411600  RU   0.0        0        0  [swapper/0]
      ...`,
		Run: runForeach,
	}
}

// foreachKeywords are the commands foreach can run, with the flags each
// takes from foreach's option list.
var foreachKeywords = map[string]string{
	"bt":   "flsxd",
	"task": "xd",
	"ps":   "sGpctagr",
}

// foreachUnsupported are crash's other foreach commands.
var foreachUnsupported = map[string]bool{"vm": true, "files": true, "net": true, "set": true, "sig": true, "vtop": true, "test": true}

type foreachSel struct {
	pids    []int32
	tasks   []analyze.VirtAddr
	comms   []string
	state   string
	kernel  bool
	user    bool
	gleader bool
	active  bool
}

func runForeach(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "R:vomlgersStTpukcfFxhdaGy:")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(operands) == 0 {
		return &UsageError{Msg: "a command is required"}
	}
	tasks, err := analyze.Tasks(env.Kernel)
	if err != nil {
		return err
	}
	var sel foreachSel
	var keys, cmdArgs []string
	var info strings.Builder // crash's non-fatal complaints, in the output
	specified := false
	for _, a := range operands {
		if len(keys) > 0 {
			if _, ok := foreachKeywords[a]; !ok {
				cmdArgs = append(cmdArgs, a)
				continue
			}
		}
		if _, ok := foreachKeywords[a]; ok {
			keys = append(keys, a)
			continue
		}
		if foreachUnsupported[a] {
			return fmt.Errorf("foreach %s is not supported yet", a)
		}
		if s, ok := parseTaskSelector(tasks, a); ok {
			specified = true
			if s.kind == 'p' {
				sel.pids = append(sel.pids, s.pid)
			} else {
				sel.tasks = append(sel.tasks, s.task)
			}
			continue
		}
		switch a {
		case "kernel":
			if sel.user {
				return fmt.Errorf("user and kernel are mutually exclusive!")
			}
			sel.kernel = true
			continue
		case "user":
			if sel.kernel {
				return fmt.Errorf("user and kernel are mutually exclusive!")
			}
			sel.user = true
			continue
		case "gleader":
			if sel.kernel {
				return fmt.Errorf("gleader and kernel are mutually exclusive!")
			}
			sel.user, sel.gleader = true, true
			continue
		case "active":
			sel.active = true
			continue
		case "RU", "IN", "UN", "ST", "TR", "ZO", "DE", `\DE`, "PA", "WA", "ID", "NE", "SW":
			if sel.state != "" {
				return fmt.Errorf("only one task state allowed")
			}
			sel.state = strings.TrimPrefix(a, `\`)
			continue
		}
		name := strings.TrimPrefix(a, `\`)
		found := false
		for _, t := range tasks {
			if t.Comm == name {
				found = true
				break
			}
		}
		specified = true
		if found {
			sel.comms = append(sel.comms, name)
		} else {
			fmt.Fprintf(&info, "foreach: unknown argument: \"%s\"\n", a)
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("no keywords specified")
	}
	if len(cmdArgs) > 0 {
		return fmt.Errorf("command arguments (%s) are not supported yet", strings.Join(cmdArgs, " "))
	}
	if _, err := io.WriteString(env.Out, info.String()); err != nil {
		return err
	}
	var selected []*analyze.Task
	for _, t := range tasks {
		if sel.match(t, specified) {
			selected = append(selected, t)
		}
	}
	// Each keyword gets the foreach options it understands.
	flagsFor := func(key string) ([]string, error) {
		var out []string
		for _, o := range opts {
			if !strings.ContainsRune(foreachKeywords[key], rune(o.c)) {
				return nil, fmt.Errorf("foreach %s: option -%c is not supported yet", key, o.c)
			}
			out = append(out, "-"+string(o.c))
		}
		return out, nil
	}
	for _, key := range keys {
		if _, err := flagsFor(key); err != nil {
			return err
		}
	}
	run := func(w io.Writer, key string, extra ...string) error {
		c, ok := Lookup(key)
		if !ok {
			return fmt.Errorf("command %s is not available", key)
		}
		fl, _ := flagsFor(key)
		sub := *env
		sub.Out = w
		return c.Run(ctx, &sub, append(fl, extra...))
	}
	if len(keys) == 1 && keys[0] == "ps" {
		// One ps over all the selected tasks: one header, crash's order.
		if len(selected) == 0 {
			return nil
		}
		var addrs []string
		for _, t := range selected {
			addrs = append(addrs, fmt.Sprintf("%#x", uint64(t.Addr)))
		}
		return run(env.Out, "ps", addrs...)
	}
	for i, t := range selected {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var b strings.Builder
		if i > 0 {
			b.WriteString("\n")
		}
		addr := fmt.Sprintf("%#x", uint64(t.Addr))
		if len(keys) == 1 {
			// bt and task print the task's header line themselves.
			if err := run(&b, keys[0], addr); err != nil {
				io.WriteString(env.Out, b.String())
				return fmt.Errorf("%s: %w", keys[0], err)
			}
		} else {
			b.WriteString(taskHeader(t))
			for _, key := range keys {
				var sb strings.Builder
				if err := run(&sb, key, addr); err != nil {
					io.WriteString(env.Out, b.String()+sb.String())
					return fmt.Errorf("%s: %w", key, err)
				}
				out := sb.String()
				if key != "ps" {
					_, out, _ = strings.Cut(out, "\n") // the header foreach printed
				}
				b.WriteString(out)
			}
		}
		if _, err := io.WriteString(env.Out, b.String()); err != nil {
			return err
		}
	}
	return nil
}

func (s *foreachSel) match(t *analyze.Task, specified bool) bool {
	if s.active && !t.Active {
		return false
	}
	if s.user && t.KernelThread() {
		return false
	}
	if s.gleader && t.PID != t.TGID {
		return false
	}
	if s.kernel && !t.KernelThread() {
		return false
	}
	if s.state != "" && t.StateString() != s.state {
		return false
	}
	if !specified {
		return true
	}
	for _, a := range s.tasks {
		if a == t.Addr {
			return true
		}
	}
	for _, p := range s.pids {
		if p == t.PID {
			return true
		}
	}
	for _, c := range s.comms {
		if c == t.Comm {
			return true
		}
	}
	return false
}
