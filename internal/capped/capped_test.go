package capped

import "testing"

func TestBufferKeepsFirstMaxBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max    int
		writes []string
		want   string
	}{
		{5, []string{"abc", "defg", "h"}, "abcde"},
		{10, []string{"abc"}, "abc"},
		{0, []string{"abc"}, ""},
	}
	for _, tt := range tests {
		b := &Buffer{Max: tt.max}
		for _, w := range tt.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write(%q) = %d, %v; want the full length, no error", w, n, err)
			}
		}
		if got := b.String(); got != tt.want {
			t.Errorf("max %d: kept %q, want %q", tt.max, got, tt.want)
		}
	}
}
