package vmcore

import "encoding/binary"

// adler32 is the RFC 1950 checksum that ends a zlib stream, as
// hash/adler32.Checksum computes it, eight bytes at a time: the byte
// sum and the position-weighted sum of a word are formed in 16-bit
// lanes by two multiplications (no lane can carry into the next). On the pages of a dump it runs about
// three times as fast as hash/adler32's byte loop, which was a tenth of
// the zlib writer's time.
func adler32(p []byte) uint32 {
	const (
		mod  = 65521
		nmax = 5552 // the most bytes before s2 could overflow 32 bits (zlib's NMAX), a multiple of 8
		lo   = 0x00ff00ff00ff00ff
		ones = 0x0001000100010001
		// Weights of bytes 0, 2, 4, 6 (8, 6, 4, 2) and 1, 3, 5, 7
		// (7, 5, 3, 1) of a word, in reverse lane order so that each
		// product's top lane is the weighted sum.
		wEven = 2 | 4<<16 | 6<<32 | 8<<48
		wOdd  = 1 | 3<<16 | 5<<32 | 7<<48
	)
	s1, s2 := uint32(1), uint32(0)
	for len(p) > 0 {
		q := p[:min(len(p), nmax)]
		p = p[len(q):]
		// s2 gains 8·s1 per word: sum the s1 seen at each word (a)
		// and the words' weighted sums (w) apart, so that the only
		// chains from one word to the next are three additions.
		var a, w uint64
		s1w := uint64(s1)
		for len(q) >= 16 {
			x := binary.LittleEndian.Uint64(q)
			y := binary.LittleEndian.Uint64(q[8:])
			xe, xo := x&lo, x>>8&lo
			ye, yo := y&lo, y>>8&lo
			// Both words' lanes added before weighting: at most
			// 510 × 20 in a lane, still no carry.
			sx := ((xe + xo) * ones) >> 48
			sy := ((ye + yo) * ones) >> 48
			w += ((xe+ye)*wEven)>>48 + ((xo+yo)*wOdd)>>48 + 8*sx
			a += 2 * s1w
			s1w += sx + sy
			q = q[16:]
		}
		s2 += uint32((8*a + w) % mod)
		s1 = uint32(s1w)
		for _, c := range q {
			s1 += uint32(c)
			s2 += s1
		}
		s1 %= mod
		s2 %= mod
	}
	return s2<<16 | s1
}
