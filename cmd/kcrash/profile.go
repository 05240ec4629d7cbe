package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startCPUProfile is behind a hidden flag: startup time is a product
// feature (issue #3), and a profile of the real binary on a real dump is
// the only honest way to see where it goes.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
