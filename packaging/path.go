package packaging

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// CheckUnixPath refuses a File path a Unix package (deb, rpm, pkg) cannot
// carry as given: relative, the root itself, unclean (//, /./, /../, a
// trailing /), or holding a control character.
func CheckUnixPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is relative: Unix packages take absolute paths (/opt/orbit/...)", p)
	}
	if p == "/" {
		return fmt.Errorf("path \"/\" cannot be listed: the root is implicit")
	}
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return fmt.Errorf("path %q holds a NUL or another control character", p)
	}
	if path.Clean(p) != p {
		return fmt.Errorf("path %q is not clean (no //, /./, /../ or trailing /): use %q", p, path.Clean(p))
	}
	return nil
}
