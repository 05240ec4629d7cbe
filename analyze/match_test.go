package analyze

import (
	"errors"
	"strings"
	"testing"

	"github.com/kcrash/kcrash/symbols"
	"github.com/kcrash/kcrash/vmcore"
)

func TestCheckMatch(t *testing.T) {
	tests := []struct {
		name            string
		vRel, vID       string
		dumpRel, dumpID string
		wantErr         bool
	}{
		{"same build-id", "6.1.1", "aa", "6.1.1", "aa", false},
		{"other build-id", "6.1.1", "aa", "6.1.1", "bb", true},
		{"no build-id, same release", "6.1.1", "", "6.1.1", "bb", false},
		{"no build-id, other release", "6.1.2", "", "6.1.1", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &symbols.Vmlinux{Path: "vmlinux", Release: tc.vRel, BuildID: tc.vID}
			err := checkMatch(v, &vmcore.VMCoreInfo{OSRelease: tc.dumpRel, BuildID: tc.dumpID})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.vRel) || !strings.Contains(err.Error(), tc.dumpRel) || !strings.Contains(err.Error(), "--force") {
					t.Errorf("error %q should name both builds and --force", err)
				}
			}
		})
	}
}
