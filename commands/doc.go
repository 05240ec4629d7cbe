package commands

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the command reference (docs/commands.md) from the
// command table, so the documentation cannot drift from the code.
func WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# kcrash command reference\n\n")
	b.WriteString("Generated from the command table (`commands.All()`); `go test ./commands -run TestCommandsDoc -update` rewrites it.\n\n")
	for _, c := range All() {
		fmt.Fprintf(&b, "- [`%s`](#%s): %s\n", c.Name, c.Name, c.Summary)
	}
	for _, c := range All() {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n```\n%s\n```\n\n```\n%s\n```\n", c.Name, c.Summary, c.Synopsis, strings.TrimRight(c.Help, "\n"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
