package vmcore

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/anchore/go-lzo"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Page decompression for the kdump-compressed format.

// decompress decodes one page; a panic in a third-party decoder on
// hostile input is turned into an error.
func (p *kdumpPager) decompress(flags uint32, src, dst []byte) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	switch flags {
	case dumpCompressedZlib:
		return p.inflate(src, dst)
	case dumpCompressedLZO:
		return lzo.Decompress(src, dst)
	case dumpCompressedSnappy:
		l, err := snappy.DecodedLen(src)
		if err != nil {
			return 0, err
		}
		if l != len(dst) {
			return l, nil
		}
		out, err := snappy.Decode(dst, src)
		return len(out), err
	case dumpCompressedZstd:
		dec, err := p.zstd()
		if err != nil {
			return 0, err
		}
		out, err := dec.DecodeAll(src, dst[:0])
		if err != nil {
			return 0, err
		}
		if len(out) > 0 && &out[0] != &dst[0] {
			copy(dst, out)
		}
		return len(out), nil
	}
	return 0, fmt.Errorf("unknown compression flags %#x", flags)
}

// inflate decodes an RFC 1950 zlib stream, checking its Adler-32 as
// zlib's uncompress() does.
func (p *kdumpPager) inflate(src, dst []byte) (int, error) {
	var zr io.ReadCloser
	if v := p.zlibPool.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(bytes.NewReader(src), nil); err != nil {
			return 0, err
		}
	} else {
		var err error
		if zr, err = zlib.NewReader(bytes.NewReader(src)); err != nil {
			return 0, err
		}
	}
	n, err := io.ReadFull(zr, dst)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return n, nil // short page: reported by the caller
	}
	if err != nil {
		return n, err
	}
	// The stream must end here, with a valid checksum.
	var one [1]byte
	if m, err := zr.Read(one[:]); m > 0 {
		return n + 1, nil
	} else if err != io.EOF {
		if err == nil {
			err = errors.New("zlib stream does not end after one page")
		}
		return n, err
	}
	p.zlibPool.Put(zr)
	return n, nil
}

func (p *kdumpPager) zstd() (*zstd.Decoder, error) {
	p.zstdOnce.Do(func() {
		// Output is capped at one page by DecodeAll's cap limit; the
		// memory limit bounds the window a hostile frame may declare
		// (makedumpfile's frames use a window of one page).
		p.zstdDec, p.zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(8<<20),
			zstd.WithDecodeAllCapLimit(true))
	})
	return p.zstdDec, p.zstdErr
}

// Close releases the zstd decoder, if one was made.
func (p *kdumpPager) Close() error {
	p.zstdOnce.Do(func() { p.zstdErr = errors.New("dump closed") })
	if p.zstdDec != nil {
		p.zstdDec.Close()
	}
	return nil
}

// compression names the page compression from the header status and the
// first descriptors (makedumpfile stores a page raw when compressing it
// does not help, so raw pages do not make a dump "mixed").
func (p *kdumpPager) compression(status uint32) string {
	flags := status & dumpCompressionMask
	if n := min(p.nDesc, descSample); n > 0 && p.src.avail(p.descOff, int64(n)*pageDescSize) {
		buf := make([]byte, n*pageDescSize)
		if _, err := p.r.ReadAt(buf, p.descOff); err == nil {
			for i := uint64(0); i < n; i++ {
				flags |= decodeDesc(buf[i*pageDescSize:]).flags & dumpCompressionMask
			}
		}
	}
	switch flags {
	case 0:
		return "none"
	case dumpCompressedZlib:
		return "zlib"
	case dumpCompressedLZO:
		return "lzo"
	case dumpCompressedSnappy:
		return "snappy"
	case dumpCompressedZstd:
		return "zstd"
	}
	return "mixed"
}
