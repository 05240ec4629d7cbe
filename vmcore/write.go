package vmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// Compression selects how a writer compresses pages.
type Compression string

const (
	CompressNone   Compression = "none"
	CompressZlib   Compression = "zlib"
	CompressZstd   Compression = "zstd"
	CompressSnappy Compression = "snappy"
)

// WriteOptions are what every writer takes.
type WriteOptions struct {
	// Compression for formats that compress pages (kdump; LKCD takes
	// only zlib or none). Empty means zlib.
	Compression Compression
	// Workers compressing pages in parallel; 0 means GOMAXPROCS.
	Workers int
	// DropZero is makedumpfile's dump level bit 1 (pages filled with
	// zeros), done as makedumpfile does it for each format: kdump keeps
	// every all-zero page dumpable and points its descriptor at the one
	// shared zero page (it reads back as zeros; WriteStats.ZeroShared
	// counts them), ELF leaves them out as excluded
	// (WriteStats.ZeroAsExc). Formats without a notion of excluded pages
	// (LKCD) reject it.
	DropZero bool
	// Exclude, when set, names the frames a page filter leaves out:
	// pages with data for which it reports true are recorded as
	// excluded instead of written (makedumpfile's dump level bits 2-16,
	// decided by the caller from the kernel's struct pages). It may be
	// asked more than once for a frame and must answer the same each
	// time. Formats without a notion of excluded pages (LKCD) reject it.
	Exclude func(pfn PFN) bool
	// FilterLevel is the dump level Exclude implements, recorded in
	// headers that have room for it (kdump's dump_level) together with
	// bit 1 for DropZero.
	FilterLevel int
	// Progress, when set, is called after each batch of pages with the
	// page frames handled so far and the total. An error it returns
	// stops the writer, which returns that error: the way to cancel.
	Progress func(done, total uint64) error
}

// WriteStats accounts for every page frame of the input.
type WriteStats struct {
	Frames  uint64 // page frames of the input's ranges
	Present uint64 // written with their data (including all-zero pages)
	Zero    uint64 // of Present: all-zero pages (written as such where the format can)
	// ZeroShared counts, of Zero, the pages whose descriptor points at
	// the format's one shared zero page instead of a copy of their own
	// (kdump): they read back as zeros.
	ZeroShared uint64
	Excluded   uint64 // excluded in the input and recorded as excluded in the output
	ZeroAsExc  uint64 // all-zero pages dropped as excluded (DropZero, ELF)
	Filtered   uint64 // pages with data dropped as excluded because Exclude said so
	// ExcludedAsZero counts excluded pages of the input written as zero
	// pages because the caller asked for it (LKCD cannot say "excluded").
	ExcludedAsZero uint64
	NotDumped      uint64 // frames the input has no data for; absent from the output too
	Stored         uint64 // pages stored uncompressed because compression did not shrink them
	BytesIn        uint64 // page bytes read
	BytesOut       uint64 // bytes written, headers included
}

func (s WriteStats) String() string {
	filtered := ""
	if s.Filtered > 0 {
		filtered = fmt.Sprintf(", %d pages filtered out", s.Filtered)
	}
	zero := fmt.Sprintf("%d all-zero", s.Zero)
	switch {
	case s.ZeroShared == 0:
	case s.ZeroShared == s.Zero:
		zero += " stored as the shared zero page"
	default:
		zero += fmt.Sprintf(", %d of them stored as the shared zero page", s.ZeroShared)
	}
	return fmt.Sprintf("%d frames: %d pages written (%s, %d stored raw), %d excluded kept excluded, %d zero pages dropped%s, %d excluded written as zero, %d not dumped; %d bytes written",
		s.Frames, s.Present, zero, s.Stored, s.Excluded, s.ZeroAsExc, filtered, s.ExcludedAsZero, s.NotDumped, s.BytesOut)
}

// ErrExcludedPages: the output format cannot represent pages a filter
// excluded from the input, and the caller did not allow writing them as
// zeros.
var ErrExcludedPages = errors.New("the dump has excluded pages, which this format cannot represent")

func (o WriteOptions) compression() Compression {
	if o.Compression == "" {
		return CompressZlib
	}
	return o.Compression
}

func (o WriteOptions) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// compressor compresses single pages. Each worker owns one.
type compressor interface {
	// compress returns the compressed form of src in dst's storage, or
	// ok false when it would not be smaller than src.
	compress(dst, src []byte) (out []byte, ok bool)
}

func newCompressor(c Compression, pageSize int) (compressor, error) {
	switch c {
	case CompressNone:
		return noCompressor{}, nil
	case CompressZlib:
		return &zlibCompressor{}, nil
	case CompressZstd:
		// One page per frame, as makedumpfile writes them; a window of
		// one page is all a frame can use.
		win := zstd.MinWindowSize
		for win < pageSize && win < zstd.MaxWindowSize {
			win <<= 1
		}
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(win), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
		return zstdCompressor{enc}, nil
	case CompressSnappy:
		return snappyCompressor{}, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want zlib, zstd, snappy or none)", c)
}

type noCompressor struct{}

func (noCompressor) compress(dst, src []byte) ([]byte, bool) { return nil, false }

// zlibCompressor writes RFC 1950 streams, what zlib's uncompress()
// (crash, makedumpfile, libkdumpfile) reads: the bytes
// klauspost/compress/zlib writes at BestSpeed (header 78 01, the
// deflate stream, the Adler-32 of the page), with the deflate stream
// written straight into dst.
type zlibCompressor struct {
	w   *flate.Writer
	out appendWriter
}

// zlibHeader is the RFC 1950 header for a 32 KiB window at compression
// level 0-1 ("fastest"), no dictionary.
var zlibHeader = [2]byte{0x78, 0x01}

func (z *zlibCompressor) compress(dst, src []byte) ([]byte, bool) {
	z.out.b = append(dst[:0], zlibHeader[:]...)
	if z.w == nil {
		w, err := flate.NewWriter(&z.out, flate.BestSpeed)
		if err != nil {
			return nil, false
		}
		z.w = w
	} else {
		z.w.Reset(&z.out)
	}
	if _, err := z.w.Write(src); err != nil {
		return nil, false
	}
	if err := z.w.Close(); err != nil {
		return nil, false
	}
	out := binary.BigEndian.AppendUint32(z.out.b, adler32.Checksum(src))
	z.out.b = nil
	if len(out) >= len(src) {
		return nil, false
	}
	return out, true
}

// appendWriter is an io.Writer appending to b.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

type zstdCompressor struct{ enc *zstd.Encoder }

func (z zstdCompressor) compress(dst, src []byte) ([]byte, bool) {
	out := z.enc.EncodeAll(src, dst[:0])
	return out, len(out) < len(src)
}

type snappyCompressor struct{}

func (snappyCompressor) compress(dst, src []byte) ([]byte, bool) {
	if cap(dst) < snappy.MaxEncodedLen(len(src)) {
		dst = make([]byte, snappy.MaxEncodedLen(len(src)))
	}
	out := snappy.Encode(dst[:cap(dst)], src)
	return out, len(out) < len(src)
}

// pageOut is one page on its way through the pipeline.
type pageOut struct {
	pfn        PFN
	state      PageState // of the input
	zero       bool      // the data is all zeros
	compressed bool      // out holds the compressed page
	skipped    bool      // the filter drops it: data not read
	// data is the page (present and zero pages): buf, or the mapped
	// input itself when the reader could lend it (read-only).
	data []byte
	buf  []byte // the page's own copy when the reader could not lend it
	out  []byte // compressed bytes when compressed
}

// batch is a run of pages compressed by one worker.
type batch struct {
	pages []pageOut
	n     int
	err   error // from reading the input: ends the stream after this batch
	done  chan struct{}
}

const batchPages = 256

// pipeline reads the dump's pages in order, compresses present pages in
// parallel and hands them to sink in order. At most 2×workers batches
// are in flight, so memory stays bounded whatever the dump's size.
func pipeline(d *Dump, o WriteOptions, c Compression, sink func(p *pageOut) error) error {
	workers := o.workers()
	inFlight := 2 * workers
	ps := int(d.PageSize())

	free := make(chan *batch, inFlight)
	for i := 0; i < inFlight; i++ {
		b := &batch{pages: make([]pageOut, batchPages), done: make(chan struct{}, 1)}
		for j := range b.pages {
			b.pages[j].out = make([]byte, 0, ps+ps/8+64)
		}
		free <- b
	}
	work := make(chan *batch, inFlight)
	order := make(chan *batch, inFlight)
	stop := make(chan struct{})

	comps := make([]compressor, workers)
	for i := range comps {
		var err error
		if comps[i], err = newCompressor(c, ps); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	for _, comp := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if z, ok := comp.(zstdCompressor); ok {
				defer z.enc.Close()
			}
			// The last page this worker compressed, and the result: a
			// page equal to it (runs of pages filled with one byte
			// value or one pattern are common) takes a copy of the
			// result instead of a compression. Compressors are
			// deterministic, so the output is the same.
			_, cheap := comp.(noCompressor)
			var last struct {
				src, out []byte
				ok, set  bool
			}
			for b := range work {
				for j := 0; j < b.n; j++ {
					p := &b.pages[j]
					p.compressed = false
					if p.state != PagePresent && p.state != PageZero || p.skipped {
						p.zero = false
						continue
					}
					p.zero = p.state == PageZero || isZero(p.data)
					if p.zero {
						continue // every writer has its own zero-page record
					}
					if !cheap && last.set && bytes.Equal(p.data, last.src) {
						if last.ok {
							p.out, p.compressed = append(p.out[:0], last.out...), true
						}
						continue
					}
					out, ok := comp.compress(p.out, p.data)
					if ok {
						p.out, p.compressed = out, true
					}
					if !cheap {
						last.src = append(last.src[:0], p.data...)
						last.out = append(last.out[:0], out...)
						last.ok, last.set = ok, true
					}
				}
				b.done <- struct{}{}
			}
		}()
	}

	// Producer: the only reader of the dump.
	go func() {
		defer close(order)
		defer close(work)
		var b *batch
		flush := func() bool {
			if b == nil {
				return true
			}
			select {
			case order <- b:
			case <-stop:
				return false
			}
			work <- b
			b = nil
			return true
		}
		for pg, err := range d.pageRefs(o.Exclude, true) {
			if b == nil {
				select {
				case b = <-free:
				case <-stop:
					return
				}
				b.n, b.err = 0, nil
			}
			if err != nil {
				b.err = err
				flush()
				return
			}
			p := &b.pages[b.n]
			p.pfn, p.state = pg.PFN, pg.State
			p.skipped = (pg.State == PagePresent || pg.State == PageZero) && pg.Data == nil
			switch {
			case pg.Data == nil:
				p.data = nil
			case pg.stable:
				p.data = pg.Data
			default:
				if p.buf == nil {
					p.buf = make([]byte, ps)
				}
				copy(p.buf, pg.Data)
				p.data = p.buf
			}
			b.n++
			if b.n == batchPages && !flush() {
				return
			}
		}
		flush()
	}()

	var err error
	for b := range order {
		<-b.done
		if err == nil {
			for j := 0; j < b.n && err == nil; j++ {
				err = sink(&b.pages[j])
			}
			if err == nil {
				err = b.err
			}
			if err != nil {
				close(stop)
			}
		}
		free <- b
	}
	wg.Wait()
	return err
}

// pageCounter tracks progress for WriteOptions.Progress.
type pageCounter struct {
	o     WriteOptions
	total uint64
	done  uint64
}

func (c *pageCounter) step() error {
	c.done++
	if c.o.Progress != nil && (c.done%(16*batchPages) == 0 || c.done == c.total) {
		return c.o.Progress(c.done, c.total)
	}
	return nil
}

// CrashInfo is what the caller learnt about the crash by analysing the
// dump (vmcore cannot: it knows no kernel symbols). Writers record what
// their format has room for.
type CrashInfo struct {
	PanicCPU      int  // the CPU that panicked, when PanicCPUKnown
	PanicCPUKnown bool // PanicCPU is set
	PanicTask     uint64
	// CurrentTasks holds each CPU's running task_struct address, in the
	// order of Dump.CPUs(); 0 or a short slice means unknown.
	CurrentTasks []uint64
	PanicString  string
	// Utsname overrides what the dump says (VMCOREINFO has only the
	// release; kdump headers may have all of it, or nothing).
	Utsname *Utsname
	// StackStarts holds, per CPU in the order of Dump.CPUs(), where a
	// backtrace of its task begins: the kernel frame the CPU stopped in
	// (the slot holding a return address into machine_kexec, panic,
	// crash_nmi_callback, …, and that address). A zero entry, or a short
	// slice, means unknown. The LKCD writer puts them in the asm
	// header's registers (see WriteLKCD).
	StackStarts []StackStart
}

// StackStart is a kernel frame a backtrace starts from.
type StackStart struct {
	PC, SP uint64
}

// frameRun is a run of page frames with the same output state:
// PagePresent (written, zero pages included), PageExcluded or
// PageNotDumped.
type frameRun struct {
	start PFN
	n     uint64
	state PageState
}

// plan is the first pass over the input: what the output will hold for
// each frame, so that headers sized by it can be written first.
type plan struct {
	runs                          []frameRun
	frames, present, excluded, nd uint64
	inExcluded                    uint64 // excluded in the input (not dropped zeros)
	end                           PFN    // one past the highest frame
}

func (p *plan) add(pfn PFN, st PageState) {
	p.frames++
	switch st {
	case PagePresent:
		p.present++
	case PageExcluded:
		p.excluded++
	default:
		p.nd++
	}
	p.end = pfn + 1
	if n := len(p.runs); n > 0 && p.runs[n-1].state == st && p.runs[n-1].start+PFN(p.runs[n-1].n) == pfn {
		p.runs[n-1].n++
		return
	}
	p.runs = append(p.runs, frameRun{start: pfn, n: 1, state: st})
}

// outState maps an input page to what the output holds for it. The
// filter comes first, then zero pages, as makedumpfile checks for zeros
// only among the pages its bitmap kept. DropZero excludes zero pages
// here: the ELF writer's meaning; the kdump writer clears it and keeps
// them as its shared zero page.
func (o WriteOptions) outState(pfn PFN, in PageState, zero bool) PageState {
	switch in {
	case PagePresent, PageZero:
		if o.Exclude != nil && o.Exclude(pfn) {
			return PageExcluded
		}
		if o.DropZero && zero {
			return PageExcluded
		}
		return PagePresent
	case PageExcluded:
		return PageExcluded
	}
	return PageNotDumped
}

// countDropped counts a page with data that the output excludes: by
// the filter or as a zero page.
func (o WriteOptions) countDropped(st *WriteStats, pfn PFN) {
	if o.Exclude != nil && o.Exclude(pfn) {
		st.Filtered++
	} else {
		st.ZeroAsExc++
	}
}

// makePlan classifies every frame. It reads page data only when zero
// pages are to be dropped; otherwise the dump's index (and the Exclude
// filter) suffices, with frames a truncated file lost counted as not
// dumped.
func makePlan(d *Dump, o WriteOptions) (*plan, error) {
	p := &plan{}
	if o.DropZero {
		for pg, err := range d.pageRefs(o.Exclude, true) {
			if err != nil {
				return nil, err
			}
			st := o.outState(pg.PFN, pg.State, pg.Data != nil && isZero(pg.Data))
			if pg.State == PageExcluded {
				p.inExcluded++
			}
			p.add(pg.PFN, st)
		}
		return p, nil
	}
	missing := d.Missing()
	ps := d.PageSize()
	for pfn, st := range d.PageStates() {
		if st == PagePresent && len(missing) > 0 {
			pa := PhysAddr(uint64(pfn) * ps)
			for _, m := range missing {
				if m.Start < pa+PhysAddr(ps) && pa < m.End {
					st = PageNotDumped
					break
				}
			}
		}
		if st == PageExcluded {
			p.inExcluded++
		}
		p.add(pfn, o.outState(pfn, st, false))
	}
	return p, nil
}

// planCheck walks a plan alongside the pipeline's pages and reports a
// page whose state differs from what the first pass saw (the input
// changed under us, or the index and the data disagree).
type planCheck struct {
	p   *plan
	i   int
	off uint64
}

func (c *planCheck) next(pfn PFN, st PageState) error {
	for c.i < len(c.p.runs) && c.off >= c.p.runs[c.i].n {
		c.i, c.off = c.i+1, 0
	}
	if c.i >= len(c.p.runs) {
		return fmt.Errorf("page frame %#x: not seen by the first pass over the dump: %w", uint64(pfn), ErrCorrupt)
	}
	r := c.p.runs[c.i]
	if want := r.start + PFN(c.off); want != pfn || r.state != st {
		return fmt.Errorf("page frame %#x is %v, but the first pass over the dump saw frame %#x as %v (was the file modified?): %w",
			uint64(pfn), st, uint64(want), r.state, ErrCorrupt)
	}
	c.off++
	return nil
}
