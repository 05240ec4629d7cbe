package vmcore

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// Flattened format (makedumpfile -F, QEMU's dump-guest-memory kdump-*):
// makedumpfile:makedumpfile.h struct makedumpfile_header and
// makedumpfile_data_header; formats.md §1b.
const (
	flatHeaderSize = 4096 // MAX_SIZE_MDF_HEADER
	flatRecordSize = 16   // struct makedumpfile_data_header
	flatTypeHeader = 1    // TYPE_FLAT_HEADER
	flatVersion    = 1    // VERSION_FLAT_HEADER
	// maxFlatRecord bounds one record's data. Writers emit at most a
	// whole bitmap in one record (512 MiB for 16 TiB of 4 KiB pages); a
	// larger size is corruption, not a record cut off by the file's end.
	maxFlatRecord = 4 << 30
)

// errFlatHole is returned for reads of a part of the rearranged file
// that no record of the flattened file holds.
var errFlatHole = errors.New("no record of the flattened file holds this data")

// flatExtent maps [off, end) of the rearranged file to file offset fileOff.
type flatExtent struct {
	off, end, fileOff int64
}

// flatReader is an io.ReaderAt over the rearranged ("makedumpfile -R")
// view of a flattened file, read in place through its extent map.
type flatReader struct {
	r    io.ReaderAt
	ext  []flatExtent // sorted, non-overlapping
	size int64        // logical size: the largest record end
}

// find returns the index of the extent holding off, or -1.
func (f *flatReader) find(off int64) int {
	i := sort.Search(len(f.ext), func(i int) bool { return f.ext[i].end > off })
	if i < len(f.ext) && f.ext[i].off <= off {
		return i
	}
	return -1
}

func (f *flatReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d: %w", off, errFlatHole)
	}
	done := 0
	for done < len(p) {
		o := off + int64(done)
		if o >= f.size {
			return done, io.EOF
		}
		i := f.find(o)
		if i < 0 {
			return done, fmt.Errorf("rearranged offset %#x: %w", o, errFlatHole)
		}
		e := f.ext[i]
		chunk := p[done:min(len(p), done+int(min(e.end-o, int64(len(p)-done))))]
		n, err := f.r.ReadAt(chunk, e.fileOff+(o-e.off))
		done += n
		if n < len(chunk) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, err
		}
	}
	return done, nil
}

// avail reports whether records hold all of [off, off+n).
func (f *flatReader) avail(off, n int64) bool {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		return false
	}
	for n > 0 {
		i := f.find(off)
		if i < 0 {
			return false
		}
		step := min(n, f.ext[i].end-off)
		off, n = off+step, n-step
	}
	return true
}

// fileOff maps a rearranged offset to the flattened file's own offset,
// for error messages; offsets in holes are returned unchanged.
func (f *flatReader) fileOff(off int64) int64 {
	if i := f.find(off); i >= 0 {
		return f.ext[i].fileOff + off - f.ext[i].off
	}
	return off
}

// flatRecord is one data record: size bytes at file offset fileOff that
// belong at off of the rearranged file; seq orders overwrites.
type flatRecord struct {
	off, size, fileOff int64
	seq                int
}

func openFlattened(r io.ReaderAt, size int64, opts Options) (*backend, error) {
	const name = "flattened"
	var hdr [32]byte
	if n, _ := r.ReadAt(hdr[:], 0); n < 16 || !bytes.Equal(hdr[:16], []byte("makedumpfile\x00\x00\x00\x00")) {
		return nil, errUnrecognized
	}
	if size < flatHeaderSize {
		return nil, formatErr(name, 0, io.ErrUnexpectedEOF, "flattened header cut short (%d bytes)", size)
	}
	be := binary.BigEndian
	typ, version := int64(be.Uint64(hdr[16:])), int64(be.Uint64(hdr[24:]))
	if typ != flatTypeHeader {
		return nil, formatErr(name, 16, nil, "header type %d, want %d (TYPE_FLAT_HEADER)", typ, flatTypeHeader)
	}
	var warnings []string
	if version != flatVersion {
		warnings = append(warnings, fmt.Sprintf("flattened header version %d, expected %d", version, flatVersion))
	}

	recs, truncated, w := scanFlatRecords(r, size)
	warnings = append(warnings, w...)
	fr := &flatReader{r: r, ext: flatExtents(recs)}
	for _, e := range fr.ext {
		fr.size = max(fr.size, e.end)
	}
	if len(fr.ext) == 0 {
		return nil, formatErr(name, flatHeaderSize, nil, "no data records")
	}
	var sig [8]byte
	if _, err := fr.ReadAt(sig[:], 0); err != nil || !isKdumpSignature(sig[:]) {
		return nil, formatErr(name, fr.fileOff(0), err, "the rearranged file does not start with a kdump-compressed header")
	}
	b, err := parseKdump(fr, fr.size, opts, kdumpSource{
		format: FormatFlattened, name: name,
		avail: fr.avail, fileOff: fr.fileOff, truncated: truncated,
	})
	if err != nil {
		return nil, err
	}
	b.warnings = append(warnings, b.warnings...)
	return b, nil
}

// scanFlatRecords indexes the records after the header. It stops at the
// end marker, at the end of the file (truncated: the last record keeps
// what data it has) or at a malformed record (warned about).
func scanFlatRecords(r io.ReaderAt, size int64) (recs []flatRecord, truncated bool, warnings []string) {
	pos := int64(flatHeaderSize)
	var rh [flatRecordSize]byte
	for {
		if size-pos < flatRecordSize {
			warnings = append(warnings, fmt.Sprintf("flattened file ends at %#x without its end marker: truncated", size))
			return recs, true, warnings
		}
		if _, err := r.ReadAt(rh[:], pos); err != nil && err != io.EOF {
			warnings = append(warnings, fmt.Sprintf("reading flattened record at %#x: %v: ignoring the rest of the file", pos, err))
			return recs, true, warnings
		}
		off, n := int64(binary.BigEndian.Uint64(rh[:])), int64(binary.BigEndian.Uint64(rh[8:]))
		if off == -1 && n == -1 {
			if end := pos + flatRecordSize; end < size {
				warnings = append(warnings, fmt.Sprintf("%d bytes after the flattened end marker at %#x ignored", size-end, pos))
			}
			return recs, false, warnings
		}
		if off < 0 || n <= 0 || n > maxFlatRecord || off > math.MaxInt64-n {
			warnings = append(warnings, fmt.Sprintf("flattened record at %#x has offset %d and size %d: ignoring it and the rest of the file", pos, off, n))
			return recs, true, warnings
		}
		data := pos + flatRecordSize
		if n > size-data {
			warnings = append(warnings, fmt.Sprintf("flattened record at %#x (%d bytes for offset %#x) is cut short by the end of the file: truncated", pos, n, off))
			if size > data {
				recs = append(recs, flatRecord{off: off, size: size - data, fileOff: data, seq: len(recs)})
			}
			return recs, true, warnings
		}
		recs = append(recs, flatRecord{off: off, size: n, fileOff: data, seq: len(recs)})
		pos = data + n
	}
}

// flatExtents resolves overlapping records, the last written winning as
// in makedumpfile -R, into sorted disjoint extents. It sweeps the record
// boundaries with a heap of the records covering the current point,
// newest on top: O(n log n) for n records.
func flatExtents(recs []flatRecord) []flatExtent {
	if len(recs) == 0 {
		return nil
	}
	sorted := append([]flatRecord(nil), recs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].off < sorted[j].off })
	// Fast path: already disjoint and in order (QEMU writes this way).
	disjoint := true
	for i := 1; i < len(sorted); i++ {
		if sorted[i].off < sorted[i-1].off+sorted[i-1].size {
			disjoint = false
			break
		}
	}
	var out []flatExtent
	emit := func(off, end, fileOff int64) {
		if n := len(out); n > 0 && out[n-1].end == off && out[n-1].fileOff+(off-out[n-1].off) == fileOff {
			out[n-1].end = end
			return
		}
		out = append(out, flatExtent{off: off, end: end, fileOff: fileOff})
	}
	if disjoint {
		for _, r := range sorted {
			emit(r.off, r.off+r.size, r.fileOff)
		}
		return out
	}
	bounds := make([]int64, 0, 2*len(sorted))
	for _, r := range sorted {
		bounds = append(bounds, r.off, r.off+r.size)
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	h := &recHeap{}
	next := 0
	for i := 0; i+1 < len(bounds); i++ {
		at, to := bounds[i], bounds[i+1]
		if at == to {
			continue
		}
		for next < len(sorted) && sorted[next].off <= at {
			heap.Push(h, sorted[next])
			next++
		}
		for h.Len() > 0 && (*h)[0].off+(*h)[0].size <= at {
			heap.Pop(h)
		}
		if h.Len() == 0 {
			continue
		}
		top := (*h)[0]
		emit(at, to, top.fileOff+(at-top.off))
	}
	return out
}

// recHeap is a max-heap of records by seq. Records that ended are
// popped lazily: a newer record that ended may sit above an older one
// still covering the point, so the top is checked after popping.
type recHeap []flatRecord

func (h recHeap) Len() int           { return len(h) }
func (h recHeap) Less(i, j int) bool { return h[i].seq > h[j].seq }
func (h recHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recHeap) Push(x any)        { *h = append(*h, x.(flatRecord)) }
func (h *recHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
