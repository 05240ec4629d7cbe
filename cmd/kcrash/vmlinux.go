package main

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/kcrash/kcrash/symbols"
)

// isCompressed reports a vmlinux shipped compressed, as distributions
// and our corpus do; crash accepts gzip'd ones the same way.
func isCompressed(path string) bool {
	return strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz")
}

// openVmlinux opens a kernel image, decompressing a .zst or .gz copy
// once into the user's cache directory (keyed by the compressed file's
// hash, so a new build never meets a stale copy).
func openVmlinux(path string) (*symbols.Vmlinux, error) {
	p := path
	if isCompressed(path) {
		var err error
		if p, err = decompressCached(path); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	var opts []symbols.OpenOption
	if os.Getenv("KCRASH_INDEX_CACHE") != "off" {
		opts = append(opts, symbols.WithCache(cacheDir()))
	}
	v, err := symbols.OpenVmlinux(f, f, path, opts...)
	if err != nil {
		f.Close()
		return nil, err
	}
	return v, nil
}

// cacheDir is kcrash's per-user cache: decompressed vmlinux images and
// DWARF name indexes, both keyed by content. $KCRASH_CACHE_DIR
// overrides it.
func cacheDir() string {
	if d := os.Getenv("KCRASH_CACHE_DIR"); d != "" {
		return d
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "kcrash")
}

func decompressCached(path string) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return "", err
	}
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".zst"), ".gz")
	out := filepath.Join(cacheDir(), "vmlinux", hex.EncodeToString(h.Sum(nil))[:16], name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	var r io.Reader
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(in)
		if err != nil {
			return "", err
		}
		r = gz
	} else {
		zr, err := zstd.NewReader(in, zstd.WithDecoderMaxWindow(1<<31), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return "", err
		}
		defer zr.Close()
		r = zr
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), name+".tmp*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return "", fmt.Errorf("decompressing: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return out, os.Rename(tmp.Name(), out)
}
