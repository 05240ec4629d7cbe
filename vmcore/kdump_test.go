package vmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	lzo "github.com/anchore/go-lzo"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// The tests build kdump-compressed files with a small writer that lays
// them out as makedumpfile does (formats.md §1b). Neither Go LZO library
// available here has a compressor, so LZO pages are hand-assembled
// LZO1X streams (a literal run and one long match); real makedumpfile
// -l output is checked against the dump corpus.

type pageKind int

const (
	kindNone pageKind = iota // not RAM
	kindPresent
	kindExcluded
	kindZero
)

// kdumpSpec describes a synthetic dump. Zero values give a 512-frame
// header_version 6 "KDUMP   " dump with mixed compression.
type kdumpSpec struct {
	sig       string
	version   int32
	maxPFN    uint64
	kind      func(pfn uint64) pageKind
	comp      func(pfn uint64) uint32 // page_desc_t flags for a present page
	status    uint32
	noNotes   bool
	vmcoreOff bool   // version < 4 style: VMCOREINFO only via offset_vmcoreinfo
	zeroDesc  uint64 // descriptors from this index on get offset 0 (incomplete dump); 0 = none
}

const testBS = 4096

type kdumpFile struct {
	buf      []byte
	kind     map[uint64]pageKind
	content  map[uint64][]byte // present and zero pages
	dataOff  map[uint64]int64  // file offset of each present page's data
	flags    map[uint64]uint32
	descOff  int64
	dataBase int64
	maxPFN   uint64
}

func defaultKind(pfn uint64) pageKind {
	switch {
	case pfn == 0, pfn >= 100 && pfn < 140, pfn >= 500:
		return kindNone
	case pfn%17 == 5, pfn >= 300 && pfn < 310:
		return kindExcluded
	case pfn%13 == 7:
		return kindZero
	}
	return kindPresent
}

func defaultComp(pfn uint64) uint32 {
	return []uint32{dumpCompressedZlib, dumpCompressedSnappy, dumpCompressedZstd, 0, dumpCompressedLZO}[pfn%5]
}

// pageContent is a compressible page stamped with its pfn; LZO pages
// repeat one 4-byte word so that the hand-made stream can encode them.
func pageContent(pfn uint64, flags uint32) []byte {
	b := make([]byte, testBS)
	if flags == dumpCompressedLZO {
		for i := 0; i < testBS; i += 4 {
			binary.LittleEndian.PutUint32(b[i:], uint32(pfn)|0x5a000000)
		}
		return b
	}
	for i := range b {
		b[i] = byte(pfn*7 + uint64(i/64))
	}
	if flags == 0 {
		for i := range b {
			b[i] ^= byte(i * 131 >> 3)
		}
	}
	binary.LittleEndian.PutUint64(b, pfn)
	return b
}

// lzoRepeat4 encodes a page that repeats its first 4 bytes as LZO1X: a
// first-byte literal run of 4, an M3 match of distance 4 for the rest of
// the page, and the end-of-stream M4.
func lzoRepeat4(page []byte) []byte {
	out := []byte{17 + 4}
	out = append(out, page[:4]...)
	n := len(page) - 4 - 2 // M3 length = 2 + L
	out = append(out, 0x20)
	n -= 31
	for n > 255 {
		out = append(out, 0)
		n -= 255
	}
	out = append(out, byte(n))
	out = append(out, (4-1)<<2, 0) // distance-1 in bits 2..15, no trailing literals
	return append(out, 0x11, 0, 0)
}

func compressPage(enc *zstd.Encoder, flags uint32, page []byte) []byte {
	switch flags {
	case dumpCompressedZlib:
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		w.Write(page)
		w.Close()
		return b.Bytes()
	case dumpCompressedSnappy:
		return snappy.Encode(nil, page)
	case dumpCompressedZstd:
		return enc.EncodeAll(page, nil)
	case dumpCompressedLZO:
		return lzoRepeat4(page)
	}
	return page
}

func kdNote(name string, typ uint32, desc []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)+1))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, name...)
	b = append(b, make([]byte, align4(len(name)+1)-len(name))...)
	b = append(b, desc...)
	return append(b, make([]byte, align4(len(desc))-len(desc))...)
}

const kdTestVMCOREINFO = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff82a12340\nKERNELOFFSET=1e000000\n"

func kdPrstatus(cpu int) []byte {
	d := make([]byte, prstatusSize)
	binary.LittleEndian.PutUint32(d[prstatusPIDOff:], uint32(100+cpu))
	binary.LittleEndian.PutUint64(d[prstatusRegOff+16*8:], 0xffffffff81000000+uint64(cpu)) // rip
	return d
}

func (s kdumpSpec) build(t testing.TB) *kdumpFile {
	if s.sig == "" {
		s.sig = "KDUMP   "
	}
	if s.version == 0 {
		s.version = 6
	}
	if s.maxPFN == 0 {
		s.maxPFN = 512
	}
	if s.kind == nil {
		s.kind = defaultKind
	}
	if s.comp == nil {
		s.comp = defaultComp
	}
	f := &kdumpFile{kind: map[uint64]pageKind{}, content: map[uint64][]byte{}, dataOff: map[uint64]int64{}, flags: map[uint64]uint32{}, maxPFN: s.maxPFN}
	le := binary.LittleEndian

	var notes []byte
	vmciRel := -1
	if !s.noNotes {
		notes = append(notes, kdNote("CORE", ntPRStatus, kdPrstatus(0))...)
		notes = append(notes, kdNote("CORE", ntPRStatus, kdPrstatus(1))...)
		vmciRel = len(notes) + 12 + align4(len("VMCOREINFO")+1)
		notes = append(notes, kdNote("VMCOREINFO", 0, []byte(kdTestVMCOREINFO))...)
	}
	subLen := kdumpSubHeaderSize + len(notes)
	subBlocks := (subLen + testBS - 1) / testBS
	bmHalf := ((s.maxPFN+7)/8 + testBS - 1) / testBS * testBS
	bitmapBlocks := 2 * bmHalf / testBS
	bitmapOff := int64(1+subBlocks) * testBS
	f.descOff = bitmapOff + int64(2*bmHalf)

	valid := make([]byte, bmHalf)
	dumpable := make([]byte, bmHalf)
	var dumpPFNs []uint64
	for pfn := uint64(0); pfn < s.maxPFN; pfn++ {
		k := s.kind(pfn)
		f.kind[pfn] = k
		if k != kindNone {
			valid[pfn/8] |= 1 << (pfn % 8)
		}
		if k == kindPresent || k == kindZero {
			dumpable[pfn/8] |= 1 << (pfn % 8)
			dumpPFNs = append(dumpPFNs, pfn)
		}
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	f.dataBase = f.descOff + int64(len(dumpPFNs))*pageDescSize
	size := f.dataBase + testBS // the shared zero page
	buf := make([]byte, size, size+int64(len(dumpPFNs))*testBS)

	// disk_dump_header
	copy(buf, s.sig)
	le.PutUint32(buf[8:], uint32(s.version))
	for i, u := range []string{"Linux", "testhost", "6.1.0-test", "#1 SMP", "x86_64", "(none)"} {
		copy(buf[12+65*i:], u)
	}
	le.PutUint64(buf[408:], 1700000000)
	le.PutUint32(buf[424:], s.status)
	le.PutUint32(buf[428:], testBS)
	le.PutUint32(buf[432:], uint32(subBlocks))
	le.PutUint32(buf[436:], uint32(bitmapBlocks))
	le.PutUint32(buf[440:], uint32(s.maxPFN))
	le.PutUint32(buf[456:], 1) // current_cpu
	le.PutUint32(buf[460:], 2) // nr_cpus

	// kdump_sub_header and notes
	sh := buf[testBS:]
	le.PutUint64(sh, 0x1a200000) // phys_base
	le.PutUint32(sh[8:], 31)     // dump_level
	noteOff := int64(testBS + kdumpSubHeaderSize)
	copy(buf[noteOff:], notes)
	if vmciRel >= 0 {
		le.PutUint64(sh[32:], uint64(noteOff)+uint64(vmciRel))
		le.PutUint64(sh[40:], uint64(len(kdTestVMCOREINFO)))
		if !s.vmcoreOff {
			le.PutUint64(sh[48:], uint64(noteOff))
			le.PutUint64(sh[56:], uint64(len(notes)))
		}
	}
	le.PutUint64(sh[96:], s.maxPFN) // max_mapnr_64
	le.PutUint64(sh[88:], s.maxPFN) // end_pfn_64

	copy(buf[bitmapOff:], valid)
	copy(buf[bitmapOff+int64(bmHalf):], dumpable)

	for i, pfn := range dumpPFNs {
		d := buf[f.descOff+int64(i)*pageDescSize:]
		if s.zeroDesc != 0 && uint64(i) >= s.zeroDesc {
			continue // offset 0: never written
		}
		if f.kind[pfn] == kindZero {
			le.PutUint64(d, uint64(f.dataBase))
			le.PutUint32(d[8:], testBS)
			f.content[pfn] = make([]byte, testBS)
			continue
		}
		flags := s.comp(pfn)
		page := pageContent(pfn, flags)
		data := compressPage(enc, flags, page)
		if len(data) >= testBS {
			flags, data = 0, page
		}
		f.content[pfn] = page
		f.flags[pfn] = flags
		f.dataOff[pfn] = int64(len(buf))
		le.PutUint64(d, uint64(len(buf)))
		le.PutUint32(d[8:], uint32(len(data)))
		le.PutUint32(d[12:], flags)
		buf = append(buf, data...)
	}
	f.buf = buf
	return f
}

// flatten wraps a kdump file in makedumpfile's flattened format: the
// file in 3000-byte records in a shuffled order, preceded by records of
// garbage at the same offsets, so that only "last write wins" gives the
// original back.
func flatten(kd []byte, endMarker bool) []byte {
	be := binary.BigEndian
	out := make([]byte, flatHeaderSize)
	copy(out, "makedumpfile")
	be.PutUint64(out[16:], flatTypeHeader)
	be.PutUint64(out[24:], flatVersion)
	rec := func(off int64, data []byte) {
		out = be.AppendUint64(out, uint64(off))
		out = be.AppendUint64(out, uint64(len(data)))
		out = append(out, data...)
	}
	rec(0, bytes.Repeat([]byte{0xee}, 1000))    // a stale header, rewritten last
	rec(2500, bytes.Repeat([]byte{0xdd}, 7000)) // overlaps several chunks
	const chunk = 3000
	n := (len(kd) + chunk - 1) / chunk
	for i := 0; i < n; i++ {
		j := (i*7 + 3) % n // a permutation when gcd(7, n) == 1
		if n%7 == 0 {
			j = n - 1 - i
		}
		if j == 0 {
			continue
		}
		rec(int64(j*chunk), kd[j*chunk:min(len(kd), (j+1)*chunk)])
	}
	rec(0, kd[:min(len(kd), chunk)])
	if endMarker {
		out = be.AppendUint64(out, ^uint64(0))
		out = be.AppendUint64(out, ^uint64(0))
	}
	return out
}

func openBytes(t testing.TB, b []byte, opts Options) *Dump {
	t.Helper()
	d, err := New(bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// checkPages reads every frame of the spec and compares state and data.
// Frames listed in skip (lost to truncation) must fail with ErrNotInDump.
func checkPages(t *testing.T, d *Dump, f *kdumpFile) (read int) {
	t.Helper()
	buf := make([]byte, testBS)
	for pfn := uint64(0); pfn < f.maxPFN+4; pfn++ {
		pa := PhysAddr(pfn * testBS)
		st := d.PageState(PFN(pfn))
		_, err := d.ReadAt(buf, pa)
		lost := inRanges(d.Missing(), pa)
		switch f.kind[pfn] {
		case kindNone:
			if st != PageNotDumped || !errors.Is(err, ErrNotInDump) {
				t.Errorf("pfn %#x (not RAM): state %v, err %v; want not dumped, ErrNotInDump", pfn, st, err)
			}
		case kindExcluded:
			if lost && st == PageNotDumped && errors.Is(err, ErrNotInDump) {
				continue // its 2nd-bitmap bit was cut off
			}
			if st != PageExcluded || !errors.Is(err, ErrExcluded) {
				t.Errorf("pfn %#x (excluded): state %v, err %v; want excluded, ErrExcluded", pfn, st, err)
			}
		case kindPresent, kindZero:
			want := PagePresent
			if f.kind[pfn] == kindZero {
				want = PageZero
			}
			if lost && err != nil {
				if !errors.Is(err, ErrNotInDump) || st != PageNotDumped {
					t.Errorf("pfn %#x (lost): state %v, err %v; want not dumped, ErrNotInDump", pfn, st, err)
				}
				continue
			}
			if err != nil || st != want {
				t.Errorf("pfn %#x: state %v, err %v; want %v", pfn, st, err, want)
				continue
			}
			if !bytes.Equal(buf, f.content[pfn]) {
				t.Errorf("pfn %#x (flags %#x): wrong contents", pfn, f.flags[pfn])
			}
			read++
		}
	}
	return read
}

func inRanges(rs []Range, pa PhysAddr) bool {
	for _, r := range rs {
		if r.Contains(pa) {
			return true
		}
	}
	return false
}

func TestKdumpRead(t *testing.T) {
	one := func(c uint32) func(uint64) uint32 { return func(uint64) uint32 { return c } }
	tests := []struct {
		name        string
		spec        kdumpSpec
		flat        bool
		compression string
		format      Format
	}{
		{name: "mixed", spec: kdumpSpec{}, compression: "mixed", format: FormatKdump},
		{name: "zlib", spec: kdumpSpec{comp: one(dumpCompressedZlib), status: dumpCompressedZlib}, compression: "zlib", format: FormatKdump},
		{name: "snappy", spec: kdumpSpec{comp: one(dumpCompressedSnappy)}, compression: "snappy", format: FormatKdump},
		{name: "zstd", spec: kdumpSpec{comp: one(dumpCompressedZstd), status: dumpCompressedZstd}, compression: "zstd", format: FormatKdump},
		{name: "lzo", spec: kdumpSpec{comp: one(dumpCompressedLZO), status: dumpCompressedLZO}, compression: "lzo", format: FormatKdump},
		{name: "raw", spec: kdumpSpec{comp: one(0)}, compression: "none", format: FormatKdump},
		{name: "version3-vmcoreinfo-only", spec: kdumpSpec{version: 3, vmcoreOff: true}, compression: "mixed", format: FormatKdump},
		{name: "diskdump", spec: kdumpSpec{sig: "DISKDUMP", noNotes: true, comp: one(dumpCompressedZlib)}, compression: "zlib", format: FormatKdump},
		{name: "odd-maxpfn", spec: kdumpSpec{maxPFN: 333}, compression: "mixed", format: FormatKdump},
		{name: "flattened", spec: kdumpSpec{}, flat: true, compression: "mixed", format: FormatFlattened},
		{name: "flattened-zlib", spec: kdumpSpec{comp: one(dumpCompressedZlib), status: dumpCompressedZlib}, flat: true, compression: "zlib", format: FormatFlattened},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.spec.build(t)
			buf := f.buf
			if tc.flat {
				buf = flatten(buf, true)
			}
			d := openBytes(t, buf, Options{})
			defer d.Close()
			if d.Format() != tc.format || d.Compression() != tc.compression || d.PageSize() != testBS {
				t.Errorf("format %q compression %q page size %d; want %q %q %d", d.Format(), d.Compression(), d.PageSize(), tc.format, tc.compression, testBS)
			}
			if w := d.Warnings(); len(w) != 0 {
				t.Errorf("unexpected warnings: %q", w)
			}
			if len(d.Missing()) != 0 {
				t.Errorf("Missing = %v, want none", d.Missing())
			}
			h := d.Kdump()
			if h == nil || h.MaxMapnr != f.maxPFN || h.BlockSize != testBS || h.ZeroPageOffset != f.dataBase || h.DescOffset != f.descOff {
				t.Fatalf("header %+v", h)
			}
			if h.Utsname.Release != "6.1.0-test" || h.NrCPUs != 2 {
				t.Errorf("utsname %+v nr_cpus %d", h.Utsname, h.NrCPUs)
			}
			switch {
			case tc.spec.noNotes:
				if len(d.Notes()) != 0 {
					t.Errorf("notes %v, want none", d.Notes())
				}
			case tc.spec.vmcoreOff:
				if len(d.CPUs()) != 0 || d.VMCOREINFO() == nil || d.VMCOREINFO().OSRelease != "6.1.0-test" {
					t.Errorf("CPUs %d, VMCOREINFO %+v", len(d.CPUs()), d.VMCOREINFO())
				}
			default:
				cpus := d.CPUs()
				if len(cpus) != 2 || cpus[1].PID != 101 || cpus[1].Regs.RIP != 0xffffffff81000001 {
					t.Errorf("CPUs = %+v", cpus)
				}
				if vi := d.VMCOREINFO(); vi == nil || vi.OSRelease != "6.1.0-test" || vi.KernelOffset != 0x1e000000 {
					t.Errorf("VMCOREINFO = %+v", vi)
				}
			}
			wantRanges := []Range{{testBS, 100 * testBS}, {140 * testBS, PhysAddr(min(500, f.maxPFN) * testBS)}}
			if fmt.Sprint(d.Ranges()) != fmt.Sprint(wantRanges) {
				t.Errorf("Ranges = %v, want %v", d.Ranges(), wantRanges)
			}
			checkPages(t, d, f)
			c, err := d.CountPages(false)
			if err != nil {
				t.Fatal(err)
			}
			var want PageCounts
			for pfn := uint64(0); pfn < f.maxPFN; pfn++ {
				switch f.kind[pfn] {
				case kindPresent:
					want.Present++
				case kindZero:
					want.Zero++
				case kindExcluded:
					want.Excluded++
				}
			}
			if c != want {
				t.Errorf("CountPages = %+v, want %+v", c, want)
			}
		})
	}
}

func TestKdumpReadAcrossPages(t *testing.T) {
	f := kdumpSpec{}.build(t)
	d := openBytes(t, f.buf, Options{})
	// pfns 1..4 are present; read from the middle of 1 to the middle of 4.
	got := make([]byte, 3*testBS)
	if _, err := d.ReadAt(got, PhysAddr(testBS+testBS/2)); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for pfn := uint64(1); pfn <= 4; pfn++ {
		want = append(want, f.content[pfn]...)
	}
	if !bytes.Equal(got, want[testBS/2:testBS/2+3*testBS]) {
		t.Error("cross-page read differs")
	}
	// pfn 5 is excluded: a read spanning 4 and 5 fails at 5's address.
	_, err := d.ReadAt(got[:testBS], PhysAddr(4*testBS+8))
	var re *ReadError
	if !errors.Is(err, ErrExcluded) || !errors.As(err, &re) || re.Addr != 5*testBS {
		t.Errorf("read across excluded page: %v", err)
	}
	// With ZeroExcluded it reads zeros there.
	dz := openBytes(t, f.buf, Options{ZeroExcluded: true})
	if _, err := dz.ReadAt(got[:testBS], 5*testBS); err != nil || !isZero(got[:testBS]) {
		t.Errorf("ZeroExcluded read: %v", err)
	}
}

func TestKdumpTruncated(t *testing.T) {
	f := kdumpSpec{}.build(t)
	for _, tc := range []struct {
		name string
		cut  int64
	}{
		{"10%", int64(len(f.buf)) / 10},
		{"50%", int64(len(f.buf)) / 2},
		{"99%", int64(len(f.buf)) * 99 / 100},
		{"last-byte", int64(len(f.buf)) - 1},
		{"in-descriptors", f.descOff + 100*pageDescSize + 7},
		{"before-descriptors", f.descOff},
		{"in-2nd-bitmap", f.descOff - testBS + 40},
		{"in-1st-bitmap", f.descOff - 2*testBS + 20},
	} {
		for _, flat := range []bool{false, true} {
			name := tc.name
			buf := f.buf[:tc.cut]
			if flat {
				name += "/flattened"
				// Records are written in order here, as makedumpfile -F
				// does, and cut at the same point.
				buf = flattenInOrder(f.buf)[:flatHeaderSize+tc.cut+tc.cut/3000*flatRecordSize+flatRecordSize]
			}
			t.Run(name, func(t *testing.T) {
				d := openBytes(t, buf, Options{})
				if len(d.Missing()) == 0 {
					t.Fatalf("no missing ranges; warnings %q", d.Warnings())
				}
				w := strings.Join(d.Warnings(), "\n")
				if !strings.Contains(w, "truncated") {
					t.Errorf("warnings do not mention truncation: %q", w)
				}
				n := checkPages(t, d, f)
				if tc.cut >= int64(len(f.buf))/2 && n == 0 {
					t.Error("no page could be read")
				}
				// The last dumped frame is lost in every case.
				_, err := d.ReadAt(make([]byte, 8), 499*testBS)
				if !errors.Is(err, ErrNotInDump) || !strings.Contains(err.Error(), "truncated") {
					t.Errorf("read of the last page: %v", err)
				}
				if _, err := d.CountPages(true); err != nil {
					t.Errorf("CountPages: %v", err)
				}
			})
		}
	}
}

// flattenInOrder wraps kd in records of 3000 bytes in file order.
func flattenInOrder(kd []byte) []byte {
	be := binary.BigEndian
	out := make([]byte, flatHeaderSize)
	copy(out, "makedumpfile")
	be.PutUint64(out[16:], flatTypeHeader)
	be.PutUint64(out[24:], flatVersion)
	for off := 0; off < len(kd); off += 3000 {
		out = be.AppendUint64(out, uint64(off))
		out = be.AppendUint64(out, uint64(min(3000, len(kd)-off)))
		out = append(out, kd[off:min(len(kd), off+3000)]...)
	}
	out = be.AppendUint64(out, ^uint64(0))
	return be.AppendUint64(out, ^uint64(0))
}

func TestKdumpHeaderCut(t *testing.T) {
	f := kdumpSpec{}.build(t)
	for _, cut := range []int64{8, 100, kdumpHeaderSize - 1, testBS + 50} {
		_, err := New(bytes.NewReader(f.buf[:cut]), cut, Options{})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d: err %v, want ErrCorrupt", cut, err)
		}
	}
}

func TestKdumpHugeHeader(t *testing.T) {
	f := kdumpSpec{}.build(t)
	le := binary.LittleEndian
	tests := []struct {
		name     string
		edit     func(b []byte)
		wantErr  bool
		wantWarn string
	}{
		{"huge-bitmap-blocks", func(b []byte) { le.PutUint32(b[436:], 0xffffffff) }, true, ""},
		{"huge-max-mapnr", func(b []byte) { le.PutUint64(b[testBS+96:], 1<<60) }, false, "capped"},
		{"huge-both", func(b []byte) {
			le.PutUint32(b[436:], 0xfffffffe)
			le.PutUint64(b[testBS+96:], (0xfffffffe/2*testBS)*8)
		}, false, "cut short"},
		{"huge-notes", func(b []byte) { le.PutUint64(b[testBS+56:], 1<<62) }, false, "notes lost"},
		{"huge-block-size", func(b []byte) { le.PutUint32(b[428:], 1<<30) }, true, ""},
		{"odd-block-size", func(b []byte) { le.PutUint32(b[428:], 5000) }, true, ""},
		{"huge-sub-header", func(b []byte) { le.PutUint32(b[432:], 0xffffffff) }, false, "cut short"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(f.buf)
			tc.edit(b)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			d, err := New(bytes.NewReader(b), int64(len(b)), Options{})
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("opening allocated %d bytes", alloc)
			}
			if tc.wantErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("err %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if w := strings.Join(d.Warnings(), "\n"); !strings.Contains(w, tc.wantWarn) {
				t.Errorf("warnings %q do not mention %q", w, tc.wantWarn)
			}
			d.Ranges()
			d.CountPages(false)
			d.ReadAt(make([]byte, 16), 3*testBS)
		})
	}
}

func TestKdumpCorruptPage(t *testing.T) {
	f := kdumpSpec{}.build(t)
	le := binary.LittleEndian
	descOf := func(pfn uint64) int64 {
		i := int64(0)
		for p := uint64(0); p < pfn; p++ {
			if k := f.kind[p]; k == kindPresent || k == kindZero {
				i++
			}
		}
		return f.descOff + i*pageDescSize
	}
	tests := []struct {
		name string
		pfn  uint64
		edit func(b []byte, pfn uint64)
	}{
		{"zlib-bytes", 10, func(b []byte, pfn uint64) { b[f.dataOff[pfn]+5] ^= 0xff }},
		{"zlib-checksum", 10, func(b []byte, pfn uint64) {
			d := descOf(pfn)
			b[f.dataOff[pfn]+int64(le.Uint32(b[d+8:]))-1] ^= 1
		}},
		{"snappy-bytes", 11, func(b []byte, pfn uint64) { b[f.dataOff[pfn]] ^= 0x40 }},
		{"zstd-bytes", 12, func(b []byte, pfn uint64) { b[f.dataOff[pfn]+8] ^= 0xff }},
		{"lzo-bytes", 14, func(b []byte, pfn uint64) { b[f.dataOff[pfn]+6] = 0xff }},
		{"raw-short", 13, func(b []byte, pfn uint64) { le.PutUint32(b[descOf(pfn)+8:], 100) }},
		{"too-big", 10, func(b []byte, pfn uint64) { le.PutUint32(b[descOf(pfn)+8:], testBS+1) }},
		{"bad-flags", 10, func(b []byte, pfn uint64) { le.PutUint32(b[descOf(pfn)+12:], 0x3) }},
		{"zstd-as-snappy", 12, func(b []byte, pfn uint64) { le.PutUint32(b[descOf(pfn)+12:], dumpCompressedSnappy) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(f.buf)
			tc.edit(b, tc.pfn)
			d := openBytes(t, b, Options{})
			_, err := d.ReadAt(make([]byte, testBS), PhysAddr(tc.pfn*testBS))
			var fe *FormatError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &fe) || fe.Off != f.dataOff[tc.pfn] {
				t.Fatalf("err %v, want ErrCorrupt at file offset %#x", err, f.dataOff[tc.pfn])
			}
			// Neighbours still read.
			if _, err := d.ReadAt(make([]byte, testBS), PhysAddr((tc.pfn+1)*testBS)); err != nil {
				t.Errorf("neighbour: %v", err)
			}
		})
	}
}

func TestKdumpIncomplete(t *testing.T) {
	for _, status := range []uint32{dumpCompressedZlib | dumpCompressedIncomplete, 0} {
		t.Run(fmt.Sprintf("status=%#x", status), func(t *testing.T) {
			f := kdumpSpec{status: status, zeroDesc: 200}.build(t)
			d := openBytes(t, f.buf, Options{})
			w := strings.Join(d.Warnings(), "\n")
			if !strings.Contains(w, "incomplete") || len(d.Missing()) == 0 {
				t.Fatalf("warnings %q, missing %v", w, d.Missing())
			}
			if got := d.Kdump().Incomplete(); got != (status&dumpCompressedIncomplete != 0) || got != strings.Contains(d.Kdump().StatusString(), "incomplete") {
				t.Errorf("Incomplete() = %v, status %q", got, d.Kdump().StatusString())
			}
			_, err := d.ReadAt(make([]byte, 8), 499*testBS)
			if !errors.Is(err, ErrNotInDump) || !strings.Contains(err.Error(), "dump incomplete") {
				t.Errorf("read of an unwritten page: %v", err)
			}
			if n := checkPages(t, d, f); n == 0 {
				t.Error("no page could be read")
			}
		})
	}
}

func TestKdumpSplit(t *testing.T) {
	full := kdumpSpec{}.build(t)
	// Keep only the descriptors and data of pfns [140, 300): the layout
	// of the second file of makedumpfile --split.
	le := binary.LittleEndian
	b := bytes.Clone(full.buf)
	sh := b[testBS:]
	le.PutUint32(sh[12:], 1)
	le.PutUint64(sh[80:], 140)
	le.PutUint64(sh[88:], 300)
	skip := int64(0)
	for p := uint64(0); p < 140; p++ {
		if k := full.kind[p]; k == kindPresent || k == kindZero {
			skip++
		}
	}
	copy(b[full.descOff:], full.buf[full.descOff+skip*pageDescSize:full.dataBase])
	d := openBytes(t, b, Options{})
	if w := strings.Join(d.Warnings(), "\n"); !strings.Contains(w, "split") {
		t.Errorf("warnings %q", w)
	}
	got := make([]byte, testBS)
	if _, err := d.ReadAt(got, 142*testBS); err != nil || !bytes.Equal(got, full.content[142]) {
		t.Errorf("pfn 142: %v", err)
	}
	if _, err := d.ReadAt(got, 10*testBS); !errors.Is(err, ErrNotInDump) || !strings.Contains(err.Error(), "split") {
		t.Errorf("pfn 10: %v", err)
	}
}

func TestFlattened(t *testing.T) {
	f := kdumpSpec{}.build(t)
	t.Run("no-end-marker", func(t *testing.T) {
		d := openBytes(t, flatten(f.buf, false), Options{})
		if w := strings.Join(d.Warnings(), "\n"); !strings.Contains(w, "end marker") {
			t.Errorf("warnings %q", w)
		}
		checkPages(t, d, f)
	})
	t.Run("stale-header-only", func(t *testing.T) {
		// Without the final header record the stale one is all there is.
		fl := flatten(f.buf, true)
		i := bytes.LastIndex(fl, f.buf[:64]) - flatRecordSize
		fl = append(fl[:i:i], fl[len(fl)-flatRecordSize:]...)
		_, err := New(bytes.NewReader(fl), int64(len(fl)), Options{})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("err %v, want ErrCorrupt", err)
		}
	})
	t.Run("bad-type", func(t *testing.T) {
		fl := flatten(f.buf, true)
		fl[23] = 9
		if _, err := New(bytes.NewReader(fl), int64(len(fl)), Options{}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("err %v, want ErrCorrupt", err)
		}
	})
	t.Run("bad-record", func(t *testing.T) {
		fl := flattenInOrder(f.buf)
		// Corrupt the size of the 40th record: the file opens with the
		// records before it and a warning.
		pos := flatHeaderSize + 39*(flatRecordSize+3000)
		binary.BigEndian.PutUint64(fl[pos+8:], 1<<62)
		d := openBytes(t, fl, Options{})
		if len(d.Missing()) == 0 || len(d.Warnings()) == 0 {
			t.Errorf("missing %v warnings %q", d.Missing(), d.Warnings())
		}
		checkPages(t, d, f)
	})
}

func TestFlatExtents(t *testing.T) {
	recs := []flatRecord{
		{off: 0, size: 100, fileOff: 1000},
		{off: 50, size: 100, fileOff: 2000},
		{off: 20, size: 10, fileOff: 3000},
		{off: 300, size: 10, fileOff: 4000},
		{off: 0, size: 5, fileOff: 5000},
	}
	for i := range recs {
		recs[i].seq = i
	}
	got := fmt.Sprint(flatExtents(recs))
	want := fmt.Sprint([]flatExtent{
		{0, 5, 5000}, {5, 20, 1005}, {20, 30, 3000}, {30, 50, 1030}, {50, 150, 2000}, {300, 310, 4000},
	})
	if got != want {
		t.Errorf("extents %s, want %s", got, want)
	}
}

func TestLZORepeat4(t *testing.T) {
	page := pageContent(3, dumpCompressedLZO)
	out := make([]byte, testBS)
	n, err := lzo.Decompress(lzoRepeat4(page), out)
	if err != nil || n != testBS || !bytes.Equal(out, page) {
		t.Fatalf("hand-made LZO stream: n %d err %v", n, err)
	}
}

func TestKdumpConcurrentReads(t *testing.T) {
	f := kdumpSpec{}.build(t)
	d := openBytes(t, f.buf, Options{CachePages: 8})
	defer d.Close()
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			buf := make([]byte, testBS)
			for pfn := uint64(0); pfn < f.maxPFN; pfn++ {
				if k := f.kind[pfn]; k != kindPresent && k != kindZero {
					continue
				}
				if _, err := d.ReadAt(buf, PhysAddr(pfn*testBS)); err != nil {
					done <- err
					return
				}
				if !bytes.Equal(buf, f.content[pfn]) {
					done <- fmt.Errorf("pfn %#x: wrong contents", pfn)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkKdumpReadPage(b *testing.B) {
	for _, c := range []struct {
		name  string
		flags uint32
	}{{"zlib", dumpCompressedZlib}, {"snappy", dumpCompressedSnappy}, {"zstd", dumpCompressedZstd}, {"lzo", dumpCompressedLZO}, {"raw", 0}} {
		b.Run(c.name, func(b *testing.B) {
			f := kdumpSpec{comp: func(uint64) uint32 { return c.flags }}.build(b)
			d, err := New(bytes.NewReader(f.buf), int64(len(f.buf)), Options{CachePages: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			buf := make([]byte, testBS)
			b.SetBytes(testBS)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pfn := uint64(1 + i%4) // present pages; the 1-page cache alternates
				if _, err := d.ReadAt(buf, PhysAddr(pfn*testBS)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
