package commands

import (
	"testing"
	"time"
)

func TestCrashFormatPagesToSize(t *testing.T) {
	tests := []struct {
		pages uint64
		want  string
	}{
		{0, "0"},
		{1, "4 KB"},
		{255, "1020 KB"},
		{256, "1 MB"}, // ".0" dropped
		{29110, "113.7 MB"},
		{32640, "127.5 MB"},
		{262144, "1 GB"},
		{262144 + 26215, "1.1 GB"},
	}
	for _, tc := range tests {
		if got := pagesToSize(tc.pages); got != tc.want {
			t.Errorf("pagesToSize(%d) = %q, want %q", tc.pages, got, tc.want)
		}
	}
}

func TestCrashFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Second, "00:00:05"},
		{time.Hour + 2*time.Minute + 3*time.Second, "01:02:03"},
		{26*time.Hour + 5*time.Second, "1 days, 02:00:05"},
	}
	for _, tc := range tests {
		if got := crashDuration(tc.d); got != tc.want {
			t.Errorf("crashDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestCrashFormatCenter(t *testing.T) {
	tests := []struct {
		width int
		s     string
		rjust bool
		want  string
	}{
		{16, "TASK", false, "      TASK      "},
		{16, "MODULE", false, "     MODULE     "},
		{16, "KSTACKP", true, "     KSTACKP    "},
		{16, "--", false, "       --       "},
		{3, "TOOLONG", false, "TOOLONG"},
	}
	for _, tc := range tests {
		if got := center(tc.width, tc.s, tc.rjust); got != tc.want {
			t.Errorf("center(%d, %q, %v) = %q, want %q", tc.width, tc.s, tc.rjust, got, tc.want)
		}
	}
}

func TestCrashFormatIsNumber(t *testing.T) {
	for s, want := range map[string]bool{"1": true, "ffff8f0640178000": true, "0x1f": true, "init": false, "kc-sleeper": false, "": false, "0x": false} {
		if got := isNumber(s); got != want {
			t.Errorf("isNumber(%q) = %v", s, got)
		}
	}
}
