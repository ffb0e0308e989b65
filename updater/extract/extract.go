// Package extract unpacks a verified .tar.gz target into a directory.
//
// A signed archive is trusted for its bytes, not for what it asks the
// filesystem to do. TarGz therefore:
//   - writes only inside the directory: every operation goes through an
//     os.Root (openat-style resolution relative to the directory, so even a
//     link swapped in during extraction cannot lead outside), files are
//     created with O_EXCL (never through an existing file or link), and no
//     entry is written through a link, even one that stays inside;
//   - checks links against the paths on disk, not as text: a symlink's
//     target is resolved through the links already extracted and must stay
//     inside (when it is created, and again once the whole archive is out,
//     since a later link can change where an earlier one leads); a hard link
//     must name a regular file extracted earlier, reached without links;
//   - caps the expanded size, the number of entries and the expansion ratio,
//     checked on a first pass that writes nothing, so an archive bomb fails
//     before any byte reaches the disk, and counted again while writing so
//     nothing is ever written past a cap;
//   - installs only directories, regular files, symlinks and hard links,
//     drops group/other write, setuid, setgid and sticky bits, and refuses
//     names with NUL, backslashes, "..", or an absolute or volume path.
package extract

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/orbitagent/orbit/internal/safefile"
)

// Defaults of Limits.
const (
	// DefaultMaxBytes caps the total size of the regular files (1 GiB): far
	// above a tray app or an osquery bundle (tens of MiB), small enough that
	// a bad release cannot fill a host's disk.
	DefaultMaxBytes int64 = 1 << 30
	// DefaultMaxEntries caps the number of entries of any type: a macOS app
	// bundle has a few thousand; 100,000 bounds inodes and the time spent.
	DefaultMaxEntries = 100_000
	// DefaultMaxRatio caps the expanded size at this multiple of the
	// compressed size. Executables and bundles compress 2-5x, text-heavy
	// ones up to ~20x; deflate's own maximum is about 1032x (runs of one
	// byte). 200x leaves ten times the headroom of any real release and
	// still refuses a bomb at a fifth of what deflate can reach: 1 MiB of
	// archive may expand to 200 MiB, not 1 GiB.
	DefaultMaxRatio int64 = 200
	// ratioFloor is the size every archive may expand to whatever its ratio,
	// so a tiny archive of a very compressible file is not refused.
	ratioFloor int64 = 1 << 20
	// maxNameLen bounds entry names and link targets (PATH_MAX on Linux);
	// it also bounds the work of resolving one link.
	maxNameLen = 4096
	// maxLinkHops is how many symlinks one resolution may follow (Linux's
	// MAXSYMLINKS).
	maxLinkHops = 40
)

// Limits bound what one archive may ask of the disk. A zero field takes its
// default.
type Limits struct {
	// MaxBytes caps the total size of the regular files.
	MaxBytes int64
	// MaxEntries caps the number of entries (files, directories, links).
	MaxEntries int
	// MaxRatio caps the total size at MaxRatio times the archive's size
	// (but never below 1 MiB).
	MaxRatio int64
}

// Validate refuses negative limits.
func (l Limits) Validate() error {
	if l.MaxBytes < 0 || l.MaxEntries < 0 || l.MaxRatio < 0 {
		return fmt.Errorf("archive limits %+v: a limit is zero (the default) or positive", l)
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes == 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries == 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxRatio == 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	return l
}

// ErrLimit is wrapped by every *LimitError.
var ErrLimit = errors.New("archive exceeds an extraction limit")

// Names of the limits in a LimitError.
const (
	LimitSize    = "size"
	LimitEntries = "entries"
	LimitRatio   = "ratio"
)

// LimitError says which limit an archive hit.
type LimitError struct {
	Limit      string // LimitSize, LimitEntries or LimitRatio
	Max        int64  // the limit's value: bytes, entries, or the multiple
	Compressed int64  // the archive's size (for LimitRatio)
	Entry      string // the entry that went over
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitEntries:
		return fmt.Sprintf("archive has more than %d entries (entries limit, at %q): refused; the release is not installable", e.Max, e.Entry)
	case LimitRatio:
		return fmt.Sprintf("archive of %d bytes expands past %d times its size (ratio limit, at %q): refused as an archive bomb", e.Compressed, e.Max, e.Entry)
	default:
		return fmt.Sprintf("archive expands past %d bytes (size limit, at %q): refused; the release is not installable", e.Max, e.Entry)
	}
}

func (e *LimitError) Unwrap() error { return ErrLimit }

// TarGz extracts the gzip-compressed tar file archive into dir, an existing
// empty directory. On error dir is left empty (the caller removes it).
func TarGz(ctx context.Context, archive, dir string, lim Limits) (err error) {
	if err := lim.Validate(); err != nil {
		return err
	}
	lim = lim.withDefaults()
	f, st, err := safefile.OpenRegular(archive)
	if err != nil {
		return fmt.Errorf("open archive: %w", err)
	}
	defer f.Close()
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		return fmt.Errorf("extraction directory %s must be an existing empty directory (%d entries, %v)", dir, len(ents), err)
	}
	b := newBudget(lim, st.Size())

	// First pass: headers only, nothing written.
	if err := walk(ctx, f, func(h *tar.Header, _ io.Reader) error {
		_, err := b.admit(h)
		return err
	}); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind archive: %w", err)
	}

	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open extraction directory: %w", err)
	}
	defer root.Close()
	defer func() {
		if err != nil {
			empty(root)
		}
	}()
	x := &extractor{root: root, budget: newBudget(lim, st.Size()), dirs: map[string]bool{}}
	if err := walk(ctx, f, x.entry); err != nil {
		return err
	}
	// A link created early may lead elsewhere once later links exist:
	// check every link against the finished tree.
	for _, l := range x.links {
		if err := x.checkSymlink(l.name, l.target); err != nil {
			return err
		}
	}
	return nil
}

// Join returns the path under dir of an archive entry name (a slash path
// such as a component's executable), refusing the names TarGz refuses.
func Join(dir, name string) (string, error) {
	clean, err := cleanName(name)
	if err != nil {
		return "", err
	}
	if clean == "." {
		return "", fmt.Errorf("archive path %q names the directory itself, not a file in it", name)
	}
	return filepath.Join(dir, filepath.FromSlash(clean)), nil
}

// walk calls fn for every entry of the gzip-compressed tar stream in r.
func walk(ctx context.Context, r io.Reader, fn func(*tar.Header, io.Reader) error) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("read gzip archive: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(ctxReader{ctx, gz})
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return fmt.Errorf("extract archive: %w", cerr)
			}
			return fmt.Errorf("read tar archive: %w", err)
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

// ctxReader ends a long decompression when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// budget counts entries and bytes against the limits.
type budget struct {
	lim        Limits
	compressed int64
	maxBytes   int64 // min(MaxBytes, max(ratioFloor, MaxRatio*compressed))
	entries    int
	bytes      int64
}

func newBudget(lim Limits, compressed int64) *budget {
	b := &budget{lim: lim, compressed: compressed, maxBytes: lim.MaxBytes}
	// compressed*MaxRatio without overflow.
	if compressed <= lim.MaxBytes/lim.MaxRatio {
		b.maxBytes = min(lim.MaxBytes, max(ratioFloor, compressed*lim.MaxRatio))
	}
	return b
}

// admit validates a header (name, type, link) and counts it; it returns the
// entry's clean name.
func (b *budget) admit(h *tar.Header) (string, error) {
	name, err := cleanName(h.Name)
	if err != nil {
		return "", err
	}
	b.entries++
	if b.entries > b.lim.MaxEntries {
		return "", &LimitError{Limit: LimitEntries, Max: int64(b.lim.MaxEntries), Entry: h.Name}
	}
	switch h.Typeflag {
	case tar.TypeDir:
	case tar.TypeReg:
		if h.Size < 0 || h.Size > b.maxBytes-b.bytes {
			if b.maxBytes < b.lim.MaxBytes {
				return "", &LimitError{Limit: LimitRatio, Max: b.lim.MaxRatio, Compressed: b.compressed, Entry: h.Name}
			}
			return "", &LimitError{Limit: LimitSize, Max: b.lim.MaxBytes, Entry: h.Name}
		}
		b.bytes += h.Size
	case tar.TypeSymlink:
		if err := checkTarget(h.Name, h.Linkname); err != nil {
			return "", err
		}
	case tar.TypeLink:
		if _, err := cleanName(h.Linkname); err != nil {
			return "", fmt.Errorf("hard link %q: %w", h.Name, err)
		}
	default:
		return "", fmt.Errorf("archive entry %q has unsupported type %q: only files, directories and links are installed", h.Name, h.Typeflag)
	}
	if name == "." && h.Typeflag != tar.TypeDir {
		return "", fmt.Errorf("archive entry %q names the extraction directory itself", h.Name)
	}
	return name, nil
}

// cleanName checks an entry name and returns it as a clean slash path
// ("." for the directory itself).
func cleanName(name string) (string, error) {
	if err := checkText("archive entry", name); err != nil {
		return "", err
	}
	if path.IsAbs(name) || filepath.IsAbs(name) || filepath.VolumeName(name) != "" {
		return "", fmt.Errorf("archive entry %q has an absolute path", name)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", fmt.Errorf("archive entry %q contains \"..\": it escapes the target directory", name)
		default:
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// checkTarget checks a symlink's target as text; where it leads is checked
// on disk (resolve).
func checkTarget(name, target string) error {
	if err := checkText("link target of "+fmt.Sprintf("%q", name), target); err != nil {
		return err
	}
	if path.IsAbs(target) || filepath.IsAbs(target) || filepath.VolumeName(target) != "" {
		return fmt.Errorf("archive link %q -> %q is absolute: links must stay inside the archive", name, target)
	}
	return nil
}

func checkText(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s has an empty name", what)
	case len(s) > maxNameLen:
		return fmt.Errorf("%s is longer than %d bytes", what, maxNameLen)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	case strings.Contains(s, `\`):
		return fmt.Errorf("%s %q contains a backslash: use / between path parts", what, s)
	}
	return nil
}

// empty removes what an interrupted extraction left in root.
func empty(root *os.Root) {
	d, err := root.Open(".")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		_ = root.RemoveAll(n)
	}
}

const isWindows = runtime.GOOS == "windows"
