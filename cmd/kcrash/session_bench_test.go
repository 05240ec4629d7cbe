package main

import (
	"context"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// BenchmarkSession runs whole batch sessions in-process, so that a
// profile of a 50 ms question has enough samples. It needs a dump and
// its vmlinux: KCRASH_BENCH_VMLINUX, KCRASH_BENCH_VMCORE (bench/distro.sh
// makes both), and uses a warm cache in a temporary directory, filled
// by one session before the timer starts (warm/…), or an empty one
// (cold/…, emptied before every session).
//
//	KCRASH_BENCH_VMLINUX=/var/tmp/kcrash-bench/vmlinux \
//	KCRASH_BENCH_VMCORE=/var/tmp/kcrash-bench/vmcore.elf \
//	go test ./cmd/kcrash -run '^$' -bench Session -cpuprofile cpu.out
func BenchmarkSession(b *testing.B) {
	vmlinux, vmcore := os.Getenv("KCRASH_BENCH_VMLINUX"), os.Getenv("KCRASH_BENCH_VMCORE")
	if vmlinux == "" || vmcore == "" {
		b.Skip("KCRASH_BENCH_VMLINUX and KCRASH_BENCH_VMCORE not set")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	for _, q := range []string{"sym jiffies", "sys", "struct task_struct -o", "ps", "bt -a", "log"} {
		name := strings.ReplaceAll(q, " ", "_")
		args := []string{vmlinux, vmcore, "-c", q}
		b.Run("warm/"+name, func(b *testing.B) {
			b.Setenv("KCRASH_CACHE_DIR", b.TempDir())
			var errs strings.Builder
			if rc := run(context.Background(), args, strings.NewReader(""), io.Discard, &errs); rc != 0 {
				b.Fatalf("kcrash %q: exit %d: %s", args, rc, errs.String())
			}
			b.ResetTimer()
			for b.Loop() {
				run(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard)
			}
		})
		b.Run("cold/"+name, func(b *testing.B) {
			dir := b.TempDir()
			b.Setenv("KCRASH_CACHE_DIR", dir)
			for b.Loop() {
				b.StopTimer()
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				run(context.Background(), args, strings.NewReader(""), io.Discard, io.Discard)
			}
		})
	}
}
