package analyze

import (
	"encoding/binary"
	"fmt"
)

// ReadU64 reads a little-endian 64-bit value of kernel virtual memory;
// what names it in the error (crash's readmem "type").
func (k *Kernel) ReadU64(va VirtAddr, what string) (uint64, error) {
	var b [8]byte
	if err := k.ReadVirtual(b[:], va, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// ReadU32 reads a little-endian 32-bit value.
func (k *Kernel) ReadU32(va VirtAddr, what string) (uint32, error) {
	var b [4]byte
	if err := k.ReadVirtual(b[:], va, what); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// ReadPtr reads a pointer.
func (k *Kernel) ReadPtr(va VirtAddr, what string) (VirtAddr, error) {
	v, err := k.ReadU64(va, what)
	return VirtAddr(v), err
}

// readUint reads an unsigned integer of 1, 2, 4 or 8 bytes from b.
func readUint(b []byte, size int) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	panic(fmt.Sprintf("readUint: size %d", size))
}
