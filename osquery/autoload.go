package osquery

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/orbitagent/orbit/internal/safefile"
)

// extensionSuffix is what osqueryd requires of an autoloaded extension's
// file name (osquery's kFileExtensions; on Windows every program ends in
// .exe, so Fleet's files are <name>.ext.exe).
func extensionSuffix(goos string) string {
	if goos == "windows" {
		return ".exe"
	}
	return ".ext"
}

// RenderAutoload renders osqueryd's --extensions_autoload list: one
// absolute path a line, sorted. osqueryd runs every program listed, as
// root, so a path that is relative, holds a line break or lacks the
// suffix osqueryd requires is refused rather than written.
func RenderAutoload(paths []string) ([]byte, error) {
	return renderAutoload(runtime.GOOS, paths)
}

func renderAutoload(goos string, paths []string) ([]byte, error) {
	sorted := slices.Sorted(slices.Values(paths))
	var b bytes.Buffer
	for _, p := range sorted {
		switch {
		case strings.ContainsAny(p, "\n\r\x00"):
			return nil, fmt.Errorf("extension path %q has a line break or NUL", p)
		case !isAbs(goos, p):
			return nil, fmt.Errorf("extension path %q is not absolute", p)
		case !strings.HasSuffix(p, extensionSuffix(goos)):
			return nil, fmt.Errorf("extension path %s does not end in %s, which osqueryd requires", p, extensionSuffix(goos))
		}
		b.WriteString(p)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func isAbs(goos, p string) bool {
	if goos == runtime.GOOS {
		return filepath.IsAbs(p)
	}
	if goos == "windows" {
		return len(p) > 2 && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
	}
	return strings.HasPrefix(p, "/")
}

// WriteAutoload makes the list at path hold exactly paths (see
// RenderAutoload), written atomically (0644, as Fleet's agent) and only
// when it changes; it reports whether osqueryd would now load something
// else.
func WriteAutoload(path string, paths []string) (bool, error) {
	data, err := RenderAutoload(paths)
	if err != nil {
		return false, err
	}
	cur, err := safefile.ReadLimited(path, safefile.MaxState)
	if err == nil && bytes.Equal(cur, data) {
		return false, nil
	}
	// A missing list is an empty one to osqueryd (orbit passes an empty
	// --extensions_autoload then): writing it empty changes nothing.
	changed := len(data) > 0 || err == nil
	if err := safefile.WriteAtomic(path, data, 0o644); err != nil {
		return false, fmt.Errorf("write osqueryd's extension list %s: %w", path, err)
	}
	return changed, nil
}
