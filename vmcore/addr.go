package vmcore

// PhysAddr is a physical address of the crashed machine. It is a distinct
// type so that a virtual address cannot be passed where a physical one is
// meant without an explicit conversion.
type PhysAddr uint64

// PFN is a page frame number: a physical address divided by the page size.
type PFN uint64

// Range is a half-open range [Start, End) of physical addresses.
type Range struct {
	Start, End PhysAddr
}

// Len returns the number of bytes in r.
func (r Range) Len() uint64 { return uint64(r.End - r.Start) }

// Contains reports whether pa lies in r.
func (r Range) Contains(pa PhysAddr) bool { return pa >= r.Start && pa < r.End }

// PageState says what the dump holds for one page frame.
type PageState int

const (
	// PageNotDumped: the frame is outside every range of the dump.
	PageNotDumped PageState = iota
	// PagePresent: the dump holds the page's contents.
	PagePresent
	// PageExcluded: the frame was RAM but a filter left it out.
	PageExcluded
	// PageZero: the dump records the page as all zeros without storing it
	// (makedumpfile's shared zero page, or p_filesz < p_memsz in ELF where
	// the format says "zero fill").
	PageZero
)

func (s PageState) String() string {
	switch s {
	case PagePresent:
		return "present"
	case PageExcluded:
		return "excluded"
	case PageZero:
		return "zero"
	default:
		return "not dumped"
	}
}
