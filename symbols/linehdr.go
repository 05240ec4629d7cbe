package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errLineHeader: a .debug_line header this reader cannot follow.
var errLineHeader = errors.New("malformed .debug_line header")

// lineSections are the raw sections a line-program header refers to.
type lineSections struct {
	line, lineStr, str []byte
}

// rawFileNames reads the file-name table of the line program at off and
// composes each name as gdb does (dwarf2_start_subfile): a relative name
// after its directory entry, verbatim — "./include/linux/x.h" and
// "amd/../perf_event.h" keep their dots, where debug/dwarf cleans them.
// Index i is the file number the line program uses (0-based in DWARF 5,
// 1-based before, where entry 0 is empty).
func rawFileNames(s lineSections, off int64) ([]string, error) {
	b := s.line
	if off < 0 || off >= int64(len(b)) {
		return nil, errLineHeader
	}
	r := &byteReader{b: b, p: int(off)}
	length := uint64(r.u32())
	dwarf64 := false
	if length == 0xffffffff {
		length, dwarf64 = r.u64(), true
	}
	end := r.p + int(min(length, uint64(len(b))))
	version := r.u16()
	if version < 2 || version > 5 {
		return nil, fmt.Errorf("%w: version %d", errLineHeader, version)
	}
	if version >= 5 {
		r.p += 2 // address_size, segment_selector_size
	}
	if dwarf64 {
		r.u64()
	} else {
		r.u32()
	}
	r.p += 1 // minimum_instruction_length
	if version >= 4 {
		r.p++ // maximum_operations_per_instruction
	}
	r.p += 3 // default_is_stmt, line_base, line_range
	opcodeBase := int(r.u8())
	r.p += opcodeBase - 1
	if r.err || r.p > end {
		return nil, errLineHeader
	}
	join := func(dir, file string) string {
		if file == "" || file[0] == '/' || dir == "" {
			return file
		}
		return dir + "/" + file
	}
	if version < 5 {
		dirs := []string{""} // gdb: directory 0 is the unit's, left off
		for r.p < end {
			d := r.cstr()
			if d == "" {
				break
			}
			dirs = append(dirs, d)
		}
		names := []string{""}
		for r.p < end && !r.err {
			f := r.cstr()
			if f == "" {
				break
			}
			di := r.uleb()
			r.uleb()
			r.uleb()
			dir := ""
			if di < uint64(len(dirs)) {
				dir = dirs[di]
			}
			names = append(names, join(dir, f))
		}
		if r.err {
			return nil, errLineHeader
		}
		return names, nil
	}
	type entry struct {
		path string
		dir  uint64
	}
	entries := func() ([]entry, error) {
		nfmt := int(r.u8())
		type pair struct{ typ, form uint64 }
		fmts := make([]pair, nfmt)
		for i := range fmts {
			fmts[i] = pair{r.uleb(), r.uleb()}
		}
		n := r.uleb()
		if n > uint64(len(b)) {
			return nil, errLineHeader
		}
		out := make([]entry, 0, n)
		for i := uint64(0); i < n && !r.err; i++ {
			var e entry
			for _, f := range fmts {
				v, str, err := r.form(f.form, dwarf64, s)
				if err != nil {
					return nil, err
				}
				switch f.typ {
				case 1: // DW_LNCT_path
					e.path = str
				case 2: // DW_LNCT_directory_index
					e.dir = v
				}
			}
			out = append(out, e)
		}
		if r.err {
			return nil, errLineHeader
		}
		return out, nil
	}
	dirEntries, err := entries()
	if err != nil {
		return nil, err
	}
	fileEntries, err := entries()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(fileEntries))
	for i, f := range fileEntries {
		dir := ""
		if f.dir < uint64(len(dirEntries)) {
			dir = dirEntries[f.dir].path
		}
		names[i] = join(dir, f.path)
	}
	return names, nil
}

type byteReader struct {
	b   []byte
	p   int
	err bool
}

func (r *byteReader) need(n int) bool {
	if r.p < 0 || r.p+n > len(r.b) {
		r.err = true
		return false
	}
	return true
}

func (r *byteReader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	r.p++
	return r.b[r.p-1]
}

func (r *byteReader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	r.p += 2
	return binary.LittleEndian.Uint16(r.b[r.p-2:])
}

func (r *byteReader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.p += 4
	return binary.LittleEndian.Uint32(r.b[r.p-4:])
}

func (r *byteReader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.p += 8
	return binary.LittleEndian.Uint64(r.b[r.p-8:])
}

func (r *byteReader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.u8()
		if r.err {
			return 0
		}
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *byteReader) cstr() string {
	start := r.p
	for r.p < len(r.b) {
		if r.b[r.p] == 0 {
			r.p++
			return string(r.b[start : r.p-1])
		}
		r.p++
	}
	r.err = true
	return ""
}

func strAt(sec []byte, off uint64) (string, error) {
	if off >= uint64(len(sec)) {
		return "", errLineHeader
	}
	r := &byteReader{b: sec, p: int(off)}
	s := r.cstr()
	if r.err {
		return "", errLineHeader
	}
	return s, nil
}

// form reads one attribute value of the header's entry formats.
func (r *byteReader) form(form uint64, dwarf64 bool, s lineSections) (uint64, string, error) {
	offset := func() uint64 {
		if dwarf64 {
			return r.u64()
		}
		return uint64(r.u32())
	}
	switch form {
	case 0x08: // DW_FORM_string
		return 0, r.cstr(), nil
	case 0x1f: // DW_FORM_line_strp
		str, err := strAt(s.lineStr, offset())
		return 0, str, err
	case 0x0e: // DW_FORM_strp
		str, err := strAt(s.str, offset())
		return 0, str, err
	case 0x0f: // DW_FORM_udata
		return r.uleb(), "", nil
	case 0x0b: // DW_FORM_data1
		return uint64(r.u8()), "", nil
	case 0x05: // DW_FORM_data2
		return uint64(r.u16()), "", nil
	case 0x06: // DW_FORM_data4
		return uint64(r.u32()), "", nil
	case 0x07: // DW_FORM_data8
		return r.u64(), "", nil
	case 0x1e: // DW_FORM_data16
		r.p += 16
		return 0, "", nil
	case 0x09: // DW_FORM_block
		n := r.uleb()
		r.p += int(min(n, uint64(len(r.b))))
		return 0, "", nil
	}
	return 0, "", fmt.Errorf("%w: form %#x", errLineHeader, form)
}
