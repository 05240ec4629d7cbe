package symbols

import (
	"errors"
	"fmt"
)

// errAranges: a .debug_aranges set this reader cannot follow.
var errAranges = errors.New("malformed .debug_aranges")

// parseAranges reads .debug_aranges (DWARF 2-5, section 6.1.2): the
// address ranges of each compilation unit, keyed by the offset of the
// unit's header in .debug_info. Sets may list a unit more than once;
// their ranges add up. Empty ranges are dropped; a unit whose set lists
// none is left out. Only 8-byte addresses without segments are read, as
// an x86-64 vmlinux has them; any other set is an error, like a set that
// runs past the section.
func parseAranges(b []byte) (map[uint64][][2]uint64, error) {
	out := map[uint64][][2]uint64{}
	for p := 0; p < len(b); {
		set := p
		r := &byteReader{b: b, p: p}
		length := uint64(r.u32())
		dwarf64 := false
		if length == 0xffffffff {
			length, dwarf64 = r.u64(), true
		}
		if r.err || length > uint64(len(b)-r.p) {
			return nil, fmt.Errorf("%w: set at %#x: length %#x", errAranges, set, length)
		}
		end := r.p + int(length)
		r.b = b[:end] // nothing in the set reads past it
		version := r.u16()
		var unit uint64
		if dwarf64 {
			unit = r.u64()
		} else {
			unit = uint64(r.u32())
		}
		addrSize, segSize := r.u8(), r.u8()
		if r.err {
			return nil, fmt.Errorf("%w: set at %#x: truncated header", errAranges, set)
		}
		if version != 2 && version != 3 {
			return nil, fmt.Errorf("%w: set at %#x: version %d", errAranges, set, version)
		}
		if addrSize != 8 || segSize != 0 {
			return nil, fmt.Errorf("%w: set at %#x: address size %d, segment size %d", errAranges, set, addrSize, segSize)
		}
		// The tuples start at a multiple of their size from the set.
		const tuple = 16
		if rem := (r.p - set) % tuple; rem != 0 {
			r.p += tuple - rem
		}
		for r.p+tuple <= end {
			lo, n := r.u64(), r.u64()
			if lo == 0 && n == 0 {
				break
			}
			if n == 0 || lo+n < lo {
				continue
			}
			out[unit] = append(out[unit], [2]uint64{lo, lo + n})
		}
		p = end
	}
	return out, nil
}
