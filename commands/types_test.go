package commands

import (
	"debug/dwarf"
	"testing"
)

func TestMemberTarget(t *testing.T) {
	tests := []struct{ line, want string }{
		{"    struct list_head *next;", "next"},
		{"    char comm[16];", "comm"},
		{"    unsigned int sched_reset_on_fork : 1;", "sched_reset_on_fork"},
		{"    void (*func)(struct callback_head *);", "func"},
		{"    unsigned long (*get_unmapped_area)(struct file *, unsigned long);", "get_unmapped_area"},
		{"    struct hlist_node pid_links[4];", "pid_links"},
		{"    union {", ""},
		{"    };", "}"}, // as in crash: no member is called "}", so the line gets no offset
		{"        int counter;", "counter"},
	}
	for _, tc := range tests {
		if got := memberTarget(tc.line); got != tc.want {
			t.Errorf("memberTarget(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestWithOffsets(t *testing.T) {
	intT := &dwarf.IntType{BasicType: dwarf.BasicType{CommonType: dwarf.CommonType{ByteSize: 4, Name: "int"}}}
	u := &dwarf.StructType{Kind: "union", Field: []*dwarf.StructField{{Name: "a", Type: intT}, {Name: "b", Type: intT}}}
	u.ByteSize = 4
	st := &dwarf.StructType{StructName: "s", Kind: "struct", Field: []*dwarf.StructField{
		{Name: "x", Type: intT},
		{Name: "", Type: u, ByteOffset: 4},
		{Name: "y", Type: intT, ByteOffset: 1000},
	}}
	st.ByteSize = 1004
	ptype := "struct s {\n    int x;\n    union {\n        int a;\n        int b;\n    };\n    int y;\n}"
	want := "struct s {\n     [0] int x;\n         union {\n     [4]     int a;\n     [4]     int b;\n         };\n  [1000] int y;\n}\n"
	if got, _ := withOffsets(st, ptype, "", 0); got != want {
		t.Errorf("withOffsets:\n%s\nwant:\n%s", got, want)
	}
	got, found := withOffsets(st, ptype, "b", 0)
	if want := "struct s {\n     [4]     int b;\n}\n"; !found || got != want {
		t.Errorf("withOffsets(b) = %q, %v; want %q", got, found, want)
	}
}
