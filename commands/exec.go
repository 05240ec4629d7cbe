package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Runner executes command lines against one Env and remembers whether
// any command failed, for the process exit status. It owns the session
// state that crash keeps globally: aliases and settings.
type Runner struct {
	Env    *Env
	Err    io.Writer // where failures are reported, one line each
	Failed int
}

// RunLine runs one line, which may hold several commands separated by
// ';', each optionally followed by "| shell pipeline", "> file" or
// ">> file". It returns ErrExit when a command asked to end the session.
func (r *Runner) RunLine(ctx context.Context, line string) error {
	for _, cmdline := range splitCommands(line) {
		if ctx.Err() != nil {
			// Interrupted: the rest of the line does not run.
			r.fail(strings.TrimSpace(cmdline), ctx.Err())
			return ctx.Err()
		}
		if sh, ok := strings.CutPrefix(strings.TrimSpace(cmdline), "!"); ok {
			r.shell(ctx, sh)
			continue
		}
		red, err := splitRedirect(cmdline)
		if err != nil {
			r.fail(cmdline, err)
			continue
		}
		words, err := splitWords(red.command)
		if err != nil {
			r.fail(cmdline, err)
			continue
		}
		if len(words) == 0 {
			continue
		}
		words = r.Env.session().expandAlias(words)
		if err := r.runRedirected(ctx, words, red); err != nil {
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

// redirect is a command with where its output goes.
type redirect struct {
	command  string
	pipeline string // "| pipeline": run by /bin/sh with the output as input
	file     string // "> file" or ">> file"
	append   bool
}

// splitRedirect finds the first unquoted '|' or '>' of a command, as
// crash does; everything after it is the pipeline or the file.
func splitRedirect(s string) (redirect, error) {
	var quote rune
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '|':
			p := strings.TrimSpace(s[i+1:])
			if p == "" {
				return redirect{}, errors.New("missing command after '|'")
			}
			return redirect{command: s[:i], pipeline: p}, nil
		case c == '>' && (i == 0 || s[i-1] != '-'): // "->" is C's member access, not a redirection
			rest, app := s[i+1:], false
			if strings.HasPrefix(rest, ">") {
				rest, app = rest[1:], true
			}
			f := strings.TrimSpace(rest)
			if f == "" || strings.ContainsAny(f, " \t") {
				return redirect{}, fmt.Errorf("bad redirection target %q", f)
			}
			return redirect{command: s[:i], file: f, append: app}, nil
		}
	}
	return redirect{command: s}, nil
}

func (r *Runner) runRedirected(ctx context.Context, words []string, red redirect) error {
	switch {
	case red.file != "":
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if red.append {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(red.file, flags, 0o644)
		if err != nil {
			r.fail(words[0], err)
			return err
		}
		defer f.Close()
		return r.run(ctx, words, f)
	case red.pipeline != "":
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", red.pipeline)
		cmd.Stdout, cmd.Stderr = r.Env.Out, r.Err
		in, err := cmd.StdinPipe()
		if err != nil {
			r.fail(words[0], err)
			return err
		}
		if err := cmd.Start(); err != nil {
			r.fail(words[0], fmt.Errorf("pipeline %q: %w", red.pipeline, err))
			return err
		}
		runErr := r.run(ctx, words, in)
		in.Close()
		// The pipeline's own status (grep finding nothing) is not the
		// command's failure, as in crash.
		_ = cmd.Wait()
		return runErr
	}
	return r.run(ctx, words, r.Env.Out)
}

// shell runs "!command" with the session's output.
func (r *Runner) shell(ctx context.Context, line string) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Stdout, cmd.Stderr = r.Env.Out, r.Err
	if err := cmd.Run(); err != nil {
		r.fail("!"+line, err)
	}
}

func (r *Runner) run(ctx context.Context, words []string, out io.Writer) (err error) {
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
	env.Out = out
	args, env.JSON = stripJSONFlag(args, env.JSON || env.session().JSON)
	err = c.Run(ctx, &env, args)
	if err != nil && ctx.Err() != nil {
		// Interrupted: whatever failed last (a pipe whose reader died of
		// the same Ctrl-C) is not the story.
		err = ctx.Err()
	}
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
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(r.Err, "%s: interrupted\n", name)
		return
	}
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
