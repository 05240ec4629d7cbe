package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"sort"
	"syscall"
	"unsafe"
)

// Types are decoded from one compilation unit at a time: debug/dwarf.New
// over a whole distribution vmlinux parses every unit's abbreviation
// table (a fifth of a second before the first answer), while a kernel
// type and everything it refers to live in the unit that defines it.
// Each unit gets its own debug/dwarf.Data over its bytes of .debug_info,
// so DIE offsets inside it are relative to the unit's start. A unit
// whose abbreviations allow references into other units
// (DW_FORM_ref_addr and friends, which GCC emits only for LTO or
// type units) is read through a reader over the whole section instead.

// mapFile maps the vmlinux and finds its uncompressed DWARF sections.
func (t *Types) mapFile() error {
	file := t.v.file
	if file == nil {
		if file, _ = t.v.r.(*os.File); file == nil {
			return errors.New("not a file")
		}
	}
	st, err := file.Stat()
	if err != nil {
		return err
	}
	if st.Size() <= 0 || st.Size() != int64(int(st.Size())) {
		return errors.New("cannot map the file")
	}
	sec := map[string][]byte{}
	for _, s := range t.v.f.Sections {
		if len(s.Name) < 7 || s.Name[:7] != ".debug_" || s.Type == elf.SHT_NOBITS {
			continue
		}
		if s.Flags&elf.SHF_COMPRESSED != 0 || s.Offset+s.Size > uint64(st.Size()) || s.Offset+s.Size < s.Offset {
			return fmt.Errorf("section %s cannot be mapped", s.Name)
		}
		sec[s.Name] = nil
	}
	if _, ok := sec[".debug_info"]; !ok {
		return errors.New("no .debug_info")
	}
	m, err := syscall.Mmap(int(file.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return err
	}
	for name := range sec {
		s := t.v.f.Section(name)
		sec[name] = m[s.Offset : s.Offset+s.Size : s.Offset+s.Size]
	}
	t.mapping, t.fileSize = m, uint64(st.Size())
	t.secs = &dieSections{info: sec[".debug_info"], abbrev: sec[".debug_abbrev"], str: sec[".debug_str"],
		lineStr: sec[".debug_line_str"], strOffsets: sec[".debug_str_offsets"], addr: sec[".debug_addr"], all: sec,
		releaseFn: func(b []byte, lo, hi int) { releasePages(m, b, lo, hi) }}
	infoOff := int64(t.v.f.Section(".debug_info").Offset)
	t.secs.readHeader = func(b []byte, off int) (int, error) { return file.ReadAt(b, infoOff+int64(off)) }
	return nil
}

// releasePages tells the kernel the process is done with the whole
// pages of b[lo:hi], b being part of the mapping m.
func releasePages(m, b []byte, lo, hi int) {
	if lo < 0 || hi > len(b) || lo >= hi || len(b) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(&m[0]))
	start := uintptr(unsafe.Pointer(&b[0])) - base + uintptr(lo)
	end := start + uintptr(hi-lo)
	page := uintptr(os.Getpagesize())
	start = (start + page - 1) &^ (page - 1)
	end &^= page - 1
	if start < end && end <= uintptr(len(m)) {
		syscall.Madvise(m[start:end], syscall.MADV_DONTNEED)
	}
}

// unitOf returns the reader for the unit holding the DIE at off and the
// unit's start (subtract it from off). t.mu must be held.
func (t *Types) unitOf(off dwarf.Offset) (*dwarf.Data, dwarf.Offset, error) {
	if t.secs == nil {
		d, err := t.globalLocked()
		return d, 0, err
	}
	o := uint64(off)
	i := sort.Search(len(t.units), func(i int) bool { return t.units[i].end > o })
	if i == len(t.units) || o < t.units[i].start {
		return nil, 0, fmt.Errorf("DIE %#x is in no compilation unit", o)
	}
	u := t.units[i]
	if d, ok := t.unitData[i]; ok {
		if d == nil { // the unit refers to others
			d, err := t.globalLocked()
			return d, 0, err
		}
		return d, dwarf.Offset(u.start), nil
	}
	if t.unitData == nil {
		t.unitData = map[int]*dwarf.Data{}
	}
	self, err := t.secs.unitSelfContained(u)
	if err != nil {
		return nil, 0, fmt.Errorf("unit at %#x: %w", u.start, err)
	}
	if !self {
		t.unitData[i] = nil
		d, err := t.globalLocked()
		return d, 0, err
	}
	d, err := t.secs.newData(t.secs.info[u.start:u.end])
	if err != nil {
		return nil, 0, fmt.Errorf("unit at %#x: %w", u.start, err)
	}
	t.unitData[i] = d
	return d, dwarf.Offset(u.start), nil
}

// globalLocked is debug/dwarf over the whole .debug_info, made once.
// t.mu must be held.
func (t *Types) globalLocked() (*dwarf.Data, error) {
	if t.global == nil && t.globalErr == nil {
		if t.secs != nil {
			t.global, t.globalErr = t.secs.newData(t.secs.info)
		} else {
			t.global, t.globalErr = t.v.f.DWARF()
		}
		if t.globalErr != nil {
			t.globalErr = fmt.Errorf("%s: %w: %v", t.v.Path, ErrNoDWARF, t.globalErr)
		}
	}
	return t.global, t.globalErr
}

// newData is debug/dwarf over the given .debug_info bytes and the
// mapped companion sections.
func (s *dieSections) newData(info []byte) (*dwarf.Data, error) {
	a := s.all
	d, err := dwarf.New(a[".debug_abbrev"], a[".debug_aranges"], a[".debug_frame"], info,
		a[".debug_line"], a[".debug_pubnames"], a[".debug_ranges"], a[".debug_str"])
	if err != nil {
		return nil, err
	}
	for _, name := range dwarf5Sections {
		if b := a[name]; b != nil {
			if err := d.AddSection(name, b); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// unitSelfContained reports a unit whose abbreviations have no form
// that reaches outside it.
func (s *dieSections) unitSelfContained(u unitSpan) (bool, error) {
	h, err := s.unitHeaderAt(int(u.start))
	if err != nil {
		return false, err
	}
	for _, ab := range h.abbrev {
		if ab == nil {
			continue
		}
		for _, at := range ab.attrs {
			switch at.form {
			case 0x10, 0x20, 0x1c, 0x24, 0x16, 0x1f20, 0x1f21:
				// ref_addr, ref_sig8, ref_sup4, ref_sup8, indirect,
				// GNU_ref_alt, GNU_strp_alt
				return false, nil
			}
		}
	}
	return true, nil
}
