package vmcore

import (
	"fmt"
	"io"
)

// readFull reads exactly n bytes at off. n comes from a header, so it is
// checked against the file size (and a hard cap) before anything is
// allocated: a corrupt count fails with a FormatError instead of
// allocating gigabytes.
func readFull(r io.ReaderAt, size, off int64, n uint64, limit uint64, format, what string) ([]byte, error) {
	if off < 0 || off > size {
		return nil, formatErr(format, off, nil, "%s starts beyond the end of the %d-byte file", what, size)
	}
	if n > limit {
		return nil, formatErr(format, off, nil, "%s of %d bytes exceeds the limit of %d", what, n, limit)
	}
	if n > uint64(size-off) {
		return nil, formatErr(format, off, io.ErrUnexpectedEOF, "%s of %d bytes runs past the end of the file (%d bytes left)", what, n, size-off)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, off); err != nil && !(err == io.EOF && len(buf) == int(n)) {
		return nil, formatErr(format, off, err, "reading %s", what)
	}
	return buf, nil
}

// errorf builds a *ReadError for pa wrapping a sentinel with detail.
func readErr(pa PhysAddr, sentinel error, detail string, args ...any) error {
	if detail == "" {
		return &ReadError{Addr: pa, Err: sentinel}
	}
	return &ReadError{Addr: pa, Err: fmt.Errorf("%s: %w", fmt.Sprintf(detail, args...), sentinel)}
}
