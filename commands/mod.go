package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
)

func modCommand() Command {
	return Command{
		Name:     "mod",
		Summary:  "module information and loading of symbols and debugging data",
		Synopsis: "mod [-t] [--json]",
		Help: `  With no arguments, this command displays basic information of the
  currently-installed modules, consisting of the module address, name, base
  address, size, and the object file name (or "(not loaded)" when its
  symbols and debugging data have not been loaded; "[CONFIG_KALLSYMS]"
  when the module carries its own symbol table).

        -t  display the contents of the module's "taints" bitmask, as the
            kernel's taint_flags[] letters.
    --json  one JSON array of modules: module, name, base, size, kallsyms.

  The crash options -s, -d, -S, -D, -r, -R, -o and -g are not supported
  yet.

  EXAMPLES
    Display the currently-installed modules:

      kcrash> mod
           MODULE       NAME              BASE         SIZE  OBJECT FILE
      ffffffffc002c040  kcrashtest  ffffffffc002a000  16384  (not loaded)  [CONFIG_KALLSYMS]`,
		Run: runMod,
	}
}

// ModuleJSON is one module of "mod --json".
type ModuleJSON struct {
	Module   string `json:"module"`
	Name     string `json:"name"`
	Base     string `json:"base"`
	Size     uint64 `json:"size"`
	Kallsyms bool   `json:"kallsyms"`
}

func runMod(_ context.Context, env *Env, args []string) error {
	if len(args) == 1 && args[0] == "-t" {
		return modTaints(env)
	}
	if len(args) > 0 {
		return fmt.Errorf("mod %s is not supported yet", strings.Join(args, " "))
	}
	mods, err := analyze.Modules(env.Kernel)
	if err != nil {
		return err
	}
	if env.JSON {
		out := make([]ModuleJSON, 0, len(mods))
		for _, m := range mods {
			out = append(out, ModuleJSON{Module: fmt.Sprintf("%#x", uint64(m.Addr)), Name: m.Name,
				Base: fmt.Sprintf("%#x", uint64(m.Base)), Size: m.Size, Kallsyms: m.Kallsyms})
		}
		return json.NewEncoder(env.Out).Encode(out)
	}
	nameW, sizeW := 0, 0
	base := "BASE"
	for _, m := range mods {
		nameW = max(nameW, len(m.Name))
		sizeW = max(sizeW, len(fmt.Sprint(m.Size)))
		if m.TextBase {
			base = "TEXT_BASE"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-*s  %s  %*s  OBJECT FILE\n", center(16, "MODULE", false), nameW, "NAME",
		center(16, base, false), sizeW, "SIZE")
	for _, m := range mods {
		fmt.Fprintf(&b, "%16x  %-*s  %16x  %*d  (not loaded)", uint64(m.Addr), nameW, m.Name, uint64(m.Base), sizeW, m.Size)
		if m.Kallsyms {
			b.WriteString("  [CONFIG_KALLSYMS]")
		}
		b.WriteString("\n")
	}
	_, err = io.WriteString(env.Out, b.String())
	return err
}

// modTaints is "mod -t": the taint letters of each tainted module, as
// crash's show_module_taint_4_10 prints them.
func modTaints(env *Env) error {
	mods, err := analyze.Modules(env.Kernel)
	if err != nil {
		return err
	}
	nameW := 0
	for _, m := range mods {
		if m.Taints != 0 {
			nameW = max(nameW, len(m.Name))
		}
	}
	if nameW == 0 {
		_, err := io.WriteString(env.Out, "no tainted modules\n")
		return err
	}
	flags, err := analyze.TaintFlags(env.Kernel)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  TAINTS\n", nameW, "NAME")
	for _, m := range mods {
		if m.Taints == 0 {
			continue
		}
		var letters []byte
		for bit, f := range flags {
			if f.Module && bit < 64 && m.Taints&(1<<bit) != 0 {
				letters = append(letters, f.Char)
			}
		}
		fmt.Fprintf(&b, "%-*s  %s\n", nameW, m.Name, letters)
	}
	_, err = io.WriteString(env.Out, b.String())
	return err
}

// center is crash's mkstring(CENTER): s centred in width; an odd space
// goes right, or left with rjust (CENTER|RJUST).
func center(width int, s string, rjust bool) string {
	pad := width - len(s)
	if pad <= 0 {
		return s
	}
	l := pad / 2
	if rjust {
		l = pad - pad/2
	}
	return strings.Repeat(" ", l) + s + strings.Repeat(" ", pad-l)
}
