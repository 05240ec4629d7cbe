package commands

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/vmcore"
)

// fakeMem is memory 0x1000..0x3000 holding byte(addr), with the page at
// 0x2000 excluded.
func fakeMem(p []byte, addr uint64) error {
	for i := range p {
		a := addr + uint64(i)
		switch {
		case a >= 0x2000 && a < 0x3000:
			return &vmcore.ReadError{Addr: vmcore.PhysAddr(a), Err: vmcore.ErrExcluded}
		case a < 0x1000 || a >= 0x3000:
			return &vmcore.ReadError{Addr: vmcore.PhysAddr(a), Err: vmcore.ErrNotInDump}
		}
		p[i] = byte(a)
	}
	return nil
}

// The expected layouts follow crash's display_memory: a 16-wide
// right-justified address, "%016lx " values, and the ASCII column at
// column 37+16 for 64-bit values.
func TestDisplayMemoryLayout(t *testing.T) {
	tests := []struct {
		name string
		req  rdRequest
		want string
		err  string
	}{
		{"64 x3", rdRequest{addr: 0x1040, count: 3, size: 8, flags: rdHex | rdASCIIEndline, physical: true},
			"            1040:  4746454443424140 4f4e4d4c4b4a4948   @ABCDEFGHIJKLMNO\n" +
				"            1050:  5756555453525150                    PQRSTUVW\n", ""},
		{"32 x4", rdRequest{addr: 0x1060, count: 4, size: 4, flags: rdHex | rdASCIIEndline, physical: true},
			"            1060:  63626160 67666564 6b6a6968 6f6e6d6c   `abcdefghijklmno\n", ""},
		{"8 x5 no ascii", rdRequest{addr: 0x1041, count: 5, size: 1, flags: rdHex, physical: true},
			"            1041:  41 42 43 44 45 \n", ""},
		{"decimal 32", rdRequest{addr: 0x10fc, count: 1, size: 4, flags: rdDecimal, physical: true},
			"            10fc:        -66052 \n", ""},
		{"ascii", rdRequest{addr: 0x1041, count: 10, size: 0, flags: rdHex, physical: true},
			"            1041:  ABCDEFGHIJ\n", ""},
		{"excluded", rdRequest{addr: 0x1ff8, count: 4, size: 8, flags: rdHex | rdASCIIEndline, physical: true},
			"            1ff8:  fffefdfcfbfaf9f8 ",
			`page excluded: physical address: 2000  type: "64-bit PHYSADDR"`},
		{"not in dump", rdRequest{addr: 0x3000, count: 1, size: 8, flags: rdHex, physical: true},
			"", `address not in the dump: physical address: 3000  type: "64-bit PHYSADDR"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			err := displayMemory(context.Background(), &b, tc.req, fakeMem)
			if b.String() != tc.want {
				t.Errorf("output\n%q\nwant\n%q", b.String(), tc.want)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			if tc.err != "" && strings.HasPrefix(tc.err, "page excluded") && !errors.Is(err, vmcore.ErrExcluded) {
				t.Errorf("error does not wrap ErrExcluded")
			}
		})
	}
}

func TestGetopt(t *testing.T) {
	opts, ops, err := getopt([]string{"-p", "-64", "1000", "-x", "8"}, "Raxme:r:pfudDusSNo:81:3:6:")
	if err != nil || len(opts) != 3 || opts[1].c != '6' || opts[1].val != "4" || strings.Join(ops, ",") != "1000,8" {
		t.Fatalf("opts %+v operands %v err %v", opts, ops, err)
	}
	if _, _, err := getopt([]string{"-q"}, "ab"); err == nil {
		t.Error("unknown option accepted")
	}
}

func TestSplitWords(t *testing.T) {
	got, err := splitWords(`rd -p  "10 00" 'a;b' x`)
	if err != nil || strings.Join(got, "|") != "rd|-p|10 00|a;b|x" {
		t.Fatalf("%q %v", got, err)
	}
	if cmds := splitCommands(`rd 1; sym 'a;b' ; q`); len(cmds) != 3 {
		t.Fatalf("%q", cmds)
	}
}
