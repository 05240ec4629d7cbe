package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/commands"
	"github.com/kcrash/kcrash/commands/shell"
	"github.com/kcrash/kcrash/vmcore"
)

type sessionOptions struct {
	commands     []string
	inputFile    string
	silent       bool
	json         bool
	zeroExcluded bool
	kaslr        string
	physBase     string
	force        bool
}

// The bundled sample, relative to the module root.
const (
	sampleDump    = "testdata/cores/qemu-4l/vmcore-d31-zstd.kdump"
	sampleVmlinux = "testdata/cores/kernel/vmlinux.zst"
)

// findSample walks up from the working directory to the module root and
// returns the sample dump and its vmlinux ("" if absent).
func findSample() (dump, vmlinux string, err error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, sampleDump)
			if _, err := os.Stat(p); err != nil {
				return "", "", fmt.Errorf("no dump given and the sample %s is missing: %w", sampleDump, err)
			}
			v := filepath.Join(dir, sampleVmlinux)
			if _, err := os.Stat(v); err != nil {
				v = ""
			}
			return p, v, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New("no dump given (and not inside the kcrash source tree, where the sample dump lives)")
		}
		dir = parent
	}
}

// classify tells a vmlinux from a dump by its first bytes, so the two
// may be given in either order, as with crash.
func classify(path string) (isVmlinux bool, err error) {
	if isCompressed(path) {
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var h [18]byte
	n, _ := io.ReadFull(f, h[:])
	if n == 18 && string(h[:4]) == "\x7fELF" {
		etype := uint16(h[16]) | uint16(h[17])<<8
		return etype == 2 || etype == 3, nil // ET_EXEC, ET_DYN
	}
	return false, nil
}

func openKernel(o sessionOptions, args []string) (*analyze.Kernel, string, func(), error) {
	var dumpPath, vmlinux string
	for _, a := range args {
		isV, err := classify(a)
		if err != nil {
			return nil, "", nil, err
		}
		if isV {
			vmlinux = a
		} else {
			dumpPath = a
		}
	}
	if dumpPath == "" {
		if len(args) > 0 {
			return nil, "", nil, errors.New("no dump file among the arguments")
		}
		p, v, err := findSample()
		if err != nil {
			return nil, "", nil, err
		}
		dumpPath, vmlinux = p, v
	}
	d, err := vmcore.Open(dumpPath, vmcore.Options{ZeroExcluded: o.zeroExcluded})
	if err != nil {
		return nil, "", nil, err
	}
	cfg := analyze.Config{Force: o.force}
	if vmlinux != "" {
		v, err := openVmlinux(vmlinux)
		if err != nil {
			d.Close()
			return nil, "", nil, err
		}
		cfg.Vmlinux = v
	}
	if o.kaslr != "" {
		v, err := strconv.ParseUint(strings.TrimPrefix(o.kaslr, "0x"), 16, 64)
		if err != nil {
			d.Close()
			return nil, "", nil, fmt.Errorf("--kaslr %q: not a hex number", o.kaslr)
		}
		cfg.KASLROffset = &v
	}
	if o.physBase != "" {
		s := strings.TrimPrefix(o.physBase, "-")
		v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
		if err != nil {
			d.Close()
			return nil, "", nil, fmt.Errorf("--phys-base %q: not a hex number", o.physBase)
		}
		pb := int64(v)
		if s != o.physBase {
			pb = -pb
		}
		cfg.PhysBase = &pb
	}
	closeAll := func() {
		d.Close()
		if cfg.Vmlinux != nil {
			cfg.Vmlinux.Close()
		}
	}
	k, err := analyze.Open(d, cfg)
	if err != nil {
		closeAll()
		return nil, "", nil, err
	}
	return k, dumpPath, closeAll, nil
}

func runSession(ctx context.Context, o sessionOptions, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	k, dumpPath, closeFn, err := openKernel(o, args)
	if err != nil {
		return err
	}
	defer closeFn()
	if !isTerminal(stdin) || len(o.commands) > 0 {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
	}
	for _, w := range k.Dump().Warnings() {
		fmt.Fprintf(stderr, "WARNING: %s\n", w)
	}
	r := &commands.Runner{
		Env: &commands.Env{Kernel: k, DumpPath: dumpPath, Out: stdout, JSON: o.json},
		Err: stderr,
	}
	finish := func() error {
		if r.Failed > 0 {
			return exitError{code: 1}
		}
		return nil
	}
	if o.inputFile != "" {
		f, err := os.Open(o.inputFile)
		if err != nil {
			return err
		}
		exit, err := runLines(ctx, r, f)
		f.Close()
		if err != nil || exit {
			return errors.Join(err, finish())
		}
	}
	if len(o.commands) > 0 {
		for _, c := range o.commands {
			if err := r.RunLine(ctx, c); err != nil {
				if errors.Is(err, commands.ErrExit) {
					break
				}
				return err
			}
		}
		return finish()
	}
	if isTerminal(stdin) {
		if !o.silent {
			fmt.Fprintf(stdout, "kcrash: %s (%s)\n\n", filepath.Base(dumpPath), k.Dump().Format())
		}
		symbolNames := func() []string {
			tab, err := k.Symbols()
			if err != nil {
				return nil
			}
			names := make([]string, 0, tab.Len())
			for _, s := range tab.All() {
				names = append(names, s.Name)
			}
			return names
		}
		lr, err := shell.NewReadline("kcrash> ", shell.DefaultHistoryFile(), shell.Completions(symbolNames, nil), stdin.(*os.File), stdout)
		if err != nil {
			return err
		}
		defer lr.Close()
		// An interactive session ends well however many commands failed:
		// each failure was shown as it happened.
		return shell.Run(ctx, lr, r)
	}
	if _, err := runLines(ctx, r, stdin); err != nil {
		return err
	}
	return finish()
}

// runLines runs commands read line by line from a file or a pipe.
func runLines(ctx context.Context, r *commands.Runner, in io.Reader) (exit bool, err error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		if !sc.Scan() {
			return false, sc.Err()
		}
		if err := r.RunLine(ctx, sc.Text()); err != nil {
			if errors.Is(err, commands.ErrExit) {
				return true, nil
			}
			return false, err
		}
	}
}

func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
