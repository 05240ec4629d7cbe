package analyze_test

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kcrash/kcrash/analyze"
	"github.com/kcrash/kcrash/internal/coretest"
	"github.com/kcrash/kcrash/internal/testkernel"
	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

func TestStateString(t *testing.T) {
	tests := []struct {
		state uint64
		want  string
	}{
		{0, "RU"},
		{0x1, "IN"},
		{0x2, "UN"},
		{0x2 | 0x400, "ID"}, // TASK_IDLE
		{0x4, "ST"},
		{0x8, "TR"},
		{0x20, "ZO"},        // EXIT_ZOMBIE in exit_state
		{0x10, "DE"},        // EXIT_DEAD
		{0x80, "DE"},        // TASK_DEAD
		{0x80 | 0x20, "ZO"}, // dead but still a zombie: ZO wins
		{0x40, "PA"},
		{0x200, "WA"},
		{0x800, "NE"},
		{0x100, "??"}, // TASK_WAKEKILL alone
	}
	for _, tc := range tests {
		if got := (&analyze.Task{State: tc.state}).StateString(); got != tc.want {
			t.Errorf("state %#x: %s, want %s", tc.state, got, tc.want)
		}
	}
}

// listPatchReader is a dump file with some bytes replaced.
type listPatchReader struct {
	r       io.ReaderAt
	patches map[int64][]byte
}

func (p *listPatchReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.r.ReadAt(b, off)
	for at, data := range p.patches {
		for i, c := range data {
			if j := at + int64(i) - off; j >= 0 && j < int64(n) {
				b[j] = c
			}
		}
	}
	return n, err
}

// elfDump finds an ELF dump of the corpus (whose file offsets follow
// from its program headers).
func elfDump(t *testing.T) (path string) {
	t.Helper()
	for _, sc := range coretest.Scenarios(t) {
		for _, d := range coretest.Dumps(t, sc) {
			if strings.HasSuffix(d, ".elf") {
				return coretest.Path(t, sc+"/"+d)
			}
		}
	}
	t.Skip("no ELF dump in the corpus")
	return ""
}

var openVmlinux = testkernel.Vmlinux

func openPatched(t *testing.T, path string, v *symbols.Vmlinux, patches map[int64][]byte) *analyze.Kernel {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	d, err := vmcore.New(&listPatchReader{r: f, patches: patches}, st.Size(), vmcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := analyze.Open(d, analyze.Config{Vmlinux: v})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fileOffset maps a physical address of an ELF dump to its file offset.
func fileOffset(t *testing.T, path string, pa uint64) int64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && pa >= p.Paddr && pa+8 <= p.Paddr+p.Filesz {
			return int64(p.Off + pa - p.Paddr)
		}
	}
	t.Fatalf("physical address %#x is not in %s", pa, path)
	return 0
}

// TestTasksCorruptList patches the tasks list of a real dump so that it
// loops or leads nowhere: the walk must stop with a *ListCorruptError
// naming the bad entry instead of hanging or inventing tasks.
func TestTasksCorruptList(t *testing.T) {
	path := elfDump(t)
	v := openVmlinux(t)
	k := openPatched(t, path, v, nil)
	tasks, err := analyze.Tasks(k)
	if err != nil {
		t.Fatal(err)
	}
	off, err := v.Types().MemberOffset("task_struct", "tasks")
	if err != nil {
		t.Fatal(err)
	}
	var leaders []*analyze.Task // on init_task.tasks, in list order
	for _, tk := range tasks {
		if tk.PID > 0 && tk.PID == tk.TGID {
			leaders = append(leaders, tk)
		}
	}
	if len(leaders) < 3 {
		t.Fatalf("only %d thread-group leaders", len(leaders))
	}
	node := func(tk *analyze.Task) uint64 { return uint64(tk.Addr) + off }
	le := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	tests := []struct {
		name   string
		at     *analyze.Task // whose tasks.next is overwritten
		next   uint64
		reason string
	}{
		{"self loop", leaders[0], node(leaders[0]), "loops back"},
		{"loop to an earlier entry", leaders[2], node(leaders[1]), "loops back"},
		{"NULL next", leaders[1], 0, "NULL next pointer"},
		{"wild next", leaders[1], 0xdead000000000100, "unreadable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pa, err := k.Translate(analyze.VirtAddr(node(tc.at)))
			if err != nil {
				t.Fatal(err)
			}
			pk := openPatched(t, path, v, map[int64][]byte{fileOffset(t, path, uint64(pa)): le(tc.next)})
			done := make(chan error, 1)
			go func() { _, err := analyze.Tasks(pk); done <- err }()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("the task walk did not end")
			}
			var lc *analyze.ListCorruptError
			if !errors.As(err, &lc) {
				t.Fatalf("error %v, want a *ListCorruptError", err)
			}
			if !strings.Contains(tc.reason, "loops") && uint64(lc.At) != node(tc.at) {
				t.Errorf("corrupt at %#x, want %#x", uint64(lc.At), node(tc.at))
			}
			if !strings.Contains(err.Error(), "list corrupt at") || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q should say \"list corrupt at\" and %q", err, tc.reason)
			}
		})
	}
}

// BenchmarkTasks measures building the task table (list walks and one
// task_struct read per task) on a corpus dump, DWARF already indexed.
func BenchmarkTasks(b *testing.B) {
	path := ""
	for _, sc := range coretest.Scenarios(b) {
		for _, d := range coretest.Dumps(b, sc) {
			if path == "" {
				path = coretest.Path(b, sc+"/"+d)
			}
		}
	}
	v := testkernel.Vmlinux(b)
	for b.Loop() {
		d, err := vmcore.Open(path, vmcore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		k, err := analyze.Open(d, analyze.Config{Vmlinux: v})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := analyze.Tasks(k); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
}
