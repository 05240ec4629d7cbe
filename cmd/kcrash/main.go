// Command kcrash analyses Linux kernel crash dumps.
//
//	kcrash [vmlinux] DUMPFILE            interactive session
//	kcrash [vmlinux] DUMPFILE -c 'cmd; cmd'
//	kcrash dumpinfo DUMPFILE [--json]
//
// It is the composition root: it opens files, builds the kernel model and
// hands it to the commands; all behaviour lives in the packages below.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func main() {
	// A session allocates most of what it keeps in its first second
	// (symbol table, index maps, type graphs); collecting half as often
	// cuts a first run on a distribution kernel by a fifth while peak
	// RSS stays below drgn's (bench/results-distro.txt). GOGC overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	// Interrupts are handled per mode: batch runs stop, the interactive
	// shell cancels only the running command (see runSession).
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries a process exit status out of cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintf(stderr, "kcrash: %v\n", err)
		return 1
	}
	return 0
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var o sessionOptions
	var cpuProfile string
	root := &cobra.Command{
		Use:   "kcrash [vmlinux] DUMPFILE",
		Short: "post-mortem Linux kernel crash dump analysis",
		Long: `kcrash opens a kernel crash dump (ELF vmcore, makedumpfile's kdump-compressed
or flattened format) and answers questions about it with crash-compatible
commands, interactively or in batch.

With no arguments it opens the bundled sample dump from the source tree.`,
		Args:          cobra.MaximumNArgs(2),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			return runSession(cmd.Context(), o, args, stdin, stdout, stderr)
		},
	}
	f := root.Flags()
	f.StringArrayVarP(&o.commands, "command", "c", nil, "run these commands (separated by ';') and exit")
	f.StringVarP(&o.inputFile, "input", "i", "", "run the commands in this file first")
	f.BoolVarP(&o.silent, "silent", "s", false, "no banner")
	f.BoolVar(&o.json, "json", false, "JSON output for every command")
	f.BoolVar(&o.zeroExcluded, "zero-excluded", false, "read pages excluded by filtering as zeros")
	f.StringVar(&o.kaslr, "kaslr", "", "KASLR offset (hex) when the dump cannot tell")
	f.StringVar(&o.physBase, "phys-base", "", "phys_base (hex, may be negative) when the dump cannot tell")
	f.BoolVar(&o.force, "force", false, "use the vmlinux even if it does not match the dump")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file (for kcrash's developers)")
	_ = f.MarkHidden("cpuprofile")
	root.AddCommand(newDumpinfoCmd(stdout))
	root.AddCommand(newTriageCmd(stdout, stderr))
	root.AddCommand(newConvertCmd(stdout, stderr))
	return root
}
