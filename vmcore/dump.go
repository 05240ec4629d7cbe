package vmcore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync/atomic"
)

// Format names the container a dump was read from.
type Format string

const (
	FormatELF       Format = "ELF"
	FormatKdump     Format = "kdump-compressed"
	FormatFlattened Format = "flattened kdump-compressed"
	FormatLKCD      Format = "LKCD"
)

// Options adjust how a dump is read. The zero value is the default.
type Options struct {
	// ZeroExcluded makes pages a filter left out read as zeros instead of
	// failing with ErrExcluded (crash's --zero_excluded).
	ZeroExcluded bool
	// CachePages is the number of decompressed pages kept for compressed
	// formats; 0 means a default of 4096 (16 MiB of 4 KiB pages).
	CachePages int
}

// memory is what a format backend provides: byte-addressed physical reads
// and the state of each page frame.
type memory interface {
	readAt(p []byte, pa PhysAddr) (int, error)
	pageState(pfn PFN) PageState
}

// backend is the result of one format's successful probe.
type backend struct {
	format      Format
	compression string // "none", "zlib", "lzo", "snappy", "zstd", "mixed"
	mem         memory
	pageSize    uint64
	ranges      []Range // physical ranges the dump describes (present or excluded)
	notes       []Note
	kdump       *KdumpHeader // kdump and flattened formats only
	elf         *ELFInfo     // ELF only
	lkcd        *LKCDHeader  // LKCD only
	warnings    []string
	missing     []Range // ranges cut off by a truncated file
	closer      io.Closer
}

// opener probes one format. It returns errUnrecognized (and nothing else)
// when the file is not of its format, so that Open can try the next one.
type opener func(r io.ReaderAt, size int64, opts Options) (*backend, error)

// openers is the one ordered list of formats Open tries.
var openers = []opener{openELF, openKdump, openFlattened, openLKCD}

// Dump is an opened crash dump.
type Dump struct {
	b      *backend
	notes  noteSet
	opts   Options
	closer io.Closer
	size   int64
	closed atomic.Bool // reads after Close fail instead of touching an unmapped file
}

// Open opens the dump file at path and probes its format.
func Open(path string, opts Options) (*Dump, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, closer, err := mapFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	d, err := New(r, st.Size(), opts)
	if err != nil {
		closer.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d.closer = closer
	return d, nil
}

// New reads a dump from r, whose size is size bytes.
func New(r io.ReaderAt, size int64, opts Options) (*Dump, error) {
	if size <= 0 {
		return nil, fmt.Errorf("empty file: %w", ErrUnknownFormat)
	}
	for _, open := range openers {
		b, err := open(r, size, opts)
		if errors.Is(err, errUnrecognized) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d := &Dump{b: b, opts: opts, size: size}
		d.notes = interpretNotes(b.notes)
		sort.Slice(b.ranges, func(i, j int) bool { return b.ranges[i].Start < b.ranges[j].Start })
		return d, nil
	}
	return nil, ErrUnknownFormat
}

// Close releases the file behind the dump.
func (d *Dump) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	var err error
	if d.b.closer != nil {
		err = d.b.closer.Close()
	}
	if d.closer != nil {
		if e := d.closer.Close(); err == nil {
			err = e
		}
	}
	return err
}

// ReadAt reads len(p) bytes of physical memory at pa. As with io.ReaderAt,
// a short read always comes with an error; the error is a *ReadError
// naming the first address that failed.
func (d *Dump) ReadAt(p []byte, pa PhysAddr) (int, error) {
	if d.closed.Load() {
		// The file may be unmapped: reading it would fault.
		return 0, fmt.Errorf("physical %#x: %w", uint64(pa), os.ErrClosed)
	}
	n, err := d.b.mem.readAt(p, pa)
	if err != nil && d.opts.ZeroExcluded && errors.Is(err, ErrExcluded) {
		return d.readZeroExcluded(p, pa)
	}
	return n, err
}

// readZeroExcluded reads page by page, zero-filling excluded pages.
func (d *Dump) readZeroExcluded(p []byte, pa PhysAddr) (int, error) {
	ps := d.b.pageSize
	done := 0
	for done < len(p) {
		a := pa + PhysAddr(done)
		chunk := min(uint64(len(p)-done), ps-uint64(a)%ps)
		buf := p[done : done+int(chunk)]
		if _, err := d.b.mem.readAt(buf, a); err != nil {
			if !errors.Is(err, ErrExcluded) {
				return done, err
			}
			clear(buf)
		}
		done += int(chunk)
	}
	return done, nil
}

// PageState reports what the dump holds for page frame pfn.
func (d *Dump) PageState(pfn PFN) PageState { return d.b.mem.pageState(pfn) }

// Format is the container format.
func (d *Dump) Format() Format { return d.b.format }

// Compression names the page compression ("none" for raw pages).
func (d *Dump) Compression() string { return d.b.compression }

// PageSize is the page size the dump is organised in.
func (d *Dump) PageSize() uint64 { return d.b.pageSize }

// Ranges returns the physical ranges the dump describes, sorted, whether
// their pages are present or excluded.
func (d *Dump) Ranges() []Range { return d.b.ranges }

// Missing returns the physical ranges a truncated file lost.
func (d *Dump) Missing() []Range { return d.b.missing }

// CPUs returns the per-CPU NT_PRSTATUS state, in note order.
func (d *Dump) CPUs() []CPUState { return d.notes.cpus }

// VMCOREINFO returns the parsed VMCOREINFO note, or nil if there is none.
func (d *Dump) VMCOREINFO() *VMCoreInfo { return d.notes.vmcoreinfo }

// PRPSInfo returns the NT_PRPSINFO note, or nil.
func (d *Dump) PRPSInfo() *PRPSInfo { return d.notes.prpsinfo }

// Notes returns every ELF note of the dump in file order.
func (d *Dump) Notes() []Note { return d.notes.all }

// Kdump returns the kdump-compressed header, or nil for other formats.
func (d *Dump) Kdump() *KdumpHeader { return d.b.kdump }

// ELF returns ELF-specific facts, or nil for other formats.
func (d *Dump) ELF() *ELFInfo { return d.b.elf }

// LKCD returns the LKCD headers, or nil for other formats.
func (d *Dump) LKCD() *LKCDHeader { return d.b.lkcd }

// Size is the size of the dump file in bytes.
func (d *Dump) Size() int64 { return d.size }

// Warnings lists problems that did not stop the dump from opening:
// truncation, malformed notes, ignored records.
func (d *Dump) Warnings() []string {
	w := append([]string(nil), d.b.warnings...)
	if len(d.b.missing) > 0 {
		w = append(w, "file is truncated; missing physical ranges: "+formatRanges(d.b.missing))
	}
	return append(w, d.notes.warnings...)
}

func formatRanges(rs []Range) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ", "
		}
		if i == 8 {
			s += fmt.Sprintf("and %d more", len(rs)-8)
			break
		}
		s += fmt.Sprintf("%#x-%#x", uint64(r.Start), uint64(r.End))
	}
	return s
}

// PageCounts tallies the page frames of the dump's ranges by state.
type PageCounts struct {
	Present, Excluded, Zero, NotDumped uint64
}

// CountPages tallies every page frame in the dump's ranges. With
// scanZeros, present pages are read and those holding only zeros are
// counted as Zero (formats that do not mark zero pages need this).
func (d *Dump) CountPages(scanZeros bool) (PageCounts, error) {
	var c PageCounts
	ps := d.b.pageSize
	buf := make([]byte, ps)
	scanned := 0
	for _, r := range d.b.ranges {
		first := uint64(r.Start) / ps
		last := (uint64(r.End) - 1) / ps // inclusive: r.End may be the top of the address space
		for pfn := PFN(first); uint64(pfn) <= last && uint64(pfn) >= first; pfn++ {
			switch d.b.mem.pageState(pfn) {
			case PagePresent:
				if scanZeros {
					if scanned++; scanned%dropResidentEvery == 0 {
						d.dropResident()
					}
					if _, err := d.b.mem.readAt(buf, PhysAddr(uint64(pfn)*ps)); err != nil {
						if errors.Is(err, ErrNotInDump) {
							c.NotDumped++
							continue
						}
						return c, err
					}
					if isZero(buf) {
						c.Zero++
						continue
					}
				}
				c.Present++
			case PageExcluded:
				c.Excluded++
			case PageZero:
				c.Zero++
			default:
				c.NotDumped++
			}
		}
	}
	return c, nil
}

// zeros is compared against by isZero.
var zeros [4096]byte

// isZero reports whether b is all zeros. It compares b with a zero
// buffer: bytes.Equal is the runtime's vectorised memequal, an order of
// magnitude faster than a byte loop (every page of a dump is checked,
// and most pages of a small guest's dump are zeros).
func isZero(b []byte) bool {
	for len(b) > len(zeros) {
		if !bytes.Equal(b[:len(zeros)], zeros[:]) {
			return false
		}
		b = b[len(zeros):]
	}
	return bytes.Equal(b, zeros[:len(b)])
}
