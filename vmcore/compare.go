package vmcore

import (
	"bytes"
	"errors"
	"fmt"
)

// CompareOptions say which differences a conversion was allowed to make.
type CompareOptions struct {
	// ExcludedAsZero: excluded pages of the original may read as zeros
	// (an LKCD written with LKCDOptions.ExcludedAsZero).
	ExcludedAsZero bool
	// ZeroDropped: all-zero pages of the original may be excluded
	// (WriteOptions.DropZero for ELF; a kdump file keeps them as its
	// shared zero page, which reads as zeros and compares identical).
	ZeroDropped bool
	// Filtered, when set, names the frames a page filter was allowed to
	// exclude (WriteOptions.Exclude): pages with data in the original
	// may be excluded in the copy only where it reports true.
	Filtered func(pfn PFN) bool
	// Progress, when set, is called now and then with the frames
	// compared so far; an error it returns stops the comparison.
	Progress func(done uint64) error
}

// CompareStats counts what Compare checked.
type CompareStats struct {
	Frames         uint64 // frames of the original visited
	Identical      uint64 // pages with data in both, byte for byte equal
	Excluded       uint64 // excluded in both
	ExcludedAsZero uint64 // excluded in the original, zeros in the copy
	ZeroDropped    uint64 // zeros in the original, excluded in the copy
	Filtered       uint64 // data in the original, excluded in the copy by the filter
	NotDumped      uint64 // without data in both
}

func (s CompareStats) String() string {
	filtered := ""
	if s.Filtered > 0 {
		filtered = fmt.Sprintf(", %d pages filtered out", s.Filtered)
	}
	return fmt.Sprintf("%d frames: %d pages identical, %d excluded in both, %d excluded pages read as zero, %d zero pages dropped%s, %d not dumped in both",
		s.Frames, s.Identical, s.Excluded, s.ExcludedAsZero, s.ZeroDropped, filtered, s.NotDumped)
}

// ErrMismatch: a converted dump does not hold what the original holds.
var ErrMismatch = errors.New("converted dump differs from the original")

// Compare checks that conv, a conversion of orig, accounts for every page
// frame of orig: the same bytes for every page with data, excluded pages
// still excluded, frames without data still without, and no page that
// orig lacks.
func Compare(orig, conv *Dump, o CompareOptions) (CompareStats, error) {
	var st CompareStats
	if orig.PageSize() != conv.PageSize() {
		return st, fmt.Errorf("page size %d, the original's is %d: %w", conv.PageSize(), orig.PageSize(), ErrMismatch)
	}
	ps := orig.PageSize()
	got := make([]byte, ps)
	mismatch := func(pfn PFN, msg string, args ...any) error {
		return fmt.Errorf("page frame %#x (physical %#x): %s: %w", uint64(pfn), uint64(pfn)*ps, fmt.Sprintf(msg, args...), ErrMismatch)
	}
	for pg, err := range orig.Pages() {
		if err != nil {
			return st, fmt.Errorf("reading the original: %w", err)
		}
		st.Frames++
		if st.Frames%dropResidentEvery == 0 {
			conv.dropResident() // read by address; orig's pass drops its own
		}
		if o.Progress != nil && st.Frames%4096 == 0 {
			if err := o.Progress(st.Frames); err != nil {
				return st, err
			}
		}
		pa := pg.Addr(ps)
		_, rerr := conv.ReadAt(got, pa)
		switch pg.State {
		case PagePresent, PageZero:
			switch {
			case rerr == nil:
				if !bytes.Equal(got, pg.Data) {
					return st, mismatch(pg.PFN, "contents differ")
				}
				st.Identical++
			case o.Filtered != nil && errors.Is(rerr, ErrExcluded) && o.Filtered(pg.PFN):
				st.Filtered++
			case o.ZeroDropped && errors.Is(rerr, ErrExcluded) && isZero(pg.Data):
				st.ZeroDropped++
			default:
				return st, mismatch(pg.PFN, "present in the original, but reading the copy: %v", rerr)
			}
		case PageExcluded:
			switch {
			case errors.Is(rerr, ErrExcluded):
				st.Excluded++
			case rerr == nil && o.ExcludedAsZero && isZero(got):
				st.ExcludedAsZero++
			default:
				return st, mismatch(pg.PFN, "excluded in the original, but the copy reads %s", describeRead(rerr))
			}
		default:
			if !errors.Is(rerr, ErrNotInDump) {
				return st, mismatch(pg.PFN, "not dumped in the original, but the copy reads %s", describeRead(rerr))
			}
			st.NotDumped++
		}
	}
	// The copy must not hold frames the original has no data for.
	for pfn, s := range conv.PageStates() {
		if s == PageNotDumped {
			continue
		}
		if orig.PageState(pfn) == PageNotDumped {
			return st, mismatch(pfn, "the copy has it as %v, the original does not hold it", s)
		}
	}
	return st, nil
}

func describeRead(err error) string {
	if err == nil {
		return "data"
	}
	return err.Error()
}
