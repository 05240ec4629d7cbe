package vmcore

import "io"

func openFlattened(r io.ReaderAt, size int64, opts Options) (*backend, error) {
	return nil, errUnrecognized
}
