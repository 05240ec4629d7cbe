package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kcrash/kcrash/analyze"
)

func kmemCommand() Command {
	return Command{
		Name:     "kmem",
		Summary:  "kernel memory",
		Synopsis: "kmem -i [--json]",
		Help: `  This command displays information about the use of kernel memory.

        -i  displays general memory usage information

    --json  with -i: one JSON object of page counts (total_mem, free, used,
            shared, buffers, cached, slab, total_huge, huge_free,
            total_swap, swap_used, swap_free, commit_limit, committed).

  TOTAL MEM is totalram_pages; FREE sums every zone's NR_FREE_PAGES;
  SHARED counts the non-reserved pages of mem_map with more than one
  reference; BUFFERS is the block devices' page cache; CACHED is
  NR_FILE_PAGES less swap cache and buffers; SLAB is the slab node
  counters; the huge page, swap and commit figures come from hstates[],
  swap_info[] and the overcommit settings.

  The other crash options (-f, -F, -p, -c, -C, -v, -V, -n, -z, -o, -h, -s,
  -S, -r, -g, -I, -m, -P and an address) are not supported yet.

  EXAMPLES
    Display memory usage information:

      kcrash> kmem -i
                       PAGES        TOTAL      PERCENTAGE
          TOTAL MEM    29110     113.7 MB         ----
               FREE    23412      91.5 MB   80% of TOTAL MEM
               USED     5698      22.3 MB   19% of TOTAL MEM
             SHARED     1102       4.3 MB    3% of TOTAL MEM
            BUFFERS        0            0    0% of TOTAL MEM
             CACHED     2199       8.6 MB    7% of TOTAL MEM
               SLAB      960       3.8 MB    3% of TOTAL MEM

         TOTAL HUGE        0            0         ----
          HUGE FREE        0            0    0% of TOTAL HUGE

         TOTAL SWAP        0            0         ----
          SWAP USED        0            0    0% of TOTAL SWAP
          SWAP FREE        0            0    0% of TOTAL SWAP

       COMMIT LIMIT    14555      56.9 MB         ----
          COMMITTED     4051      15.8 MB   27% of TOTAL LIMIT`,
		Run: runKmem,
	}
}

// KmemInfoJSON is "kmem -i --json": page counts.
type KmemInfoJSON struct {
	TotalMem    uint64  `json:"total_mem"`
	Free        uint64  `json:"free"`
	Used        uint64  `json:"used"`
	Shared      uint64  `json:"shared"`
	Buffers     uint64  `json:"buffers"`
	Cached      uint64  `json:"cached"`
	Slab        uint64  `json:"slab"`
	TotalHuge   *uint64 `json:"total_huge"`
	HugeFree    *uint64 `json:"huge_free"`
	TotalSwap   *uint64 `json:"total_swap"`
	SwapUsed    *uint64 `json:"swap_used"`
	SwapFree    *uint64 `json:"swap_free"`
	CommitLimit *uint64 `json:"commit_limit"`
	Committed   *uint64 `json:"committed"`
}

func runKmem(_ context.Context, env *Env, args []string) error {
	opts, operands, err := getopt(args, "fFpcCvVnzoihsSrgIm:P")
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if len(opts) != 1 || opts[0].c != 'i' || len(operands) > 0 {
		return fmt.Errorf("only kmem -i is supported yet")
	}
	m, err := analyze.ReadMemInfo(env.Kernel)
	if err != nil {
		return err
	}
	if env.JSON {
		return json.NewEncoder(env.Out).Encode(kmemJSON(m))
	}
	var b strings.Builder
	writeKmemInfo(&b, m)
	_, err = io.WriteString(env.Out, b.String())
	return err
}

func kmemJSON(m *analyze.MemInfo) KmemInfoJSON {
	p := func(v uint64) *uint64 { return &v }
	j := KmemInfoJSON{TotalMem: m.TotalRAM, Free: m.Free, Used: m.TotalRAM - m.Free, Shared: m.Shared,
		Buffers: m.Buffers, Cached: m.Cached, Slab: m.Slab}
	if m.HasHuge {
		j.TotalHuge, j.HugeFree = p(m.HugeTotal), p(m.HugeFree)
	}
	if m.HasSwap {
		j.TotalSwap, j.SwapUsed, j.SwapFree = p(m.SwapTotal), p(m.SwapUsed), p(m.SwapTotal-m.SwapUsed)
	}
	if m.HasCommit {
		j.CommitLimit, j.Committed = p(m.CommitLimit), p(m.Committed)
	}
	return j
}

// writeKmemInfo prints crash 8.0.6's dump_kmeminfo table.
func writeKmemInfo(b *strings.Builder, m *analyze.MemInfo) {
	pct := func(n, of uint64) uint64 {
		if of == 0 {
			return 0
		}
		return n * 100 / of
	}
	head := func(label string, n uint64) {
		fmt.Fprintf(b, "%13s  %7d  %11s         ----\n", label, n, pagesToSize(n))
	}
	line := func(label string, n, of uint64, ofName string) {
		fmt.Fprintf(b, "%13s  %7d  %11s  %3d%% of %s\n", label, n, pagesToSize(n), pct(n, of), ofName)
	}
	b.WriteString("                 PAGES        TOTAL      PERCENTAGE\n")
	head("TOTAL MEM", m.TotalRAM)
	line("FREE", m.Free, m.TotalRAM, "TOTAL MEM")
	line("USED", m.TotalRAM-m.Free, m.TotalRAM, "TOTAL MEM")
	line("SHARED", m.Shared, m.TotalRAM, "TOTAL MEM")
	line("BUFFERS", m.Buffers, m.TotalRAM, "TOTAL MEM")
	line("CACHED", m.Cached, m.TotalRAM, "TOTAL MEM")
	line("SLAB", m.Slab, m.TotalRAM, "TOTAL MEM")
	if m.HasHuge {
		b.WriteString("\n")
		head("TOTAL HUGE", m.HugeTotal)
		line("HUGE FREE", m.HugeFree, m.HugeTotal, "TOTAL HUGE")
	}
	b.WriteString("\n")
	if m.HasSwap {
		head("TOTAL SWAP", m.SwapTotal)
		line("SWAP USED", m.SwapUsed, m.SwapTotal, "TOTAL SWAP")
		line("SWAP FREE", m.SwapTotal-m.SwapUsed, m.SwapTotal, "TOTAL SWAP")
	}
	if m.HasCommit {
		b.WriteString("\n")
		head("COMMIT LIMIT", m.CommitLimit)
		if m.CommitLimit != 0 {
			line("COMMITTED", m.Committed, m.CommitLimit, "TOTAL LIMIT")
		} else {
			head("COMMITTED", m.Committed)
		}
	}
}
