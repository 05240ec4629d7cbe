package vmcore

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// maxVMCOREINFO bounds the note text we accept: the kernel reserves one
// page for it (VMCOREINFO_BYTES), so anything much larger is corruption.
const maxVMCOREINFO = 1 << 20

// VMCoreInfo is the parsed VMCOREINFO note (kernel/vmcore_info.c,
// crash_save_vmcoreinfo_init and arch_crash_save_vmcoreinfo).
//
// Fields whose key may be missing come with a Has* flag, as drgn's
// have_phys_base does: a zero phys_base and an unknown one are different
// facts.
type VMCoreInfo struct {
	OSRelease string
	PageSize  uint64
	BuildID   string

	KernelOffset    uint64 // KERNELOFFSET: the KASLR slide of the kernel image
	HasKernelOffset bool
	PhysBase        int64 // NUMBER(phys_base): may be negative
	HasPhysBase     bool
	CrashTime       int64 // CRASHTIME: seconds since the epoch
	HasCrashTime    bool

	Symbols map[string]uint64 // SYMBOL(name)=hex
	Offsets map[string]int64  // OFFSET(struct.member)
	Sizes   map[string]int64  // SIZE(type)
	Lengths map[string]int64  // LENGTH(name)
	Numbers map[string]int64  // NUMBER(name)
	Config  map[string]string // CONFIG_X=y

	// Keys holds every key in note order; Values the raw value of each.
	Keys   []string
	Values map[string]string
	Raw    string // the note text as found
}

// ParseVMCOREINFO parses the text of a VMCOREINFO note. Unknown keys are
// kept in Values; malformed lines are reported, but the caller decides
// whether a partial result is usable (a dump with one bad line still has
// the rest).
func ParseVMCOREINFO(text []byte) (*VMCoreInfo, error) {
	if len(text) > maxVMCOREINFO {
		return nil, fmt.Errorf("VMCOREINFO of %d bytes exceeds %d: %w", len(text), maxVMCOREINFO, ErrCorrupt)
	}
	raw := strings.TrimRight(string(text), "\x00")
	vi := &VMCoreInfo{
		Raw:     raw,
		Symbols: map[string]uint64{},
		Offsets: map[string]int64{},
		Sizes:   map[string]int64{},
		Lengths: map[string]int64{},
		Numbers: map[string]int64{},
		Config:  map[string]string{},
		Values:  map[string]string{},
	}
	var bad []string
	for lineNo, line := range strings.Split(raw, "\n") {
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			bad = append(bad, fmt.Sprintf("line %d %q", lineNo+1, clip(line)))
			continue
		}
		if _, dup := vi.Values[key]; !dup {
			vi.Keys = append(vi.Keys, key)
		}
		vi.Values[key] = val
		if err := vi.setKey(key, val); err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", lineNo+1, err))
		}
	}
	if len(bad) > 0 {
		return vi, fmt.Errorf("VMCOREINFO: malformed %s: %w", strings.Join(bad, "; "), ErrCorrupt)
	}
	return vi, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func (vi *VMCoreInfo) setKey(key, val string) error {
	if name, ok := bracketed(key, "SYMBOL"); ok {
		v, err := strconv.ParseUint(val, 16, 64)
		if err != nil {
			return fmt.Errorf("%s: %q is not hex", key, clip(val))
		}
		vi.Symbols[name] = v
		return nil
	}
	for _, kind := range []struct {
		prefix string
		m      map[string]int64
	}{{"OFFSET", vi.Offsets}, {"SIZE", vi.Sizes}, {"LENGTH", vi.Lengths}, {"NUMBER", vi.Numbers}} {
		name, ok := bracketed(key, kind.prefix)
		if !ok {
			continue
		}
		v, err := parseSigned(val)
		if err != nil {
			return fmt.Errorf("%s: %q is not a number", key, clip(val))
		}
		kind.m[name] = v
		if kind.prefix == "NUMBER" && name == "phys_base" {
			vi.PhysBase, vi.HasPhysBase = v, true
		}
		return nil
	}
	switch {
	case key == "OSRELEASE":
		vi.OSRelease = val
	case key == "BUILD-ID":
		vi.BuildID = val
	case key == "PAGESIZE":
		v, err := strconv.ParseUint(val, 10, 64)
		if err != nil || v == 0 || v&(v-1) != 0 || v > 1<<21 {
			return fmt.Errorf("PAGESIZE %q is not a power of two up to 2 MiB", clip(val))
		}
		vi.PageSize = v
	case key == "KERNELOFFSET":
		v, err := strconv.ParseUint(val, 16, 64)
		if err != nil {
			return fmt.Errorf("KERNELOFFSET %q is not hex", clip(val))
		}
		vi.KernelOffset, vi.HasKernelOffset = v, true
	case key == "CRASHTIME":
		v, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("CRASHTIME %q is not a number", clip(val))
		}
		vi.CrashTime, vi.HasCrashTime = v, true
	case strings.HasPrefix(key, "CONFIG_"):
		vi.Config[key] = val
	}
	return nil
}

// parseSigned reads the decimal numbers VMCOREINFO uses, plus the 0x-hex
// form NUMBER(VMALLOC_START) is printed in, with an optional minus sign
// (NUMBER(phys_base) can be negative).
func parseSigned(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var u uint64
	var err error
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		u, err = strconv.ParseUint(h, 16, 64)
	} else {
		u, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, err
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}

func bracketed(key, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix+"(")
	if !ok || !strings.HasSuffix(rest, ")") || len(rest) < 2 {
		return "", false
	}
	return rest[:len(rest)-1], true
}

// Symbol returns SYMBOL(name).
func (vi *VMCoreInfo) Symbol(name string) (uint64, bool) {
	v, ok := vi.Symbols[name]
	return v, ok
}

// Number returns NUMBER(name).
func (vi *VMCoreInfo) Number(name string) (int64, bool) {
	v, ok := vi.Numbers[name]
	return v, ok
}

// SortedKeys returns the distinct keys in lexical order.
func (vi *VMCoreInfo) SortedKeys() []string {
	k := append([]string(nil), vi.Keys...)
	sort.Strings(k)
	return k
}
