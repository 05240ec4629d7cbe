package vmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// memFile is an in-memory io.Writer and io.WriterAt.
type memFile struct{ b []byte }

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memFile) Write(p []byte) (int, error) { return m.WriteAt(p, int64(len(m.b))) }

func sampleDump(t testing.TB) *Dump {
	t.Helper()
	img := sampleELF().build()
	d, err := New(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// write converts d with each writer into memory.
func write(t testing.TB, d *Dump, format string, comp Compression, lo LKCDOptions) ([]byte, WriteStats, error) {
	t.Helper()
	var m memFile
	o := WriteOptions{Compression: comp, Workers: 2}
	var st WriteStats
	var err error
	switch format {
	case "elf":
		st, err = WriteELF(&m, d, o)
	case "kdump":
		st, err = WriteKdump(&m, d, KdumpOptions{WriteOptions: o})
	case "lkcd":
		lo.WriteOptions = o
		st, err = WriteLKCD(&m, d, lo)
	}
	return m.b, st, err
}

func TestPagesOrder(t *testing.T) {
	d := sampleDump(t)
	type fs struct {
		pfn   PFN
		state PageState
	}
	var got []fs
	for p, err := range d.Pages() {
		if err != nil {
			t.Fatal(err)
		}
		if (p.Data != nil) != (p.State == PagePresent || p.State == PageZero) {
			t.Errorf("pfn %#x: state %v with data %v", p.PFN, p.State, p.Data != nil)
		}
		got = append(got, fs{p.PFN, p.State})
	}
	// pfns 2 and 3 are in two segments: yielded once.
	want := []fs{{1, PagePresent}, {2, PagePresent}, {3, PagePresent},
		{0x10, PagePresent}, {0x11, PagePresent}, {0x12, PageExcluded}, {0x13, PageExcluded}, {0x14, PageExcluded}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d: got %v, want %v", i, got[i], want[i])
		}
	}
	n := 0
	for range d.Pages() {
		if n++; n == 2 {
			break // stopping early must not panic
		}
	}
}

func TestWritersSynthetic(t *testing.T) {
	d := sampleDump(t)
	for _, tc := range []struct {
		format string
		comp   Compression
	}{{"elf", CompressNone}, {"kdump", CompressZlib}, {"kdump", CompressZstd}, {"kdump", CompressSnappy}, {"kdump", CompressNone},
		{"lkcd", CompressZlib}, {"lkcd", CompressNone}} {
		t.Run(tc.format+"-"+string(tc.comp), func(t *testing.T) {
			b, st, err := write(t, d, tc.format, tc.comp, LKCDOptions{})
			co := CompareOptions{}
			if tc.format == "lkcd" {
				if !errors.Is(err, ErrExcludedPages) || !strings.Contains(err.Error(), "3 pages") {
					t.Fatalf("LKCD with excluded pages: %v", err)
				}
				b, st, err = write(t, d, tc.format, tc.comp, LKCDOptions{ExcludedAsZero: true})
				co.ExcludedAsZero = true
				if st.ExcludedAsZero != 3 {
					t.Errorf("ExcludedAsZero = %d", st.ExcludedAsZero)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Frames != 8 || st.Present != 5 {
				t.Errorf("stats %+v", st)
			}
			out, err := New(bytes.NewReader(b), int64(len(b)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if w := out.Warnings(); len(w) > 0 {
				t.Errorf("warnings %q", w)
			}
			cs, err := Compare(d, out, co)
			if err != nil {
				t.Fatal(err)
			}
			if cs.Identical != 5 {
				t.Errorf("compare %v", cs)
			}
			if vi := out.VMCOREINFO(); vi == nil || vi.KernelOffset != 0xe000000 || vi.PhysBase != -438304768 {
				t.Errorf("VMCOREINFO lost: %+v", vi)
			}
			if c := out.CPUs(); len(c) != 2 || c[1].PID != 42 || c[1].Regs != d.CPUs()[1].Regs {
				t.Errorf("CPUs %+v", c)
			}
		})
	}
}

// TestWriteDropZero: dump level bit 1 excludes all-zero pages from an
// ELF file; a kdump file keeps them dumpable with the shared zero page's
// descriptor, as makedumpfile does, so they read back as zeros.
func TestWriteDropZero(t *testing.T) {
	s := sampleELF()
	s.loads[0].data = append(make([]byte, 0x1000), s.loads[0].data[0x1000:]...) // pfn 1 all zero
	s.loads = s.loads[:2]
	img := s.build()
	d, err := New(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"elf", "kdump"} {
		var m memFile
		o := WriteOptions{DropZero: true}
		var st WriteStats
		if format == "elf" {
			st, err = WriteELF(&m, d, o)
		} else {
			st, err = WriteKdump(&m, d, KdumpOptions{WriteOptions: o})
		}
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out, err := New(bytes.NewReader(m.b), int64(len(m.b)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if format == "elf" {
			if st.ZeroAsExc != 1 || st.Zero != 0 || st.ZeroShared != 0 {
				t.Errorf("elf: %+v", st)
			}
			if s := out.PageState(1); s != PageExcluded {
				t.Errorf("elf: zero page is %v", s)
			}
			if _, err := Compare(d, out, CompareOptions{ZeroDropped: true}); err != nil {
				t.Errorf("elf: %v", err)
			}
			if _, err := Compare(d, out, CompareOptions{}); !errors.Is(err, ErrMismatch) {
				t.Errorf("elf: a dropped page must be a mismatch unless allowed: %v", err)
			}
			continue
		}
		if st.ZeroAsExc != 0 || st.Zero != 1 || st.ZeroShared != 1 || st.Present+st.Excluded+st.NotDumped != st.Frames {
			t.Errorf("kdump: %+v", st)
		}
		if !strings.Contains(st.String(), "1 all-zero stored as the shared zero page") {
			t.Errorf("kdump: summary %q", st)
		}
		if s := out.PageState(1); s != PageZero {
			t.Errorf("kdump: zero page is %v", s)
		}
		h := out.Kdump()
		if h.DumpLevel&1 == 0 || h.ZeroPageOffset < 0 {
			t.Errorf("kdump: dump_level %d, zero page at %d", h.DumpLevel, h.ZeroPageOffset)
		}
		buf := bytes.Repeat([]byte{0xff}, 0x1000)
		if _, err := out.ReadAt(buf, 0x1000); err != nil || !isZero(buf) {
			t.Errorf("kdump: reading the zero page: %v", err)
		}
		// Without bit 1 the file is the same but for the dump_level.
		var m0 memFile
		if _, err := WriteKdump(&m0, d, KdumpOptions{}); err != nil {
			t.Fatal(err)
		}
		if len(m0.b) != len(m.b) {
			t.Errorf("kdump: %d bytes with bit 1, %d without", len(m.b), len(m0.b))
		}
		cs, err := Compare(d, out, CompareOptions{})
		if err != nil || cs.ZeroDropped != 0 || cs.Identical != st.Present {
			t.Errorf("kdump: %v: %v", cs, err)
		}
	}
	if _, err := WriteLKCD(&memFile{}, d, LKCDOptions{WriteOptions: WriteOptions{DropZero: true}}); err == nil {
		t.Error("LKCD accepted DropZero")
	}
}

// synthLKCD builds an LKCD v8 file from raw records.
type synthLKCD struct {
	version  uint32
	compress uint32
	cpus     int // asm header CPU slots; 0: no asm header
	recs     []lkcdRec
	noEnd    bool
}

type lkcdRec struct {
	addr  uint64
	flags uint32
	data  []byte
}

func (s synthLKCD) build() []byte {
	le := binary.LittleEndian
	b := make([]byte, lkcdFirstPageV8)
	le.PutUint64(b, lkcdMagic)
	le.PutUint32(b[8:], s.version)
	le.PutUint32(b[12:], lkcdHeaderV8)
	le.PutUint32(b[20:], 4096)
	le.PutUint32(b[48:], uint32(len(s.recs)))
	copy(b[52:], "test panic")
	copy(b[324+65*2:], "6.1.0-lkcd")
	le.PutUint64(b[714:], 0xffff888000123400)
	le.PutUint32(b[722:], s.compress)
	if s.cpus > 0 {
		a := b[lkcdHeaderV8:]
		le.PutUint64(a, lkcdAsmMagic)
		le.PutUint32(a[8:], 2)
		le.PutUint32(a[12:], uint32(lkcdAsmFixed+s.cpus*lkcdCPUInfo))
		le.PutUint32(a[184:], uint32(s.cpus))
		for i := 0; i < s.cpus; i++ {
			r := a[lkcdAsmFixed+i*ptRegsSize:]
			le.PutUint64(r[16*8:], 0xffffffff81000000+uint64(i)) // rip
			le.PutUint64(r[19*8:], 0xffffc90000000000+uint64(i)) // rsp
			le.PutUint64(a[lkcdAsmFixed+s.cpus*ptRegsSize+i*8:], 0xffff888000100000+uint64(i))
		}
	}
	for _, r := range s.recs {
		b = le.AppendUint64(b, r.addr)
		b = le.AppendUint32(b, uint32(len(r.data)))
		b = le.AppendUint32(b, r.flags)
		b = append(b, r.data...)
	}
	if !s.noEnd {
		b = append(b, make([]byte, 12)...)
		b = le.AppendUint32(b, lkcdEnd)
	}
	return b
}

func TestUnRLE(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want []byte
		err  bool
	}{
		{[]byte{1, 2, 3}, []byte{1, 2, 3}, false},
		{[]byte{0, 0}, []byte{0}, false},
		{[]byte{0, 3, 7, 9}, []byte{7, 7, 7, 7, 9}, false},
		{[]byte{0}, nil, true},
		{[]byte{0, 5}, nil, true},
	} {
		dst := make([]byte, 16)
		n, err := unRLE(tc.in, dst)
		if (err != nil) != tc.err || (!tc.err && !bytes.Equal(dst[:n], tc.want)) {
			t.Errorf("unRLE(%v) = %v, %v; want %v", tc.in, dst[:n], err, tc.want)
		}
	}
	// Overflow is reported as one byte too many, not written.
	dst := make([]byte, 4)
	if n, _ := unRLE([]byte{0, 200, 1}, dst); n != 5 {
		t.Errorf("overflow: n = %d", n)
	}
}

func TestLKCDRead(t *testing.T) {
	page := pattern(4096, 9)
	// RLE of a page: 0x00 n v runs of at most 256 bytes.
	var rle []byte
	for i := 0; i < 16; i++ {
		rle = append(rle, 0, 255, byte(i+1))
	}
	rlePage := make([]byte, 0, 4096)
	for i := 0; i < 16; i++ {
		rlePage = append(rlePage, bytes.Repeat([]byte{byte(i + 1)}, 256)...)
	}
	tests := []struct {
		name     string
		s        synthLKCD
		pages    map[uint64][]byte // pfn -> contents (nil: zero)
		states   map[uint64]PageState
		warn     string
		cpus     int
		openErr  string
		readErr  map[uint64]error
		compress string
	}{
		{name: "raw and zero", s: synthLKCD{version: 8, cpus: 2, recs: []lkcdRec{
			{0x1000, lkcdRaw, page}, {0x2000, lkcdRaw, nil}, {0x5000, lkcdRaw, page}}},
			pages:  map[uint64][]byte{1: page, 2: nil, 5: page},
			states: map[uint64]PageState{1: PagePresent, 2: PageZero, 3: PageNotDumped, 5: PagePresent},
			cpus:   2, compress: "none"},
		{name: "rle", s: synthLKCD{version: 8, compress: lkcdCompressRLE, recs: []lkcdRec{
			{0x1000, lkcdCompressed, rle}, {0x2000, lkcdRaw, page}}},
			pages: map[uint64][]byte{1: rlePage, 2: page}, warn: "no CPU registers", compress: "rle"},
		{name: "unordered and duplicate", s: synthLKCD{version: 8, cpus: 1, recs: []lkcdRec{
			{0x3000, lkcdRaw, page}, {0x1000, lkcdRaw, nil}, {0x3000, lkcdRaw, nil}}},
			pages: map[uint64][]byte{1: nil, 3: page}, warn: "more than one record", cpus: 1},
		{name: "no END", s: synthLKCD{version: 8, cpus: 1, noEnd: true, recs: []lkcdRec{{0x1000, lkcdRaw, page}}},
			pages: map[uint64][]byte{1: page}, warn: "no END record", cpus: 1},
		{name: "bad flags", s: synthLKCD{version: 8, cpus: 1, recs: []lkcdRec{{0x1000, lkcdRaw, page}, {0x2000, 0x40, page}, {0x3000, lkcdRaw, page}}},
			pages: map[uint64][]byte{1: page}, states: map[uint64]PageState{3: PageNotDumped}, warn: "flags 0x40", cpus: 1},
		{name: "bad zlib", s: synthLKCD{version: 8, cpus: 1, compress: lkcdCompressGzip, recs: []lkcdRec{{0x1000, lkcdCompressed, []byte("garbage")}}},
			readErr: map[uint64]error{1: ErrCorrupt}, cpus: 1},
		{name: "version 7", s: synthLKCD{version: 7}, openErr: "version 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.s.build()
			d, err := New(bytes.NewReader(img), int64(len(img)), Options{})
			if tc.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.openErr) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("open: %v, want %q", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Format() != FormatLKCD || d.LKCD() == nil || d.LKCD().PanicString != "test panic" || d.LKCD().Utsname.Release != "6.1.0-lkcd" {
				t.Errorf("format %v header %+v", d.Format(), d.LKCD())
			}
			if tc.compress != "" && d.Compression() != tc.compress {
				t.Errorf("compression %q", d.Compression())
			}
			buf := make([]byte, 4096)
			for pfn, want := range tc.pages {
				if _, err := d.ReadAt(buf, PhysAddr(pfn*4096)); err != nil {
					t.Errorf("pfn %d: %v", pfn, err)
					continue
				}
				if want == nil {
					want = make([]byte, 4096)
				}
				if !bytes.Equal(buf, want) {
					t.Errorf("pfn %d: wrong contents", pfn)
				}
			}
			for pfn, want := range tc.states {
				if got := d.PageState(PFN(pfn)); got != want {
					t.Errorf("pfn %d: state %v, want %v", pfn, got, want)
				}
			}
			for pfn, want := range tc.readErr {
				if _, err := d.ReadAt(buf, PhysAddr(pfn*4096)); !errors.Is(err, want) {
					t.Errorf("pfn %d: err %v, want %v", pfn, err, want)
				}
			}
			if tc.warn != "" && !strings.Contains(strings.Join(d.Warnings(), "\n"), tc.warn) {
				t.Errorf("warnings %q lack %q", d.Warnings(), tc.warn)
			}
			if cpus := d.CPUs(); len(cpus) != tc.cpus {
				t.Errorf("%d CPUs, want %d", len(cpus), tc.cpus)
			} else if tc.cpus > 0 && (cpus[0].Regs.RIP != 0xffffffff81000000 || cpus[tc.cpus-1].Regs.RSP != 0xffffc90000000000+uint64(tc.cpus-1)) {
				t.Errorf("registers %+v", cpus[tc.cpus-1].Regs)
			}
			if a := d.LKCD().Asm; tc.cpus > 0 && (a == nil || a.CurrentTasks[0] != 0xffff888000100000) {
				t.Errorf("asm header %+v", a)
			}
		})
	}
}

// TestLKCDWriterHeader checks the fields crash reads from a written file
// that the round trip does not see: v8 layout, the asm header, the panic
// task and CPU, and v9 when asked.
func TestLKCDWriterHeader(t *testing.T) {
	d := sampleDump(t)
	ci := CrashInfo{PanicCPU: 1, PanicCPUKnown: true, PanicTask: 0xffff888000abc000,
		CurrentTasks: []uint64{0xffff888000aaa000, 0xffff888000abc000}, PanicString: "Kernel panic - not syncing: test"}
	for _, v := range []int{8, 9} {
		b, _, err := write(t, d, "lkcd", CompressZlib, LKCDOptions{ExcludedAsZero: true, Crash: ci, Version: v, OmitNotes: v == 9})
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		first := uint64(lkcdFirstPageV8)
		if v == 9 {
			first = le.Uint64(b[734:])
		}
		if le.Uint32(b[8:]) != uint32(v) || le.Uint32(b[48:]) != 8 || le.Uint64(b[714:]) != ci.PanicTask || le.Uint32(b[722:]) != 2 {
			t.Errorf("v%d header: version %d pages %d task %#x compress %d", v, le.Uint32(b[8:]), le.Uint32(b[48:]), le.Uint64(b[714:]), le.Uint32(b[722:]))
		}
		a := b[le.Uint32(b[12:]):]
		if le.Uint64(a) != lkcdAsmMagic || le.Uint32(a[12:]) != 192+2*192 || le.Uint32(a[184:]) != 2 || le.Uint32(a[188:]) != 1 {
			t.Errorf("v%d asm header %x", v, a[:192])
		}
		// The END record closes the file.
		if end := b[len(b)-16:]; le.Uint32(end[12:]) != lkcdEnd || uint64(len(b)) < first {
			t.Errorf("v%d: no END record at the end", v)
		}
		out, err := New(bytes.NewReader(b), int64(len(b)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		h := out.LKCD()
		if h.PanicString != ci.PanicString || h.Asm == nil || h.Asm.DumpingCPU != 1 || h.Asm.CurrentTasks[1] != ci.PanicTask || h.KcrashNotes == (v == 9) {
			t.Errorf("v%d read back: %+v %+v", v, h, h.Asm)
		}
		if v == 9 {
			// Without kcrash's notes the CPUs come from the asm header.
			if c := out.CPUs(); len(c) != 2 || c[1].Regs.RIP != d.CPUs()[1].Regs.RIP || out.VMCOREINFO() != nil {
				t.Errorf("v9 without notes: CPUs %+v", c)
			}
		}
	}
}

// TestWriteTruncatedInput converts a dump whose file was cut short: the
// lost pages are not dumped in the copy either, and Compare agrees.
func TestWriteTruncatedInput(t *testing.T) {
	img := sampleELF().build()
	img = img[:len(img)-0x3000] // loses the last segment and a page of the one before
	d, err := New(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Missing()) == 0 {
		t.Fatal("the cut lost nothing")
	}
	for _, format := range []string{"elf", "kdump", "lkcd"} {
		b, st, err := write(t, d, format, CompressZlib, LKCDOptions{ExcludedAsZero: true})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if st.NotDumped == 0 {
			t.Errorf("%s: no frame counted as not dumped: %+v", format, st)
		}
		out, err := New(bytes.NewReader(b), int64(len(b)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Compare(d, out, CompareOptions{ExcludedAsZero: format == "lkcd"}); err != nil {
			t.Errorf("%s: %v", format, err)
		}
	}
}

// TestPagesPartial: the kernel's /proc/vmcore keeps e820's byte-granular
// range ends (RAM up to 0x9fc00): such a page is present, the bytes past
// the range zero, and every writer keeps it.
func TestPagesPartial(t *testing.T) {
	s := sampleELF()
	s.loads = []synthLoad{{paddr: 0x1000, data: pattern(0x1c00, 3)}}
	img := s.build()
	d, err := New(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []Page
	for p, err := range d.Pages() {
		if err != nil {
			t.Fatal(err)
		}
		p.Data = append([]byte(nil), p.Data...)
		got = append(got, p)
	}
	if len(got) != 2 || got[1].State != PagePresent || !bytes.Equal(got[1].Data[:0xc00], pattern(0x1c00, 3)[0x1000:]) || !isZero(got[1].Data[0xc00:]) {
		t.Fatalf("pages %+v", got)
	}
	for _, format := range []string{"elf", "kdump", "lkcd"} {
		b, st, err := write(t, d, format, CompressZlib, LKCDOptions{})
		if err != nil || st.Present != 2 {
			t.Fatalf("%s: %v %+v", format, err, st)
		}
		out, err := New(bytes.NewReader(b), int64(len(b)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Compare(d, out, CompareOptions{}); err != nil {
			t.Errorf("%s: %v", format, err)
		}
	}
}

// TestWriteCancel: an error from Progress stops every writer, which
// returns it.
func TestWriteCancel(t *testing.T) {
	d := sampleDump(t)
	stop := errors.New("stop")
	o := WriteOptions{Progress: func(done, total uint64) error { return stop }}
	var m memFile
	if _, err := WriteELF(&m, d, o); !errors.Is(err, stop) {
		t.Errorf("elf: %v", err)
	}
	if _, err := WriteKdump(&m, d, KdumpOptions{WriteOptions: o}); !errors.Is(err, stop) {
		t.Errorf("kdump: %v", err)
	}
	if _, err := WriteLKCD(&m, d, LKCDOptions{WriteOptions: o, ExcludedAsZero: true}); !errors.Is(err, stop) {
		t.Errorf("lkcd: %v", err)
	}
}

// TestLKCDWriterStackStarts: with a stack start known for a CPU, the
// asm header's rip and rsp for it are the start (and a user-mode note
// gets the kernel's selectors); the other registers, the CPU without a
// start, RawRegisters and kcrash's copy of the notes keep the note's.
func TestLKCDWriterStackStarts(t *testing.T) {
	d := sampleDump(t)
	le := binary.LittleEndian
	start := StackStart{PC: 0xffffffff81234567, SP: 0xffffc90000013f00}
	ci := CrashInfo{CurrentTasks: []uint64{0xffff888000aaa000, 0xffff888000abc000},
		StackStarts: []StackStart{{}, start}}
	for _, raw := range []bool{false, true} {
		b, _, err := write(t, d, "lkcd", CompressZlib, LKCDOptions{ExcludedAsZero: true, Crash: ci, RawRegisters: raw})
		if err != nil {
			t.Fatal(err)
		}
		a := b[le.Uint32(b[12:]):]
		slot := func(cpu, off int) uint64 { return le.Uint64(a[lkcdAsmFixed+cpu*ptRegsSize+off:]) }
		for cpu, note := range d.CPUs() {
			want := note.Regs
			if cpu == 1 && !raw {
				want.RIP, want.RSP = start.PC, start.SP
				if want.CS&3 != 0 {
					want.CS, want.SS = kernelCS, kernelDS
				}
			}
			if slot(cpu, ptRegsRIP) != want.RIP || slot(cpu, ptRegsRSP) != want.RSP ||
				slot(cpu, ptRegsCS) != want.CS || slot(cpu, ptRegsSS) != want.SS || slot(cpu, 4*8) != want.RBP {
				t.Errorf("raw %v, CPU %d: rip %#x rsp %#x cs %#x ss %#x rbp %#x, want %#x %#x %#x %#x %#x", raw, cpu,
					slot(cpu, ptRegsRIP), slot(cpu, ptRegsRSP), slot(cpu, ptRegsCS), slot(cpu, ptRegsSS), slot(cpu, 4*8),
					want.RIP, want.RSP, want.CS, want.SS, want.RBP)
			}
		}
		out, err := New(bytes.NewReader(b), int64(len(b)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if c := out.CPUs(); len(c) != 2 || c[1].Regs != d.CPUs()[1].Regs {
			t.Errorf("raw %v: kcrash's copy of the notes changed: %+v", raw, c)
		}
	}
}

// TestLKCDWriterZeroRecords: an all-zero page is a RAW record of size 0
// by default, a whole zlib record with ZlibZeroPages; both read back as
// zeros and every page compares equal with the input.
func TestLKCDWriterZeroRecords(t *testing.T) {
	d := sampleDump(t)
	for _, zlibZero := range []bool{false, true} {
		b, st, err := write(t, d, "lkcd", CompressZlib, LKCDOptions{ExcludedAsZero: true, ZlibZeroPages: zlibZero})
		if err != nil {
			t.Fatal(err)
		}
		if st.Zero+st.ExcludedAsZero == 0 {
			t.Fatal("the sample has no zero or excluded page")
		}
		out, err := New(bytes.NewReader(b), int64(len(b)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		empty := 0
		for off := lkcdFirstPageV8; off+lkcdPageHdr <= len(b); {
			size, flags := le.Uint32(b[off+8:]), le.Uint32(b[off+12:])
			if flags == lkcdEnd {
				break
			}
			if flags == lkcdRaw && size == 0 {
				empty++
			}
			off += lkcdPageHdr + int(size)
		}
		if zlibZero && empty != 0 || !zlibZero && uint64(empty) != st.Zero+st.ExcludedAsZero {
			t.Errorf("zlib zero %v: %d size-0 RAW records for %d zero and %d excluded pages", zlibZero, empty, st.Zero, st.ExcludedAsZero)
		}
		if _, err := Compare(d, out, CompareOptions{ExcludedAsZero: true}); err != nil {
			t.Errorf("zlib zero %v: %v", zlibZero, err)
		}
	}
}
