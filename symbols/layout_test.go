package symbols

import (
	"debug/dwarf"
	"testing"
)

// TestMemberLayoutMatchesDecoder: for every member (nested anonymous
// ones included) of the structures the kernel model reads, the DIE-level
// fast path gives FindMember's offset and size over the fully decoded
// type, and StructSize gives its size.
func TestMemberLayoutMatchesDecoder(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the corpus vmlinux")
	}
	v := openTestVmlinux(t, "")
	ty := v.Types()
	structs := []string{"task_struct", "mm_struct", "rq", "module", "zone", "timekeeper", "uts_namespace",
		"thread_struct", "inactive_task_frame", "signal_struct", "pglist_data", "page", "printk_ringbuffer",
		"prb_desc", "printk_info", "list_head", "percpu_counter", "cpumask", "vm_area_struct", "hstate", "taint_flag"}
	fast, slow := 0, 0
	for _, s := range structs {
		st, err := ty.Struct(s)
		if err != nil {
			continue // not in this kernel
		}
		if size, err := ty.StructSize(s); err != nil || size != uint64(st.Size()) {
			t.Errorf("StructSize(%s) = %d, %v; decoder %d", s, size, err, st.Size())
		}
		var names []string
		var walk func(*dwarf.StructType)
		walk = func(st *dwarf.StructType) {
			for _, f := range st.Field {
				if f.Name != "" {
					names = append(names, f.Name)
				} else if in, ok := Unqualify(f.Type).(*dwarf.StructType); ok {
					walk(in)
				}
			}
		}
		walk(st)
		die, _ := ty.structDIE(s)
		for _, m := range names {
			want, _ := FindMember(st, m)
			off, size, err := ty.MemberLayout(s, m)
			if err != nil || off != want.Offset || size != uint64(want.Type.Size()) {
				t.Errorf("%s.%s: fast %d/%d %v, decoder %d/%d", s, m, off, size, err, want.Offset, want.Type.Size())
			}
			ty.mu.Lock()
			_, _, found, ok := ty.memberAt(die, m, 0)
			ty.mu.Unlock()
			if ok && found {
				fast++
			} else {
				slow++
			}
		}
	}
	t.Logf("%d members answered from the DIEs, %d by the decoder", fast, slow)
	if fast == 0 {
		t.Error("the fast path answered nothing")
	}
}
