package commands

import (
	"fmt"
	"strings"
)

// getopt parses args the way crash's commands do (POSIX getopt with a
// crash-style option string: "ab:" means -a is a flag and -b takes a
// value). Crash's "-64" is option '6' with value "4", which is why we do
// not use a long-option flag parser for crash-compatible commands.
//
// It returns the options in order and the remaining operands. Operands
// and options may be interleaved, as with GNU getopt's permutation,
// which crash relies on (e.g. "rd linux_banner -a").
func getopt(args []string, spec string) (opts []option, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			operands = append(operands, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			k := strings.IndexByte(spec, c)
			if k < 0 || c == ':' {
				return nil, nil, fmt.Errorf("invalid option -- '%c'", c)
			}
			if k+1 < len(spec) && spec[k+1] == ':' {
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, nil, fmt.Errorf("option requires an argument -- '%c'", c)
					}
					i++
					val = args[i]
				}
				opts = append(opts, option{c, val})
				break
			}
			opts = append(opts, option{c, ""})
		}
	}
	return opts, operands, nil
}

type option struct {
	c   byte
	val string
}
