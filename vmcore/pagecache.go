package vmcore

import (
	"container/list"
	"errors"
	"sync"
)

// pager is implemented by formats that store memory page by page
// (kdump-compressed, LKCD): they decode whole pages.
type pager interface {
	// readPage decodes page frame pfn into buf, which is one page long.
	// It returns an error wrapping ErrExcluded, ErrNotInDump or ErrCorrupt.
	readPage(pfn PFN, buf []byte) error
	pageState(pfn PFN) PageState
}

// pagedMemory turns a pager into byte-addressed memory, keeping recently
// decoded pages in an LRU cache so that the many small reads a kernel
// walk makes do not decompress the same page again.
type pagedMemory struct {
	p        pager
	pageSize uint64

	mu    sync.Mutex
	max   int
	lru   *list.List // of *cachedPage, most recent first
	pages map[PFN]*list.Element
}

type cachedPage struct {
	pfn  PFN
	data []byte
}

func newPagedMemory(p pager, pageSize uint64, cachePages int) *pagedMemory {
	if cachePages <= 0 {
		cachePages = 4096
	}
	return &pagedMemory{p: p, pageSize: pageSize, max: cachePages, lru: list.New(), pages: map[PFN]*list.Element{}}
}

func (m *pagedMemory) pageState(pfn PFN) PageState { return m.p.pageState(pfn) }

func (m *pagedMemory) readAt(p []byte, pa PhysAddr) (int, error) {
	done := 0
	for done < len(p) {
		a := uint64(pa) + uint64(done)
		n, err := m.copyPage(PFN(a/m.pageSize), a%m.pageSize, p[done:])
		if err != nil {
			var re *ReadError
			if !errors.As(err, &re) {
				err = &ReadError{Addr: PhysAddr(a), Err: err}
			}
			return done, err
		}
		done += n
	}
	return done, nil
}

// copyPage copies page pfn from offset off into dst, decoding the page
// if it is not cached. Copying under the lock keeps a concurrent eviction
// from recycling the buffer mid-copy.
func (m *pagedMemory) copyPage(pfn PFN, off uint64, dst []byte) (int, error) {
	m.mu.Lock()
	if e, ok := m.pages[pfn]; ok {
		m.lru.MoveToFront(e)
		n := copy(dst, e.Value.(*cachedPage).data[off:])
		m.mu.Unlock()
		return n, nil
	}
	m.mu.Unlock()

	data := make([]byte, m.pageSize)
	if err := m.p.readPage(pfn, data); err != nil {
		return 0, err
	}
	n := copy(dst, data[off:])
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pages[pfn]; !ok {
		if m.lru.Len() >= m.max {
			e := m.lru.Back()
			m.lru.Remove(e)
			delete(m.pages, e.Value.(*cachedPage).pfn)
		}
		m.pages[pfn] = m.lru.PushFront(&cachedPage{pfn: pfn, data: data})
	}
	return n, nil
}
