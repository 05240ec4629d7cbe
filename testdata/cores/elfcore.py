#!/usr/bin/env python3
"""Small ELF-core tools for the kcrash corpus.

elfcore.py vmcoreinfo FILE        print the VMCOREINFO note text
elfcore.py size FILE              print max(p_offset+p_filesz) (end of data)
elfcore.py fixphdr IN OUT         copy with the program headers moved to 0x40
                                  and section headers dropped (makedumpfile
                                  ignores e_phoff; QEMU 7.2 puts them at 0xc0)
elfcore.py percpu IN OUT          rewrite a QEMU ELF so that each CPU's notes
                                  (CORE NT_PRSTATUS + QEMU cpu state) are in
                                  their own PT_NOTE, VMCOREINFO in another,
                                  like kexec-tools' elfcorehdr before the
                                  capture kernel merges them. Each per-CPU
                                  segment ends with an empty (all-zero) note
                                  header, as the kernel's crash_notes buffers.
elfcore.py notes FILE             list PT_NOTE segments and notes
"""
import struct, sys

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
NHDR = struct.Struct("<III")
PT_LOAD, PT_NOTE = 1, 4

def a4(n):
    return (n + 3) & ~3

def read_headers(data):
    e = list(EHDR.unpack_from(data, 0))
    phoff, phnum = e[5], e[10]
    phdrs = [list(PHDR.unpack_from(data, phoff + i * PHDR.size)) for i in range(phnum)]
    return e, phdrs

def parse_notes(buf):
    out, off = [], 0
    while off + NHDR.size <= len(buf):
        namesz, descsz, typ = NHDR.unpack_from(buf, off)
        if namesz == 0:
            break
        end = off + NHDR.size + a4(namesz) + a4(descsz)
        name = buf[off + 12: off + 12 + namesz].rstrip(b"\0").decode()
        out.append((name, typ, buf[off:end]))
        off = end
    return out

def all_notes(data, phdrs):
    notes = []
    for p in phdrs:
        if p[0] == PT_NOTE:
            notes += parse_notes(data[p[2]: p[2] + p[5]])
    return notes

def load(path):
    with open(path, "rb") as f:
        return bytearray(f.read())

def cmd_vmcoreinfo(path):
    data = load(path)
    _, phdrs = read_headers(data)
    for name, typ, raw in all_notes(data, phdrs):
        if name == "VMCOREINFO":
            namesz, descsz, _ = NHDR.unpack_from(raw, 0)
            sys.stdout.write(raw[12 + a4(namesz): 12 + a4(namesz) + descsz].decode().rstrip("\0"))
            return
    sys.exit("no VMCOREINFO note")

def cmd_size(path):
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    _, phdrs = read_headers(head)
    print(max(p[2] + p[5] for p in phdrs))

def cmd_fixphdr(src, dst):
    data = load(src)
    e, phdrs = read_headers(data)
    phoff, phnum = e[5], e[10]
    assert phnum < 0xffff
    first_data = min(p[2] for p in phdrs if p[5])
    assert 0x40 + phnum * PHDR.size <= first_data
    table = data[phoff: phoff + phnum * PHDR.size]
    data[0x40: phoff + phnum * PHDR.size] = b"\0" * (phoff + phnum * PHDR.size - 0x40)
    data[0x40: 0x40 + len(table)] = table
    e[5] = 0x40            # e_phoff
    e[6] = 0               # e_shoff
    e[11] = 0              # e_shentsize
    e[12] = 0              # e_shnum
    e[13] = 0              # e_shstrndx
    EHDR.pack_into(data, 0, *e)
    with open(dst, "wb") as f:
        f.write(data)

def cmd_percpu(src, dst):
    data = load(src)
    e, phdrs = read_headers(data)
    notes = all_notes(data, phdrs)
    prs = [n for n in notes if n[0] == "CORE" and n[1] == 1]
    qemu = [n for n in notes if n[0] == "QEMU"]
    other_core = [n for n in notes if n[0] == "CORE" and n[1] != 1]
    vmci = [n for n in notes if n[0] == "VMCOREINFO"]
    rest = [n for n in notes if n[0] not in ("CORE", "QEMU", "VMCOREINFO")]
    assert not other_core and not rest, "unexpected notes"
    assert len(vmci) == 1 and (not qemu or len(qemu) == len(prs))
    segs = []
    for i, pr in enumerate(prs):
        blob = pr[2] + (qemu[i][2] if qemu else b"") + b"\0" * NHDR.size
        segs.append(blob)
    segs.append(vmci[0][2])
    loads = [p for p in phdrs if p[0] != PT_NOTE]
    nph = len(segs) + len(loads)
    off = 0x40 + nph * PHDR.size
    out = bytearray()
    newph = []
    for blob in segs:
        newph.append([PT_NOTE, 0, off, 0, 0, len(blob), len(blob), 0])
        out += blob
        off += len(blob)
    # keep the PT_LOAD data page aligned, as QEMU does
    pad = (-off) % 4096
    out += b"\0" * pad
    off += pad
    body = bytearray()
    for p in loads:
        np = list(p)
        np[2] = off + len(body)
        body += data[p[2]: p[2] + p[5]]
        newph.append(np)
    # e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    e[5], e[6], e[9], e[10], e[11], e[12], e[13] = 0x40, 0, PHDR.size, nph, 0, 0, 0
    with open(dst, "wb") as f:
        f.write(EHDR.pack(*e))
        for p in newph:
            f.write(PHDR.pack(*p))
        f.write(out)
        f.write(body)

def cmd_notes(path):
    data = load(path)
    e, phdrs = read_headers(data)
    print("e_phoff=%#x e_phnum=%d e_shoff=%#x e_shnum=%d" % (e[5], e[10], e[6], e[12]))
    for i, p in enumerate(phdrs):
        print("ph%-3d type=%d off=%#x vaddr=%#x paddr=%#x filesz=%#x memsz=%#x" %
              (i, p[0], p[2], p[3], p[4], p[5], p[6]))
        if p[0] == PT_NOTE:
            for name, typ, raw in parse_notes(data[p[2]: p[2] + p[5]]):
                print("    note %s type=%d size=%d" % (name, typ, len(raw)))

if __name__ == "__main__":
    c = sys.argv[1]
    {"vmcoreinfo": cmd_vmcoreinfo, "size": cmd_size, "fixphdr": cmd_fixphdr,
     "percpu": cmd_percpu, "notes": cmd_notes}[c](*sys.argv[2:])
