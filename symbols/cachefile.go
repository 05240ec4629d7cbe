package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Both cache files (the symbol table, the DWARF name index) start and
// end the same way (little-endian):
//
//	magic, 8 bytes, ending in the format's version
//	build-id length u32, build-id, padding to 8
//	vmlinux size u64, .debug_info size u64 (0 where it does not matter)
//	... the format's own body ...
//	CRC-32C of everything before it, u32

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// ErrIndexCache: a cache file is unusable (corrupt, truncated, or made
// for another vmlinux); what it held is rebuilt.
var ErrIndexCache = errors.New("unusable index cache file")

// indexKey identifies the vmlinux a cache file was made from.
type indexKey struct {
	buildID  string // hex
	fileSize uint64
	infoSize uint64
}

func appendCacheHeader(b []byte, magic string, key indexKey) []byte {
	le := binary.LittleEndian
	b = append(b, magic...)
	b = le.AppendUint32(b, uint32(len(key.buildID)))
	b = append(b, key.buildID...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	b = le.AppendUint64(b, key.fileSize)
	return le.AppendUint64(b, key.infoSize)
}

// appendCacheTrailer seals a cache file.
func appendCacheTrailer(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32c))
}

// cacheReader reads a cache file's body, bounds-checked.
type cacheReader struct {
	b   []byte // without the trailer
	off int
}

// openCacheFile checks a cache file's magic, checksum and key, and
// returns a reader at the start of its body.
func openCacheFile(b []byte, magic string, key indexKey) (*cacheReader, error) {
	bad := func(what string) (*cacheReader, error) { return nil, fmt.Errorf("%w: %s", ErrIndexCache, what) }
	le := binary.LittleEndian
	if len(b) < len(magic)+8 || string(b[:len(magic)]) != magic {
		return bad("not this kind of kcrash cache file (or another version)")
	}
	if crc32.Checksum(b[:len(b)-4], crc32c) != le.Uint32(b[len(b)-4:]) {
		return bad("checksum mismatch")
	}
	r := &cacheReader{b: b[:len(b)-4], off: len(magic)}
	idLen, _ := r.u32()
	id, ok := r.bytes(uint64(idLen))
	if !ok || string(id) != key.buildID {
		return bad("made for another build-id")
	}
	r.off = min((r.off+7)&^7, len(r.b))
	fsz, ok1 := r.u64()
	isz, ok2 := r.u64()
	if !ok1 || !ok2 || fsz != key.fileSize || isz != key.infoSize {
		return bad("made for a vmlinux of another size")
	}
	return r, nil
}

func (r *cacheReader) left() uint64 { return uint64(len(r.b) - r.off) }

func (r *cacheReader) u32() (uint32, bool) {
	if r.left() < 4 {
		return 0, false
	}
	r.off += 4
	return binary.LittleEndian.Uint32(r.b[r.off-4:]), true
}

func (r *cacheReader) u64() (uint64, bool) {
	if r.left() < 8 {
		return 0, false
	}
	r.off += 8
	return binary.LittleEndian.Uint64(r.b[r.off-8:]), true
}

// bytes returns the next n bytes, a slice of the file.
func (r *cacheReader) bytes(n uint64) ([]byte, bool) {
	if n > r.left() {
		return nil, false
	}
	r.off += int(n)
	return r.b[r.off-int(n) : r.off], true
}

// table reads a count and then count records of size bytes each.
func (r *cacheReader) table(size uint64) (data []byte, count uint64, ok bool) {
	n, ok := r.u64()
	if !ok || n > r.left()/size {
		return nil, 0, false
	}
	data, ok = r.bytes(n * size)
	return data, n, ok
}

// writeCacheFile writes the file under a temporary name and renames
// it, so a reader never sees half a file and two sessions do not
// collide.
func writeCacheFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	pruneCacheDir(filepath.Dir(path), maxCachedKernels, time.Now())
	return nil
}

// maxCachedKernels bounds each cache directory: triage of many dumps
// from many kernels would otherwise add 10-30 MB per build for ever.
const maxCachedKernels = 16

// pruneCacheDir keeps the keep most recently used cache files of dir
// (a session that loads one touches it: markUsed) and removes
// temporary files a killed session left over an hour ago. Errors are
// ignored: a cache that cannot be pruned still works.
func pruneCacheDir(dir string, keep int, now time.Time) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		used time.Time
	}
	var files []file
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if strings.HasSuffix(e.Name(), ".tmp") {
			if now.Sub(info.ModTime()) > time.Hour {
				os.Remove(p)
			}
			continue
		}
		files = append(files, file{p, info.ModTime()})
	}
	if len(files) <= keep {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return b.used.Compare(a.used) })
	for _, f := range files[keep:] {
		os.Remove(f.path)
	}
}

// markUsed records that a session used a cache file, for pruneCacheDir.
func markUsed(path string) {
	now := time.Now()
	os.Chtimes(path, now, now)
}

const emptySlot = 0xffffffff

// hashSlots builds an open-addressing table (FNV-1a, linear probing) of
// the given record indexes, keyed by name(index), at most half full.
func hashSlots(members []int, name func(int) string) []uint32 {
	size := 8
	for size < 2*len(members) {
		size *= 2
	}
	slots := make([]uint32, size)
	for i := range slots {
		slots[i] = emptySlot
	}
	mask := uint64(size - 1)
	for _, m := range members {
		h := fnv1a(name(m)) & mask
		for slots[h] != emptySlot {
			h = (h + 1) & mask
		}
		slots[h] = uint32(m)
	}
	return slots
}

// fnv1a is the 64-bit FNV-1a hash.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
