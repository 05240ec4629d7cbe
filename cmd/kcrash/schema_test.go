package main

import (
	"encoding/json"

	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/internal/coretest"
)

// documentedKeys reads docs/json.md and returns, per section heading, the
// keys its table documents and which of them may be absent ("absent",
// "present when", "if recorded", "if any" in the meaning column). The
// documentation is the schema: a test fails when output and document
// disagree in either direction.
func documentedKeys(t *testing.T) map[string]map[string]bool {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]map[string]bool{}
	var cur map[string]bool
	keyRE := regexp.MustCompile("`([a-z_0-9]+)`")
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			cur = map[string]bool{}
			sections[h] = cur
			continue
		}
		if cur == nil || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		optional := regexp.MustCompile(`absent|present when|if recorded|if any|when VMCOREINFO|, if| only`).MatchString(cells[3])
		for _, m := range keyRE.FindAllStringSubmatch(cells[1], -1) {
			cur[m[1]] = optional
		}
	}
	return sections
}

func checkSchema(t *testing.T, section string, keys map[string]bool, obj map[string]any) {
	t.Helper()
	if keys == nil {
		t.Fatalf("docs/json.md has no section %q", section)
	}
	for k := range obj {
		if _, ok := keys[k]; !ok {
			t.Errorf("%s: key %q is not documented in docs/json.md", section, k)
		}
	}
	for k, optional := range keys {
		if _, ok := obj[k]; !ok && !optional {
			t.Errorf("%s: documented key %q missing from the output", section, k)
		}
	}
}

func TestJSONMatchesDocs(t *testing.T) {
	docs := documentedKeys(t)
	dump := sample(t)

	out, _, code := kcrash(t, "", "dumpinfo", "--json", dump)
	var di map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &di) != nil {
		t.Fatalf("dumpinfo --json: exit %d\n%s", code, out)
	}
	checkSchema(t, "`dumpinfo --json` (and `kcrash dumpinfo --json DUMP`)", docs["`dumpinfo --json` (and `kcrash dumpinfo --json DUMP`)"], di)

	out, _, code = kcrash(t, "", "triage", "--json", dump)
	var tr []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &tr) != nil || len(tr) != 1 {
		t.Fatalf("triage --json: exit %d\n%s", code, out)
	}
	checkSchema(t, "triage", docs["`kcrash triage --json DUMP...`"], tr[0])

	vmlinux := coretest.Path(t, "kernel/vmlinux")
	out, _, code = kcrash(t, "", vmlinux, dump, "-c", "log --json")
	var recs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &recs) != nil || len(recs) == 0 {
		t.Fatalf("log --json: exit %d", code)
	}
	for _, r := range recs {
		checkSchema(t, "log", docs["`log --json`"], r)
	}

	out, _, code = kcrash(t, "", vmlinux, dump, "-c", "bt -a --json")
	var tasks []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &tasks) != nil || len(tasks) == 0 {
		t.Fatalf("bt -a --json: exit %d\n%s", code, out)
	}
	for _, task := range tasks {
		checkSchema(t, "bt", docs["`bt --json`"], task)
		frames, _ := task["frames"].([]any)
		for _, f := range frames {
			if fm, ok := f.(map[string]any); ok {
				checkSchema(t, "bt frames", docs["`bt --json` frames"], fm)
			}
		}
	}
}
