package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
)

func taskCommand() Command {
	return Command{
		Name:     "task",
		Summary:  "task_struct contents",
		Synopsis: "task [-x|d] [pid | taskp] ...",
		Help: `  This command dumps a formatted display of the contents of a task's
  task_struct and thread_info structures.  Multiple task or PID numbers
  may be entered; if no arguments are entered, the task_struct and
  thread_info structures of the current context (the task that
  panicked) are displayed.

        -x  override default output format with hexadecimal format.
        -d  override default output format with decimal format.
       pid  a process PID.
     taskp  a hexadecimal task_struct pointer.

  The crash option -R is not supported yet.

  EXAMPLES
    Dump the task_struct and thread_info structures of the current context:

      kcrash> task
      PID: 46       TASK: ffff8f0640363c00  CPU: 0    COMMAND: "kc-trigger"
      struct task_struct {
        thread_info = {
          flags = 0,
      ...`,
		Run: runTask,
	}
}

func runTask(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "R:xd")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	for _, o := range opts {
		if o.c == 'R' {
			return fmt.Errorf("option -R is not supported yet")
		}
	}
	radix, err := radixOption(opts)
	if err != nil {
		return err
	}
	var tasks []*analyze.Task
	if len(operands) == 0 {
		t, err := panicTask(env.Kernel)
		if err != nil {
			return err
		}
		tasks = []*analyze.Task{t}
	}
	for _, a := range operands {
		t, err := btTaskArg(env.Kernel, a)
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
	}
	for i, t := range tasks {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var b strings.Builder
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(taskHeader(t))
		if err := writeTaskStructs(&b, env, t, radix); err != nil {
			return err
		}
		if _, err := io.WriteString(env.Out, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// writeTaskStructs prints t's task_struct and thread_info as crash's
// task command does (each followed by an empty line). With
// THREAD_INFO_IN_TASK the thread_info is the task_struct's first member,
// so it lives at the task's address.
func writeTaskStructs(b *strings.Builder, env *Env, t *analyze.Task, radix int) error {
	ty, err := kernelTypes(env)
	if err != nil {
		return err
	}
	p := valuePrinter(env, radix)
	ti := analyze.VirtAddr(0)
	if off, err := ty.MemberOffset("task_struct", "thread_info"); err == nil {
		ti = t.Addr + analyze.VirtAddr(off)
	} else if sp, err := ty.MemberOffset("task_struct", "stack"); err == nil {
		// Before THREAD_INFO_IN_TASK thread_info sat at the stack's base.
		v, err := env.Kernel.ReadPtr(t.Addr+analyze.VirtAddr(sp), "task_struct stack")
		if err != nil {
			return err
		}
		ti = v
	}
	for _, s := range []struct {
		name string
		addr analyze.VirtAddr
	}{{"task_struct", t.Addr}, {"thread_info", ti}} {
		if s.addr == 0 {
			continue
		}
		st, err := ty.Struct(s.name)
		if err != nil {
			return err
		}
		buf := make([]byte, st.Size())
		if err := env.Kernel.ReadVirtual(buf, s.addr, s.name); err != nil {
			return err
		}
		fmt.Fprintf(b, "struct %s %s\n\n", s.name, p.Value(st, buf, uint64(s.addr), 0))
	}
	return nil
}
