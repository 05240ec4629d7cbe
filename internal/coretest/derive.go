package coretest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// metaDump is one entry of a scenario's meta.json "dumps" list.
type metaDump struct {
	Name      string            `json:"name"`
	SHA256    string            `json:"sha256"`
	Committed *bool             `json:"committed"`
	MadeBy    map[string]string `json:"made_by"`
}

// derivable returns the meta.json entry of a dump the corpus script made
// from another committed dump by a pure transformation, so tests can
// remake it instead of the repository storing it.
func derivable(root, scenario, name string) (*metaDump, error) {
	b, err := os.ReadFile(filepath.Join(root, scenario, "meta.json"))
	if err != nil {
		return nil, err
	}
	var meta struct {
		Dumps []metaDump `json:"dumps"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return nil, err
	}
	for i := range meta.Dumps {
		d := &meta.Dumps[i]
		if d.Name == name && strings.HasPrefix(d.MadeBy["script"], "elfcore.py percpu vmcore.elf") {
			return d, nil
		}
	}
	return nil, errors.New("not derivable")
}

// splitNotesPerCPU rewrites a QEMU ELF vmcore into the layout kexec-tools'
// elfcorehdr has before the capture kernel merges the notes: each CPU's
// NT_PRSTATUS and QEMU note in a PT_NOTE of its own, ended by an empty
// note header as the kernel's crash_notes buffers are, and VMCOREINFO in
// another. It mirrors testdata/cores/elfcore.py's "percpu" command byte
// for byte (the result is checked against meta.json's sha256).
func splitNotesPerCPU(src []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(src) < 64 || string(src[:4]) != "\x7fELF" {
		return nil, errors.New("not ELF")
	}
	phoff, phnum := le.Uint64(src[32:]), int(le.Uint16(src[56:]))
	type phdr struct {
		typ, flags                              uint32
		off, vaddr, paddr, filesz, memsz, align uint64
	}
	read := func(i int) phdr {
		b := src[phoff+uint64(i)*56:]
		return phdr{le.Uint32(b), le.Uint32(b[4:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:]), le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint64(b[48:])}
	}
	type note struct {
		name string
		typ  uint32
		raw  []byte
	}
	var notes []note
	var loads []phdr
	for i := 0; i < phnum; i++ {
		p := read(i)
		if p.typ != 4 {
			loads = append(loads, p)
			continue
		}
		buf := src[p.off : p.off+p.filesz]
		for off := 0; off+12 <= len(buf); {
			namesz, descsz, typ := le.Uint32(buf[off:]), le.Uint32(buf[off+4:]), le.Uint32(buf[off+8:])
			if namesz == 0 {
				break
			}
			end := off + 12 + int((namesz+3)&^3) + int((descsz+3)&^3)
			notes = append(notes, note{string(bytes.TrimRight(buf[off+12:off+12+int(namesz)], "\x00")), typ, buf[off:end]})
			off = end
		}
	}
	var prs, qemu, vmci [][]byte
	for _, n := range notes {
		switch {
		case n.name == "CORE" && n.typ == 1:
			prs = append(prs, n.raw)
		case n.name == "QEMU":
			qemu = append(qemu, n.raw)
		case n.name == "VMCOREINFO":
			vmci = append(vmci, n.raw)
		default:
			return nil, fmt.Errorf("unexpected note %s/%d", n.name, n.typ)
		}
	}
	if len(vmci) != 1 || (len(qemu) != 0 && len(qemu) != len(prs)) {
		return nil, errors.New("unexpected note set")
	}
	var segs [][]byte
	for i, pr := range prs {
		blob := append([]byte(nil), pr...)
		if len(qemu) > 0 {
			blob = append(blob, qemu[i]...)
		}
		segs = append(segs, append(blob, make([]byte, 12)...))
	}
	segs = append(segs, vmci[0])
	nph := len(segs) + len(loads)
	off := uint64(0x40 + nph*56)
	var out bytes.Buffer
	hdr := append([]byte(nil), src[:64]...)
	le.PutUint64(hdr[32:], 0x40)
	le.PutUint64(hdr[40:], 0)
	le.PutUint16(hdr[54:], 56)
	le.PutUint16(hdr[56:], uint16(nph))
	le.PutUint16(hdr[58:], 0)
	le.PutUint16(hdr[60:], 0)
	le.PutUint16(hdr[62:], 0)
	out.Write(hdr)
	var notesBody bytes.Buffer
	var phs []phdr
	for _, blob := range segs {
		phs = append(phs, phdr{typ: 4, off: off, filesz: uint64(len(blob)), memsz: uint64(len(blob))})
		notesBody.Write(blob)
		off += uint64(len(blob))
	}
	pad := (4096 - off%4096) % 4096 // PT_LOAD data page aligned, as QEMU writes it
	notesBody.Write(make([]byte, pad))
	off += pad
	var body []byte
	for _, p := range loads {
		np := p
		np.off = off + uint64(len(body))
		body = append(body, src[p.off:p.off+p.filesz]...)
		phs = append(phs, np)
	}
	for _, p := range phs {
		var b [56]byte
		le.PutUint32(b[0:], p.typ)
		le.PutUint32(b[4:], p.flags)
		le.PutUint64(b[8:], p.off)
		le.PutUint64(b[16:], p.vaddr)
		le.PutUint64(b[24:], p.paddr)
		le.PutUint64(b[32:], p.filesz)
		le.PutUint64(b[40:], p.memsz)
		le.PutUint64(b[48:], p.align)
		out.Write(b[:])
	}
	out.Write(notesBody.Bytes())
	out.Write(body)
	return out.Bytes(), nil
}

// derive makes a derivable dump in the cache and checks its hash.
func derive(root, scenario, name, srcPath string, d *metaDump) (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "derived", d.SHA256[:16], name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	src, err := os.ReadFile(srcPath)
	if err != nil {
		return "", err
	}
	b, err := splitNotesPerCPU(src)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != d.SHA256 {
		return "", fmt.Errorf("derived %s has sha256 %x, meta.json says %s", name, sum, d.SHA256)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}
