package vmcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// synthELF describes a small ELF vmcore for tests. The real corpus in
// testdata/cores covers real layouts; these cover edge cases a real dump
// rarely shows (excluded tails, overlapping segments, truncation).
type synthELF struct {
	phoff   uint64 // 0 means right after the ELF header
	notes   [][]byte
	loads   []synthLoad
	dataOff uint64 // where segment data starts (0: after headers)
}

type synthLoad struct {
	paddr, vaddr uint64
	data         []byte
	memsz        uint64 // 0 means len(data)
}

func noteBytes(name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	nb := append([]byte(name), 0)
	binary.Write(&b, binary.LittleEndian, uint32(len(nb)))
	binary.Write(&b, binary.LittleEndian, uint32(len(desc)))
	binary.Write(&b, binary.LittleEndian, typ)
	b.Write(nb)
	b.Write(make([]byte, align4(len(nb))-len(nb)))
	b.Write(desc)
	b.Write(make([]byte, align4(len(desc))-len(desc)))
	return b.Bytes()
}

func prstatus(pid uint32, rip, rsp uint64) []byte {
	d := make([]byte, prstatusSize)
	binary.LittleEndian.PutUint32(d[prstatusPIDOff:], pid)
	binary.LittleEndian.PutUint64(d[prstatusRegOff+16*8:], rip)
	binary.LittleEndian.PutUint64(d[prstatusRegOff+19*8:], rsp)
	return d
}

func (s synthELF) build() []byte {
	le := binary.LittleEndian
	phoff := s.phoff
	if phoff == 0 {
		phoff = elfHeaderSize
	}
	nph := len(s.notes) + len(s.loads)
	off := phoff + uint64(nph*elfPhdrSize)
	if s.dataOff > off {
		off = s.dataOff
	}
	var body bytes.Buffer
	type ph struct{ typ, off, vaddr, paddr, filesz, memsz uint64 }
	var phs []ph
	for _, n := range s.notes {
		phs = append(phs, ph{ptNote, off + uint64(body.Len()), 0, 0, uint64(len(n)), uint64(len(n))})
		body.Write(n)
	}
	for _, l := range s.loads {
		memsz := l.memsz
		if memsz == 0 {
			memsz = uint64(len(l.data))
		}
		phs = append(phs, ph{ptLoad, off + uint64(body.Len()), l.vaddr, l.paddr, uint64(len(l.data)), memsz})
		body.Write(l.data)
	}
	out := make([]byte, off)
	copy(out, "\x7fELF")
	out[4], out[5], out[6] = 2, 1, 1
	le.PutUint16(out[16:], etCore)
	le.PutUint16(out[18:], emX86_64)
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[32:], phoff)
	le.PutUint16(out[52:], elfHeaderSize)
	le.PutUint16(out[54:], elfPhdrSize)
	le.PutUint16(out[56:], uint16(nph))
	for i, p := range phs {
		b := out[phoff+uint64(i*elfPhdrSize):]
		le.PutUint32(b, uint32(p.typ))
		le.PutUint64(b[8:], p.off)
		le.PutUint64(b[16:], p.vaddr)
		le.PutUint64(b[24:], p.paddr)
		le.PutUint64(b[32:], p.filesz)
		le.PutUint64(b[40:], p.memsz)
	}
	return append(out, body.Bytes()...)
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

const testVMCOREINFO = "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff8f60a000\nNUMBER(phys_base)=-438304768\nKERNELOFFSET=e000000\nCRASHTIME=1700000000\nOFFSET(page.flags)=0\n"

func sampleELF() synthELF {
	return synthELF{
		phoff: 0xc0, // QEMU 7.2 puts its program headers here
		notes: [][]byte{
			append(noteBytes("CORE", ntPRStatus, prstatus(0, 0xffffffff81000010, 0xffffc90000003f00)),
				noteBytes("CORE", ntPRStatus, prstatus(42, 0xffffffff81000020, 0xffffc90000007f00))...),
			noteBytes("VMCOREINFO", 0, []byte(testVMCOREINFO)),
		},
		loads: []synthLoad{
			{paddr: 0x1000, data: pattern(0x3000, 1)},
			// makedumpfile -E style: two file pages, then an excluded tail.
			{paddr: 0x10000, data: pattern(0x2000, 2), memsz: 0x5000},
			// kernel text mapping overlapping the first segment, kdump style
			{paddr: 0x2000, vaddr: 0xffffffff81000000, data: pattern(0x3000, 1)[0x1000:]},
		},
	}
}

func TestELFReads(t *testing.T) {
	img := sampleELF().build()
	d, err := New(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Format() != FormatELF || d.PageSize() != 4096 {
		t.Fatalf("format %v page size %d", d.Format(), d.PageSize())
	}
	tests := []struct {
		name  string
		pa    PhysAddr
		n     int
		want  []byte
		err   error
		state PageState
	}{
		{"first byte", 0x1000, 16, pattern(0x3000, 1)[:16], nil, PagePresent},
		{"across pages", 0x1ff8, 16, pattern(0x3000, 1)[0xff8:0x1008], nil, PagePresent},
		{"second segment", 0x11000, 8, pattern(0x2000, 2)[0x1000:0x1008], nil, PagePresent},
		{"excluded tail", 0x12000, 8, nil, ErrExcluded, PageExcluded},
		{"hole", 0x8000, 8, nil, ErrNotInDump, PageNotDumped},
		{"page zero", 0, 8, nil, ErrNotInDump, PageNotDumped},
		{"runs into excluded", 0x11ff8, 16, nil, ErrExcluded, PagePresent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, tc.n)
			n, err := d.ReadAt(buf, tc.pa)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				var re *ReadError
				if !errors.As(err, &re) {
					t.Fatalf("err %T is not a *ReadError", err)
				}
			} else if err != nil || n != tc.n || !bytes.Equal(buf, tc.want) {
				t.Fatalf("n=%d err=%v got %x want %x", n, err, buf, tc.want)
			}
			if st := d.PageState(PFN(uint64(tc.pa) / 4096)); st != tc.state {
				t.Errorf("PageState = %v, want %v", st, tc.state)
			}
		})
	}
	cpus := d.CPUs()
	if len(cpus) != 2 || cpus[1].PID != 42 || cpus[1].Regs.RIP != 0xffffffff81000020 || cpus[0].Regs.RSP != 0xffffc90000003f00 {
		t.Errorf("CPUs = %+v", cpus)
	}
	vi := d.VMCOREINFO()
	if vi == nil || vi.OSRelease != "6.1.0-test" || vi.KernelOffset != 0xe000000 || vi.PhysBase != -438304768 || !vi.HasPhysBase {
		t.Fatalf("VMCOREINFO = %+v", vi)
	}
	wantRanges := []Range{{0x1000, 0x4000}, {0x10000, 0x15000}}
	if got := d.Ranges(); len(got) != 2 || got[0] != wantRanges[0] || got[1] != wantRanges[1] {
		t.Errorf("Ranges = %v", got)
	}
	c, err := d.CountPages(true)
	if err != nil || c.Present != 5 || c.Excluded != 3 {
		t.Errorf("CountPages = %+v, %v", c, err)
	}
}

func TestELFZeroExcluded(t *testing.T) {
	img := sampleELF().build()
	d, err := New(bytes.NewReader(img), int64(len(img)), Options{ZeroExcluded: true})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if _, err := d.ReadAt(buf, 0x11ff8); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:8], pattern(0x2000, 2)[0x1ff8:]) || !isZero(buf[8:]) {
		t.Errorf("got %x", buf)
	}
}

func TestELFTruncated(t *testing.T) {
	s := sampleELF()
	s.loads = s.loads[:2] // no overlapping copy that would survive the cut
	img := s.build()
	for _, frac := range []float64{0.1, 0.5, 0.99} {
		cut := int(float64(len(img)) * frac)
		d, err := New(bytes.NewReader(img[:cut]), int64(cut), Options{})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if len(d.Missing()) == 0 || !strings.Contains(strings.Join(d.Warnings(), "\n"), "truncated") {
			t.Fatalf("cut at %d: no truncation warning: %v", cut, d.Warnings())
		}
		m := d.Missing()[len(d.Missing())-1]
		buf := make([]byte, 1)
		if _, err := d.ReadAt(buf, m.End-1); !errors.Is(err, ErrNotInDump) {
			t.Errorf("cut at %d: read in missing range %v: %v", cut, m, err)
		}
	}
}

func TestELFMalformed(t *testing.T) {
	good := sampleELF().build()
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	le := binary.LittleEndian
	tests := []struct {
		name string
		img  []byte
		err  error
		msg  string
	}{
		{"not elf", []byte("hello world, not a dump"), ErrUnknownFormat, ""},
		{"elf32", mod(func(b []byte) []byte { b[4] = 1; return b }), ErrCorrupt, "ELF64"},
		{"vmlinux", mod(func(b []byte) []byte { le.PutUint16(b[16:], 2); return b }), ErrCorrupt, "ET_CORE"},
		{"huge phnum", mod(func(b []byte) []byte { le.PutUint16(b[56:], 0xfffe); return b }), ErrCorrupt, "program header"},
		{"phoff past end", mod(func(b []byte) []byte { le.PutUint64(b[32:], 1<<40); return b }), ErrCorrupt, "beyond the end"},
		{"header only", good[:40], ErrCorrupt, "cut short"},
		{"filesz > memsz", mod(func(b []byte) []byte { le.PutUint64(b[0xc0+2*56+40:], 1); return b }), ErrCorrupt, "p_filesz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(bytes.NewReader(tc.img), int64(len(tc.img)), Options{})
			if !errors.Is(err, tc.err) || d != nil {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestParseNotesBounds(t *testing.T) {
	n := noteBytes("CORE", ntPRStatus, prstatus(1, 2, 3))
	le := binary.LittleEndian
	bad := append([]byte(nil), n...)
	le.PutUint32(bad[4:], 0xffffffff)
	if _, err := parseNotes(bad, 0x100, "elf"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("oversized descsz: %v", err)
	}
	// A terminating empty note and zero padding, as in crash_notes buffers.
	padded := append(append([]byte(nil), n...), make([]byte, 64)...)
	notes, err := parseNotes(padded, 0, "elf")
	if err != nil || len(notes) != 1 {
		t.Errorf("padded: %d notes, %v", len(notes), err)
	}
}
