package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/kcrash/kcrash/commands"
)

func newDumpinfoCmd(stdout io.Writer) *cobra.Command {
	var o sessionOptions
	c := &cobra.Command{
		Use:   "dumpinfo DUMPFILE",
		Short: "describe a dump file (format, CPUs, memory, VMCOREINFO); no vmlinux needed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, path, closeFn, err := openKernel(o, args)
			if err != nil {
				return err
			}
			defer closeFn()
			info, err := commands.CollectDumpInfo(k, path)
			if err != nil {
				return err
			}
			if o.json {
				return commands.WriteJSON(stdout, info)
			}
			return info.WriteText(stdout)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print one JSON object")
	return c
}
