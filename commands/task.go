package commands

import (
	"context"
	"debug/dwarf"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/symbols"
)

func taskCommand() Command {
	return Command{
		Name:     "task",
		Summary:  "task_struct contents",
		Synopsis: "task [-R member[,member]] [-x|d] [pid | taskp] ...",
		Help: `  This command dumps a formatted display of the contents of a task's
  task_struct and thread_info structures.  Multiple task or PID numbers
  may be entered; if no arguments are entered, the task_struct and
  thread_info structures of the current context (the task that
  panicked) are displayed.

  -R member  a comma-separated list of one or more task_struct members
            to display (a member of an embedded struct as "se.load").
        -x  override default output format with hexadecimal format.
        -d  override default output format with decimal format.
       pid  a process PID.
     taskp  a hexadecimal task_struct pointer.

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
	var members []string
	for _, o := range opts {
		if o.c == 'R' {
			members = append(members, strings.Split(o.val, ",")...)
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
	for _, t := range tasks {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var b strings.Builder
		b.WriteString(taskHeader(t))
		if len(members) > 0 {
			if err := writeTaskMembers(&b, env, t, members, radix); err != nil {
				return err
			}
		} else if err := writeTaskStructs(&b, env, t, radix); err != nil {
			return err
		}
		if _, err := io.WriteString(env.Out, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// writeTaskMembers prints the -R members of t's task_struct the way
// "struct task_struct.member ADDR" does, then an empty line.
func writeTaskMembers(b *strings.Builder, env *Env, t *analyze.Task, members []string, radix int) error {
	ty, err := kernelTypes(env)
	if err != nil {
		return err
	}
	st, err := ty.Struct("task_struct")
	if err != nil {
		return err
	}
	buf := make([]byte, st.Size())
	if err := env.Kernel.ReadVirtual(buf, t.Addr, "task_struct"); err != nil {
		return err
	}
	p := valuePrinter(env, radix)
	for _, m := range members {
		if !strings.Contains(m, ".") {
			s, err := memberValue(p, st, buf, uint64(t.Addr), m)
			if err != nil {
				return err
			}
			b.WriteString(s)
			continue
		}
		// A member of an embedded struct: walk the path.
		var off uint64
		var typ dwarf.Type = st
		for _, name := range strings.Split(m, ".") {
			inner, ok := symbols.Unqualify(typ).(*dwarf.StructType)
			if !ok {
				return fmt.Errorf("invalid data structure member reference: %s", m)
			}
			f, ok := symbols.FindMember(inner, name)
			if !ok || f.BitSize != 0 {
				return fmt.Errorf("invalid data structure member reference: %s", m)
			}
			off += f.Offset
			typ = f.Type
		}
		if off+uint64(typ.Size()) > uint64(len(buf)) {
			return fmt.Errorf("invalid data structure member reference: %s", m)
		}
		fmt.Fprintf(b, "  %s = %s,\n", m, p.Value(typ, buf[off:], uint64(t.Addr)+off, 1))
	}
	b.WriteString("\n")
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
