package analyze

import (
	"fmt"
	"iter"
)

// maxListEntries bounds every list walk: no kernel list the analyses
// walk comes near it, so reaching it means the list is corrupt in a way
// cycle detection alone cannot see (a very long wild chain).
const maxListEntries = 1 << 22

// ListCorruptError reports a list_head chain that does not lead back to
// its head: a cycle that excludes the head, a NULL or unreadable next
// pointer, or a chain longer than any real list.
type ListCorruptError struct {
	Head VirtAddr // the list's head
	At   VirtAddr // the entry whose next pointer goes wrong
	Why  string
	Err  error // the read error, if any
}

func (e *ListCorruptError) Error() string {
	s := fmt.Sprintf("list corrupt at %#x (head %#x): %s", uint64(e.At), uint64(e.Head), e.Why)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ListCorruptError) Unwrap() error { return e.Err }

// ListForEach walks the circular list_head list at head (a struct
// list_head *), yielding the address of every list_head on it except
// head itself: list_for_each (include/linux/list.h). The caller
// subtracts the member offset to get the containing object
// (list_entry).
//
// Cycle detection (Brent's algorithm, as drgn's
// validate_list_for_each) is always on: a chain that loops without
// returning to head, a NULL or unreadable next pointer, or one longer
// than maxListEntries ends the walk with a *ListCorruptError.
func ListForEach(k *Kernel, head VirtAddr, what string) iter.Seq2[VirtAddr, error] {
	return func(yield func(VirtAddr, error) bool) {
		read := func(at VirtAddr) (VirtAddr, error) {
			return k.ReadPtr(at, what+" list_head.next")
		}
		nxt, err := read(head)
		if err != nil {
			yield(0, &ListCorruptError{Head: head, At: head, Why: "head unreadable", Err: err})
			return
		}
		// Brent: the tortoise jumps to the hare at every power of two.
		cur, tortoise, power, lam := head, head, 1, 0
		for n := 0; ; n++ {
			switch {
			case nxt == head:
				return
			case nxt == 0:
				yield(0, &ListCorruptError{Head: head, At: cur, Why: "NULL next pointer"})
				return
			case n >= maxListEntries:
				yield(0, &ListCorruptError{Head: head, At: cur, Why: fmt.Sprintf("more than %d entries", maxListEntries)})
				return
			case nxt == tortoise:
				yield(0, &ListCorruptError{Head: head, At: cur, Why: fmt.Sprintf("next pointer %#x loops back without reaching the head", uint64(nxt))})
				return
			}
			// Check that the entry can be followed before handing it out,
			// so a wild pointer is reported at the entry holding it.
			nn, err := read(nxt)
			if err != nil {
				yield(0, &ListCorruptError{Head: head, At: cur, Why: fmt.Sprintf("next pointer %#x unreadable", uint64(nxt)), Err: err})
				return
			}
			if !yield(nxt, nil) {
				return
			}
			if power == lam {
				tortoise, power, lam = nxt, power*2, 0
			}
			lam++
			cur, nxt = nxt, nn
		}
	}
}
