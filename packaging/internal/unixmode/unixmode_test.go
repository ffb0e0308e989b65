package unixmode

import (
	"io/fs"
	"testing"
)

func TestOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      fs.FileMode
		want    uint32
		wantErr bool
	}{
		{0o644, 0o100644, false},
		{0o755 | fs.ModeDir, 0o040755, false},
		{0o777 | fs.ModeSymlink, 0o120777, false},
		{0o755 | fs.ModeSetuid, 0o104755, false},
		{0o755 | fs.ModeSetgid | fs.ModeDir, 0o042755, false},
		{0o777 | fs.ModeSticky | fs.ModeDir, 0o041777, false},
		{0o600 | fs.ModeDevice, 0, true},
		{0o600 | fs.ModeNamedPipe, 0, true},
		{0o600 | fs.ModeSocket, 0, true},
	}
	for _, tt := range tests {
		got, err := Of(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Of(%v) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("Of(%v) = %#o, want %#o", tt.in, got, tt.want)
		}
	}
}
