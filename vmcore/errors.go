package vmcore

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that stems from one
// of these conditions satisfies errors.Is with the matching sentinel.
var (
	// ErrExcluded: the page was RAM in the crashed machine but the dump
	// tool filtered it out (makedumpfile's dump level, or a p_filesz <
	// p_memsz tail in a filtered ELF dump).
	ErrExcluded = errors.New("page excluded from the dump")
	// ErrNotInDump: the address lies outside every range the dump covers
	// (not RAM, or cut off by a truncated file).
	ErrNotInDump = errors.New("address not in the dump")
	// ErrCorrupt: the dump's headers or page data contradict themselves.
	ErrCorrupt = errors.New("corrupt dump")
	// ErrUnknownFormat: no reader recognised the file.
	ErrUnknownFormat = errors.New("unrecognised dump format")

	// errUnrecognized tells Open to try the next format.
	errUnrecognized = errors.New("not this format")
)

// FormatError reports a malformed structure at a byte offset of the file.
// It satisfies errors.Is(err, ErrCorrupt).
type FormatError struct {
	Format string // e.g. "kdump", "elf", "flattened"
	Off    int64  // byte offset in the file of the offending structure
	Msg    string
	Err    error // optional cause
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("%s: %s at file offset %#x", e.Format, e.Msg, e.Off)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Is(target error) bool { return target == ErrCorrupt }
func (e *FormatError) Unwrap() error        { return e.Err }

func formatErr(format string, off int64, err error, msg string, args ...any) error {
	return &FormatError{Format: format, Off: off, Msg: fmt.Sprintf(msg, args...), Err: err}
}

// ReadError is returned by physical reads: the address that failed and why.
type ReadError struct {
	Addr PhysAddr
	Err  error // ErrExcluded, ErrNotInDump or a *FormatError
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("physical address %#x: %v", uint64(e.Addr), e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }
