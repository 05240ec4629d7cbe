package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Runner executes command lines against one Env and remembers whether
// any command failed, for the process exit status.
type Runner struct {
	Env    *Env
	Err    io.Writer // where failures are reported, one line each
	Failed int
}

// RunLine runs one line, which may hold several commands separated by
// ';'. It returns ErrExit when a command asked to end the session.
func (r *Runner) RunLine(ctx context.Context, line string) error {
	for _, cmdline := range splitCommands(line) {
		words, err := splitWords(cmdline)
		if err != nil {
			r.fail(cmdline, err)
			continue
		}
		if len(words) == 0 {
			continue
		}
		if err := r.run(ctx, words); err != nil {
			if errors.Is(err, ErrExit) {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (r *Runner) run(ctx context.Context, words []string) (err error) {
	name, args := words[0], words[1:]
	c, ok := Lookup(name)
	if !ok {
		err = fmt.Errorf("command not found: %s", name)
		r.fail(name, err)
		return err
	}
	defer func() {
		// A bug in a command must not take the session down with it.
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error (please report): %v", p)
			r.fail(name, err)
		}
	}()
	env := *r.Env
	args, env.JSON = stripJSONFlag(args, env.JSON)
	err = c.Run(ctx, &env, args)
	if err != nil && !errors.Is(err, ErrExit) {
		var ue *UsageError
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s\nUsage: %s", ue.Msg, c.Synopsis)
		}
		r.fail(name, err)
	}
	return err
}

func stripJSONFlag(args []string, json bool) ([]string, bool) {
	out := args[:0:0]
	for _, a := range args {
		if a == "--json" {
			json = true
			continue
		}
		out = append(out, a)
	}
	return out, json
}

func (r *Runner) fail(name string, err error) {
	r.Failed++
	fmt.Fprintf(r.Err, "%s: %v\n", name, err)
}

// splitCommands splits a line at ';' outside quotes.
func splitCommands(line string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	for _, c := range line {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ';':
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(c)
	}
	return append(out, cur.String())
}

// splitWords splits a command into words with shell-like quoting.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
