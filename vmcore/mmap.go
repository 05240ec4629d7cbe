package vmcore

import (
	"io"
	"os"
	"syscall"
)

// mapFile maps f read-only so that page reads are plain copies. When the
// file cannot be mapped (a pipe, or a size that does not fit), it falls
// back to the file's own ReadAt.
func mapFile(f *os.File, size int64) (io.ReaderAt, io.Closer, error) {
	if size <= 0 || int64(int(size)) != size {
		return f, f, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return f, f, nil
	}
	return byteReader(data), &unmapper{data: data, f: f}, nil
}

type unmapper struct {
	data []byte
	f    *os.File
}

// dropResident gives the mapping's pages back: a file-backed page is
// read again from the page cache when next touched, so this changes
// nothing but the process's resident size, which a pass over every page
// of a large dump would otherwise grow to the dump's size (and, in a
// memory cgroup, charge to its limit).
func (u *unmapper) dropResident() {
	syscall.Madvise(u.data, syscall.MADV_DONTNEED)
}

func (u *unmapper) Close() error {
	err := syscall.Munmap(u.data)
	if e := u.f.Close(); err == nil {
		err = e
	}
	return err
}

// byteReader is an io.ReaderAt over a byte slice (like bytes.Reader, but
// without the seek state, and it lets formats borrow sub-slices).
type byteReader []byte

func (b byteReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// dropResidentEvery is how many pages a pass over the whole dump reads
// between dropResident calls: 64 MiB of 4 KiB pages.
const dropResidentEvery = 1 << 14

// dropResident returns the resident pages of a mapped dump file; a
// no-op for other inputs.
func (d *Dump) dropResident() {
	if r, ok := d.closer.(interface{ dropResident() }); ok {
		r.dropResident()
	}
}
