// Package vmcore reads saved Linux kernel crash dumps and presents them as
// physical memory plus the per-CPU state and VMCOREINFO the crashed kernel
// left behind.
//
// It is the lowest layer of kcrash and imports no other kcrash package.
// Formats are probed once, in a fixed order, by [Open] / [New]:
//
//   - ELF64 vmcores: the kernel's own /proc/vmcore, kexec-tools' elfcorehdr
//     layout with one PT_NOTE per CPU, QEMU's dump-guest-memory ELF and
//     makedumpfile -E output (PT_LOADs whose p_filesz < p_memsz).
//   - makedumpfile's kdump-compressed format ("KDUMP   " and the older
//     "DISKDUMP"), with zlib, lzo, snappy and zstd pages.
//   - makedumpfile's flattened format (makedumpfile -F, QEMU's kdump-*),
//     read in place without running makedumpfile -R.
//   - LKCD v8/v9 (the lcrash format crash still reads), with raw, RLE and
//     zlib pages and the x86_64 asm header's registers.
//
// [Dump.Pages] visits every page frame once, in order, with its state;
// [WriteELF], [WriteKdump] and [WriteLKCD] convert a dump, compressing
// pages on all cores, and [Compare] checks a conversion page by page.
//
// Byte layouts and their sources are collected in the project's shared
// reference (formats.md); the per-format files here cite the structures
// they decode.
//
// Every read reports one of three distinct failures, checkable with
// errors.Is: [ErrExcluded] (the page existed but a filter left it out),
// [ErrNotInDump] (the address is outside every dumped range) and
// [ErrCorrupt] (the file contradicts itself; the error carries the byte
// offset). Sizes and counts read from headers are bounded before they are
// used to allocate, so a hostile header cannot make the reader allocate
// gigabytes.
package vmcore
