package commands

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/commands.md")

// TestCommandsDoc fails when docs/commands.md no longer matches the
// command table.
func TestCommandsDoc(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "docs", "commands.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(old, b.Bytes()) {
		t.Fatalf("docs/commands.md is stale: run go test ./commands -run TestCommandsDoc -update")
	}
}

// TestHelpLayout: every command has the parts of crash's help page.
func TestHelpLayout(t *testing.T) {
	for _, c := range All() {
		if c.Summary == "" || c.Synopsis == "" || strings.TrimSpace(c.Help) == "" {
			t.Errorf("%s: summary, synopsis and help are all required", c.Name)
		}
		if !strings.HasPrefix(c.Synopsis, c.Name) {
			t.Errorf("%s: synopsis %q does not start with the command name", c.Name, c.Synopsis)
		}
		var b bytes.Buffer
		WriteHelp(&b, c)
		for _, part := range []string{"NAME", "SYNOPSIS", "DESCRIPTION"} {
			if !strings.Contains(b.String(), part) {
				t.Errorf("%s: help lacks %s", c.Name, part)
			}
		}
	}
}
