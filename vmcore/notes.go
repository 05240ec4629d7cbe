package vmcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// ELF note types found in vmcores (include/uapi/linux/elf.h).
const (
	ntPRStatus = 1
	ntPRPSInfo = 3
)

// sizes of the x86_64 structures carried in notes
// (include/uapi/linux/elfcore.h; formats.md §1a).
const (
	prstatusSize   = 336
	prstatusPIDOff = 32
	prstatusRegOff = 112
	userRegsSize   = 27 * 8
	qemuStateSize  = 432
	prpsinfoSize   = 136
)

// Note is one ELF note as found in the dump.
type Note struct {
	Name string
	Type uint32
	Desc []byte
	Off  int64 // file offset of the note header (0 when unknown)
}

// parseNotes walks a blob of ELF64 notes: Elf64_Nhdr{namesz, descsz,
// type}, the name and the descriptor each padded to 4 bytes. A note with
// n_namesz == 0 ends the list, as the kernel's final_note() does; zero
// padding after it is normal in per-CPU crash_notes buffers.
func parseNotes(b []byte, base int64, format string) ([]Note, error) {
	var notes []Note
	off := 0
	for off+12 <= len(b) {
		namesz := binary.LittleEndian.Uint32(b[off:])
		descsz := binary.LittleEndian.Uint32(b[off+4:])
		typ := binary.LittleEndian.Uint32(b[off+8:])
		if namesz == 0 {
			break
		}
		nameOff := off + 12
		descOff := nameOff + align4(int(namesz))
		end := descOff + align4(int(descsz))
		if uint64(namesz) > uint64(len(b)) || uint64(descsz) > uint64(len(b)) || descOff > len(b) || descOff+int(descsz) > len(b) {
			return notes, formatErr(format, base+int64(off), nil,
				"note (namesz %d, descsz %d) overruns its %d-byte segment", namesz, descsz, len(b))
		}
		name := string(bytes.TrimRight(b[nameOff:nameOff+int(namesz)], "\x00"))
		notes = append(notes, Note{Name: name, Type: typ, Desc: b[descOff : descOff+int(descsz)], Off: base + int64(off)})
		off = min(end, len(b))
	}
	return notes, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// Regs is the x86_64 register set of struct user_regs_struct, the layout
// of NT_PRSTATUS's pr_reg. Its first 21 fields are struct pt_regs.
type Regs struct {
	R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8             uint64
	RAX, RCX, RDX, RSI, RDI, OrigRAX, RIP, CS, EFLAGS, RSP, SS uint64
	FSBase, GSBase, DS, ES, FS, GS                             uint64
}

// RegNames lists Regs' fields in pr_reg order, lower case, for display.
var regNames = [27]string{"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
	"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
	"fs_base", "gs_base", "ds", "es", "fs", "gs"}

// RegNames returns the names of the registers in pr_reg order.
func RegNames() []string { return regNames[:] }

// Slice returns the registers in pr_reg order.
func (r *Regs) Slice() []uint64 {
	return []uint64{r.R15, r.R14, r.R13, r.R12, r.RBP, r.RBX, r.R11, r.R10, r.R9, r.R8,
		r.RAX, r.RCX, r.RDX, r.RSI, r.RDI, r.OrigRAX, r.RIP, r.CS, r.EFLAGS, r.RSP, r.SS,
		r.FSBase, r.GSBase, r.DS, r.ES, r.FS, r.GS}
}

func decodeRegs(b []byte) Regs {
	var v [27]uint64
	for i := range v {
		v[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	return Regs{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
		v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19], v[20],
		v[21], v[22], v[23], v[24], v[25], v[26]}
}

// QEMUSegment is one segment register of QEMU's cpu-state note.
type QEMUSegment struct {
	Selector, Limit, Flags uint32
	Base                   uint64
}

// QEMUCPUState is QEMU's per-vCPU "QEMU" note (QEMUCPUState in QEMU's
// target/i386/arch_dump.c; crash's defs.h mirrors it). It carries the
// control registers that NT_PRSTATUS lacks: CR3 is the page-table root
// and CR4 bit 12 says whether 5-level paging is on.
type QEMUCPUState struct {
	Version, Size                          uint32
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
	CS, DS, ES, FS, GS, SS, LDT, TR        QEMUSegment
	GDT, IDT                               QEMUSegment
	CR                                     [5]uint64
}

func decodeQEMUState(b []byte) *QEMUCPUState {
	le := binary.LittleEndian
	q := &QEMUCPUState{Version: le.Uint32(b), Size: le.Uint32(b[4:])}
	g := []*uint64{&q.RAX, &q.RBX, &q.RCX, &q.RDX, &q.RSI, &q.RDI, &q.RSP, &q.RBP,
		&q.R8, &q.R9, &q.R10, &q.R11, &q.R12, &q.R13, &q.R14, &q.R15, &q.RIP, &q.RFLAGS}
	for i, p := range g {
		*p = le.Uint64(b[8+i*8:])
	}
	segs := []*QEMUSegment{&q.CS, &q.DS, &q.ES, &q.FS, &q.GS, &q.SS, &q.LDT, &q.TR, &q.GDT, &q.IDT}
	for i, s := range segs {
		o := 152 + i*24
		*s = QEMUSegment{Selector: le.Uint32(b[o:]), Limit: le.Uint32(b[o+4:]), Flags: le.Uint32(b[o+8:]), Base: le.Uint64(b[o+16:])}
	}
	for i := range q.CR {
		q.CR[i] = le.Uint64(b[392+i*8:])
	}
	return q
}

// CPUState is what the dump recorded for one CPU at the crash.
type CPUState struct {
	// Index is the position of this CPU's NT_PRSTATUS among the dump's
	// notes. Notes are written for present CPUs in CPU order, so Index is
	// the CPU number unless CPUs are sparse.
	Index int
	// PID is pr_pid: the task running on the CPU (0 for an idle CPU). In
	// QEMU-made dumps it is the vCPU number plus one instead.
	PID  int32
	Regs Regs
	QEMU *QEMUCPUState // nil unless the dump is QEMU-made
}

// PRPSInfo is NT_PRPSINFO (struct elf_prpsinfo), which some dump writers
// add for the crashing task.
type PRPSInfo struct {
	State, SName, Zomb byte
	Nice               int8
	Flag               uint64
	UID, GID           uint32
	PID, PPID          int32
	PGrp, SID          int32
	FName              string
	PSArgs             string
}

// noteSet is the dump-level interpretation of all notes.
type noteSet struct {
	all        []Note
	cpus       []CPUState
	prpsinfo   *PRPSInfo
	vmcoreinfo *VMCoreInfo
	warnings   []string
}

func interpretNotes(notes []Note) noteSet {
	var ns noteSet
	ns.all = notes
	qemuIdx := 0
	le := binary.LittleEndian
	for _, n := range notes {
		switch {
		case n.Name == "CORE" && n.Type == ntPRStatus:
			if len(n.Desc) < prstatusRegOff+userRegsSize {
				ns.warnings = append(ns.warnings, fmt.Sprintf("NT_PRSTATUS at file offset %#x is %d bytes, want %d: ignored", n.Off, len(n.Desc), prstatusSize))
				continue
			}
			ns.cpus = append(ns.cpus, CPUState{
				Index: len(ns.cpus),
				PID:   int32(le.Uint32(n.Desc[prstatusPIDOff:])),
				Regs:  decodeRegs(n.Desc[prstatusRegOff:]),
			})
		case n.Name == "CORE" && n.Type == ntPRPSInfo && len(n.Desc) >= prpsinfoSize:
			d := n.Desc
			ns.prpsinfo = &PRPSInfo{
				State: d[0], SName: d[1], Zomb: d[2], Nice: int8(d[3]), Flag: le.Uint64(d[8:]),
				UID: le.Uint32(d[16:]), GID: le.Uint32(d[20:]),
				PID: int32(le.Uint32(d[24:])), PPID: int32(le.Uint32(d[28:])),
				PGrp: int32(le.Uint32(d[32:])), SID: int32(le.Uint32(d[36:])),
				FName:  cstring(d[40:56]),
				PSArgs: cstring(d[56:136]),
			}
		case n.Name == "QEMU":
			if len(n.Desc) < qemuStateSize {
				ns.warnings = append(ns.warnings, fmt.Sprintf("QEMU cpu-state note at file offset %#x is %d bytes, want %d: ignored", n.Off, len(n.Desc), qemuStateSize))
				continue
			}
			// QEMU writes each vCPU's NT_PRSTATUS and then its QEMU note.
			if qemuIdx < len(ns.cpus) {
				ns.cpus[qemuIdx].QEMU = decodeQEMUState(n.Desc)
			}
			qemuIdx++
		case n.Name == "VMCOREINFO":
			vi, err := ParseVMCOREINFO(n.Desc)
			if err != nil {
				ns.warnings = append(ns.warnings, fmt.Sprintf("VMCOREINFO note at file offset %#x: %v", n.Off, err))
			}
			if vi != nil && ns.vmcoreinfo == nil {
				ns.vmcoreinfo = vi
			}
		}
	}
	return ns
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
