package commands

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/vmcore"
)

func rdCommand() Command {
	return Command{
		Name:     "rd",
		Summary:  "read memory",
		Synopsis: "rd [-adDsSupxmfNR][-8|-16|-32|-64][-o offs][-e addr][-r file][address|symbol] [count]",
		Help: `  This command displays the contents of memory, with the output formatted
  in several different manners.  The starting address may be entered either
  symbolically or by address.  The default output size is the size of a long
  data type, and the default output format is hexadecimal.  When hexadecimal
  output is used, the output will be accompanied by an ASCII translation.

       -p  address argument is a physical address.
       -d  display output in signed decimal format (default is hexadecimal).
       -D  display output in unsigned decimal format (default is hexadecimal).
       -8  display 8-bit values.
      -16  display 16-bit values.
      -32  display 32-bit values.
      -64  display 64-bit values (default on 64-bit machines).
       -a  display ASCII string at address (stops at the first non-printable
           character when no count is given).
       -N  display output in network byte order (only valid for 16- and 32-bit
           values).
       -R  display memory in reverse order; the address is the last one shown.
       -s  displays output symbolically when appropriate.
       -x  do not display ASCII translation at end of each line.
  -o offs  offset the starting address by offs.
  -e addr  display memory until reaching specified ending hexadecimal address.
  address  starting hexadecimal address; a physical address with -p.
    count  number of memory locations to display (default 1).

  A page that the dump tool filtered out fails with "page excluded", an
  address outside every range of the dump with "address not in the dump".

  EXAMPLES
    Display 4 64-bit values of physical memory at 0x1000:

      kcrash> rd -p 1000 4
                  1000:  0000000000000000 0000000000000000   ................
                  1010:  0000000000000000 0000000000000000   ................`,
		Run: runRd,
	}
}

// rd display flags, as crash's display_memory knows them.
const (
	rdHex = 1 << iota
	rdDecimal
	rdUDecimal
	rdASCIIEndline
	rdNoASCII
	rdNetEndian
)

type rdRequest struct {
	addr     uint64
	count    int64 // items; -1 = unlimited (ASCII until non-printable)
	size     int   // bytes per item: 1, 2, 4, 8; 0 = ASCII
	flags    int
	physical bool
	// symbolize names a 64-bit value for -s (crash's value_to_symstr);
	// "" leaves it in hex.
	symbolize func(uint64) string
}

func runRd(ctx context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "Raxme:r:pfudDusSNo:81:3:6:")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	req := rdRequest{size: 8, flags: rdHex, count: -2}
	var endAddr, offset uint64
	reverse, symbolic := false, false
	for _, o := range opts {
		switch o.c {
		case 'R':
			reverse = true
		case 'a':
			req.size = 0
		case '8':
			req.size = 1
		case '1', '3', '6':
			want := map[byte]string{'1': "6", '3': "2", '6': "4"}[o.c]
			if o.val != want {
				return &UsageError{Msg: fmt.Sprintf("invalid option: %c%s", o.c, o.val)}
			}
			req.size = map[byte]int{'1': 2, '3': 4, '6': 8}[o.c]
		case 'e':
			if endAddr, err = parseHex(o.val); err != nil {
				return err
			}
		case 'o':
			if offset, err = parseNumber(o.val); err != nil {
				return err
			}
		case 'p':
			req.physical = true
		case 'd':
			req.flags = req.flags&^(rdHex|rdUDecimal) | rdDecimal
		case 'D':
			req.flags = req.flags&^(rdHex|rdDecimal) | rdUDecimal
		case 'x':
			req.flags |= rdNoASCII
		case 'N':
			req.flags |= rdNetEndian
		case 's':
			if req.size != 8 {
				return fmt.Errorf("-s option is only allowed with 64-bit display")
			}
			symbolic = true
		case 'u', 'S', 'm', 'f', 'r':
			return fmt.Errorf("option -%c is not supported yet", o.c)
		}
	}
	if len(operands) == 0 || len(operands) > 2 {
		return &UsageError{Msg: "an address is required"}
	}
	if req.addr, err = resolveAddress(env, operands[0]); err != nil {
		return err
	}
	req.addr += offset
	if len(operands) == 2 {
		if req.count, err = strconv.ParseInt(operands[1], 0, 64); err != nil || req.count <= 0 {
			return fmt.Errorf("invalid count request: %s", operands[1])
		}
	}
	if req.count == -2 {
		switch {
		case endAddr != 0:
			if endAddr <= req.addr {
				return fmt.Errorf("invalid ending address: %x", endAddr)
			}
			req.count = int64(endAddr-req.addr) / int64(max(req.size, 1))
			if req.count == 0 {
				req.count = 1
			}
		case req.size == 0:
			req.count = -1
		default:
			req.count = 1
		}
	}
	if symbolic && req.size == 8 && req.flags&rdHex != 0 {
		v, err := newSymView(env.Kernel)
		if err != nil {
			return err
		}
		req.symbolize = v.symStr
	}
	if req.flags&rdHex != 0 && req.flags&rdNoASCII == 0 && req.size != 0 && req.symbolize == nil {
		req.flags |= rdASCIIEndline
	}
	if reverse && req.count > 1 {
		req.addr -= uint64((req.count - 1) * int64(max(req.size, 1)))
	}
	mem := func(p []byte, addr uint64) error {
		_, err := env.Kernel.ReadPhys(p, vmcore.PhysAddr(addr))
		return err
	}
	if !req.physical {
		mem = func(p []byte, addr uint64) error {
			return env.Kernel.ReadVirtual(p, analyze.VirtAddr(addr), "rd")
		}
	}
	if env.JSON {
		return rdJSON(ctx, env.Out, req, mem)
	}
	return displayMemory(ctx, env.Out, req, mem)
}

// maxASCIIUnlimited bounds "rd -a" without a count, as crash does with
// its ASCII_UNLIMITED, but at a size a terminal can take.
const maxASCIIUnlimited = 1 << 20

// displayMemory prints memory in crash's display_memory layout: a
// right-justified 16-digit address, the values, and for hexadecimal
// output an ASCII column starting at a fixed position.
func displayMemory(ctx context.Context, w io.Writer, req rdRequest, read func([]byte, uint64) error) error {
	var b strings.Builder
	defer func() { io.WriteString(w, b.String()) }()
	addr := req.addr
	if req.size == 0 {
		return displayASCII(ctx, &b, req, read)
	}
	perLine := 16 / req.size
	asciiStart := map[int]int{1: 51, 2: 43, 4: 39, 8: 37}[req.size] + 16
	var hexchars []byte
	lineLen := 0
	buf := make([]byte, req.size)
	for i := int64(0); i < req.count; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := read(buf, addr); err != nil {
			// Like crash, leave the line as it stands: the error follows it.
			return readFailure(err, addr, req)
		}
		if i%int64(perLine) == 0 {
			if i != 0 {
				if req.flags&rdASCIIEndline != 0 {
					b.WriteString("  " + string(hexchars))
				}
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%16x:  ", addr)
			hexchars = hexchars[:0]
			lineLen = 16 + 3
		}
		v := readUint(buf, req.flags&rdNetEndian != 0)
		s := formatValue(v, req.size, req.flags)
		if req.symbolize != nil {
			if name := req.symbolize(v); name != "" {
				s = fmt.Sprintf("%-16s ", name)
			}
		}
		b.WriteString(s)
		lineLen += len(s)
		for _, c := range buf {
			if c >= 0x20 && c < 0x7f {
				hexchars = append(hexchars, c)
			} else {
				hexchars = append(hexchars, '.')
			}
		}
		addr += uint64(req.size)
	}
	if req.flags&rdASCIIEndline != 0 && len(hexchars) > 0 {
		if pad := asciiStart - lineLen; pad > 0 {
			b.WriteString(strings.Repeat(" ", pad))
		}
		b.WriteString("  " + string(hexchars))
	}
	b.WriteString("\n")
	return nil
}

func readUint(buf []byte, netEndian bool) uint64 {
	switch len(buf) {
	case 1:
		return uint64(buf[0])
	case 2:
		if netEndian {
			return uint64(binary.BigEndian.Uint16(buf))
		}
		return uint64(binary.LittleEndian.Uint16(buf))
	case 4:
		if netEndian {
			return uint64(binary.BigEndian.Uint32(buf))
		}
		return uint64(binary.LittleEndian.Uint32(buf))
	}
	return binary.LittleEndian.Uint64(buf)
}

// formatValue renders one item with crash's field widths.
func formatValue(v uint64, size, flags int) string {
	switch {
	case flags&rdHex != 0:
		return fmt.Sprintf("%0*x ", size*2, v)
	case flags&rdDecimal != 0:
		width := map[int]int{1: 3, 2: 5, 4: 12, 8: 15}[size]
		// crash passes u8 and u16 through C's int promotion (so they print
		// unsigned) but prints u32 and u64 as signed.
		sv := int64(v)
		if size == 4 {
			sv = int64(int32(v))
		}
		return fmt.Sprintf("%*d ", width, sv)
	default:
		width := map[int]int{1: 3, 2: 5, 4: 12, 8: 20}[size]
		return fmt.Sprintf("%*d ", width, v)
	}
}

func displayASCII(ctx context.Context, b *strings.Builder, req rdRequest, read func([]byte, uint64) error) error {
	const perLine = 60
	count := req.count
	unlimited := count < 0
	if unlimited {
		count = maxASCIIUnlimited
	}
	addr := req.addr
	a, displayed := 0, 0
	var c [1]byte
	for i := int64(0); i < count; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := read(c[:], addr); err != nil {
			return readFailure(err, addr, req)
		}
		if c[0] >= 0x20 && c[0] < 0x7f {
			if a%perLine == 0 {
				if displayed > 0 && i > 0 {
					b.WriteString("\n")
				}
				fmt.Fprintf(b, "%16x:  ", addr)
			}
			b.WriteByte(c[0])
			displayed++
			a++
		} else {
			if unlimited {
				break
			}
			a = 0
		}
		addr++
	}
	b.WriteString("\n")
	return nil
}

// readFailure words a failed read as crash does ("page excluded: physical
// address: 1f000  type: \"64-bit PHYSADDR\""), so scripts that look for
// crash's text keep working; an address outside the dump says so plainly
// where crash would say "seek error".
func readFailure(err error, addr uint64, req rdRequest) error {
	kind := "64-bit"
	switch req.size {
	case 0:
		kind = "ascii"
	case 1, 2, 4:
		kind = fmt.Sprintf("%d-bit", req.size*8)
	}
	space, tag := "physical", "PHYSADDR"
	if !req.physical {
		space, tag = "kernel virtual", "KVADDR"
	}
	typ := fmt.Sprintf("%s %s", kind, tag)
	if req.size == 0 {
		typ = "ascii"
	}
	what := "address not in the dump"
	switch {
	case errors.Is(err, vmcore.ErrExcluded):
		what = "page excluded"
	case errors.Is(err, vmcore.ErrCorrupt):
		what = "read error (corrupt dump)"
	}
	return &ReadFailure{Msg: fmt.Sprintf("%s: %s address: %x  type: \"%s\"", what, space, addr, typ), Err: err}
}

// ReadFailure is a memory read that failed inside a command.
type ReadFailure struct {
	Msg string
	Err error
}

func (e *ReadFailure) Error() string { return e.Msg }
func (e *ReadFailure) Unwrap() error { return e.Err }

// rdJSON emits {"address": "0x…", "size": 8, "values": [...]}, with a
// "error" member when the read stopped early.
func rdJSON(ctx context.Context, w io.Writer, req rdRequest, read func([]byte, uint64) error) error {
	out := struct {
		Address  string   `json:"address"`
		Physical bool     `json:"physical"`
		Size     int      `json:"size"`
		Values   []uint64 `json:"values,omitempty"`
		String   *string  `json:"string,omitempty"`
		Error    string   `json:"error,omitempty"`
	}{Address: fmt.Sprintf("%#x", req.addr), Physical: req.physical, Size: req.size}
	var failure error
	if req.size == 0 {
		var sb strings.Builder
		n := req.count
		if n < 0 {
			n = maxASCIIUnlimited
		}
		var c [1]byte
		for i := int64(0); i < n; i++ {
			if err := read(c[:], req.addr+uint64(i)); err != nil {
				failure = readFailure(err, req.addr+uint64(i), req)
				break
			}
			if c[0] == 0 && req.count < 0 {
				break
			}
			sb.WriteByte(c[0])
		}
		s := sb.String()
		out.String = &s
	} else {
		buf := make([]byte, req.size)
		for i := int64(0); i < req.count; i++ {
			if i%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			a := req.addr + uint64(i)*uint64(req.size)
			if err := read(buf, a); err != nil {
				failure = readFailure(err, a, req)
				break
			}
			out.Values = append(out.Values, readUint(buf, req.flags&rdNetEndian != 0))
		}
	}
	if failure != nil {
		out.Error = failure.Error()
	}
	enc := json.NewEncoder(w)
	if err := enc.Encode(out); err != nil {
		return err
	}
	return failure
}

// resolveAddress reads an address operand as crash does: hexadecimal
// if it parses as such, else a symbol name.
func resolveAddress(env *Env, s string) (uint64, error) {
	if v, err := parseHex(s); err == nil {
		return v, nil
	}
	tab, err := env.Kernel.Symbols()
	if err != nil {
		return 0, fmt.Errorf("symbol not found: %s (%v)", s, err)
	}
	sym, ok := tab.Lookup(s)
	if !ok {
		return 0, fmt.Errorf("symbol not found: %s", s)
	}
	return sym.Addr, nil
}

// parseHex reads an address the way crash does: hexadecimal, with or
// without 0x.
func parseHex(s string) (uint64, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" || len(h) > 16 {
		return 0, fmt.Errorf("invalid hexadecimal address: %s", s)
	}
	v, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid hexadecimal address: %s", s)
	}
	return v, nil
}

// parseNumber reads a count or offset: decimal, or hex with 0x.
func parseNumber(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid number: %s", s)
	}
	return v, nil
}
