package vmcore

import "io"

// KdumpHeader holds the disk_dump_header and kdump_sub_header of a
// kdump-compressed dump (makedumpfile's diskdump_mod.h).
type KdumpHeader struct {
	Signature     string
	HeaderVersion int32
	Utsname       Utsname
	TimestampSec  int64
	TimestampUsec int64
	Status        uint32
	BlockSize     uint32
	SubHdrSize    uint32
	BitmapBlocks  uint32
	MaxMapnr      uint64
	CurrentCPU    int32
	NrCPUs        int32
	PhysBase      uint64
	DumpLevel     int32
}

// Utsname is the kernel's struct new_utsname as stored in dump headers.
type Utsname struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// openKdump is replaced by the real reader.
func openKdump(r io.ReaderAt, size int64, opts Options) (*backend, error) {
	return nil, errUnrecognized
}
