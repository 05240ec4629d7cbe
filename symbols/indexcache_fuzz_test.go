package symbols

import (
	"debug/dwarf"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// withCRC gives mutated input a valid checksum, so the fuzzer reaches
// the decoder's bounds checks instead of stopping at the checksum.
func withCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	b = append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32c))
	return b
}

func sampleIndex() (indexKey, []unitSpan, *typeIndex) {
	ix := newTypeIndex()
	ix.structs["task_struct"] = 0x40
	ix.structs["list_head"] = 0x20
	ix.typedefs["pid_t"] = 0x30
	ix.vars["jiffies_64"] = []varEntry{{typ: 0x50, addr: 0xffffffff82000000}, {typ: 0x60, addr: 0xffffffff82000008}}
	ix.funcs["schedule"] = funcEntry{die: 0x70, addr: 0xffffffff81000000}
	ix.enumVals["TASK_RUNNING"] = enumEntry{enum: dwarf.Offset(0x80)}
	return indexKey{buildID: "abcd", fileSize: 1 << 20, infoSize: 0x1000}, []unitSpan{{0, 0x800}, {0x800, 0x1000}}, ix
}

// FuzzIndexCache: decoding any bytes as a cached index, and looking
// names up in what it accepts, never panics or over-allocates.
func FuzzIndexCache(f *testing.F) {
	key, units, ix := sampleIndex()
	good := encodeIndex(key, units, len(units), ix)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeIndex(withCRC(b), key)
		if err != nil {
			return
		}
		for tab := range nameTables {
			for _, n := range []string{"task_struct", "jiffies_64", "", "zzz"} {
				c.first(tab, n)
				c.all(tab, n)
			}
		}
	})
}

// FuzzSymCache is FuzzIndexCache for the cached symbol table.
func FuzzSymCache(f *testing.F) {
	key := indexKey{buildID: "abcd", fileSize: 1 << 20}
	tab := NewTable([]Symbol{{"_text", 0xffffffff81000000, 'T'}, {"jiffies", 0xffffffff82000000, 'D'}, {"x", 0x10, 'A'}})
	good := encodeSymtab(key, tab, []Symbol{{".text", 0xffffffff81000000, 't'}})
	f.Add(good)
	f.Add(good[:len(good)-9])
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, _, err := decodeSymtab(withCRC(b), key)
		if err != nil {
			return
		}
		for _, n := range []string{"_text", "jiffies", "", "zzz"} {
			tab.Lookup(n)
		}
		tab.ByAddr(0xffffffff81000010)
		tab.Relocated(0x1000000).Lookup("jiffies")
	})
}
