package updater

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// targetInfo is what the verified targets metadata says about one target.
type targetInfo struct {
	Name    string
	Length  int64
	Hashes  metadata.Hashes
	Version string
	Hash    string // "<alg>:<hex>", the identity used for installs and failures
}

// newTargetInfo reads a target from verified metadata.
func newTargetInfo(name string, tf *metadata.TargetFiles) (targetInfo, error) {
	ti := targetInfo{Name: name, Length: tf.Length, Hashes: tf.Hashes}
	for _, alg := range []string{"sha512", "sha256"} {
		if h, ok := tf.Hashes[alg]; ok {
			ti.Hash = alg + ":" + hex.EncodeToString(h)
			break
		}
	}
	if ti.Hash == "" {
		return ti, fmt.Errorf("target %s has no sha512 or sha256 hash in its metadata: republish it with orbitctl", name)
	}
	if tf.Length <= 0 {
		return ti, fmt.Errorf("target %s has no length in its metadata: republish it with orbitctl", name)
	}
	if tf.Custom != nil {
		var c struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(*tf.Custom, &c) == nil {
			ti.Version = c.Version
		}
	}
	return ti, nil
}

// hashVerifier hashes a stream with every algorithm the metadata names.
type hashVerifier struct {
	want map[string][]byte
	h    map[string]hash.Hash
}

func newHashVerifier(hs metadata.Hashes) (*hashVerifier, error) {
	v := &hashVerifier{want: map[string][]byte{}, h: map[string]hash.Hash{}}
	for alg, want := range hs {
		switch alg {
		case "sha256":
			v.h[alg] = sha256.New()
		case "sha512":
			v.h[alg] = sha512.New()
		default:
			continue // an extra unknown algorithm does not weaken the known ones
		}
		v.want[alg] = want
	}
	if len(v.h) == 0 {
		return nil, errors.New("no supported hash algorithm (sha256, sha512) in target metadata")
	}
	return v, nil
}

func (v *hashVerifier) Write(p []byte) (int, error) {
	for _, h := range v.h {
		h.Write(p)
	}
	return len(p), nil
}

func (v *hashVerifier) verify() error {
	for alg, h := range v.h {
		if !bytes.Equal(h.Sum(nil), v.want[alg]) {
			return fmt.Errorf("%s hash does not match the signed metadata", alg)
		}
	}
	return nil
}

// fileMatches reports whether the file at p already is the target (same
// length and hashes): a bundled file or an install whose state write was
// interrupted is adopted without a download.
func fileMatches(p string, ti targetInfo) bool {
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Size() != ti.Length {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	v, err := newHashVerifier(ti.Hashes)
	if err != nil {
		return false
	}
	if _, err := io.Copy(v, f); err != nil {
		return false
	}
	return v.verify() == nil
}

// targetURL is where a target is served; with consistent snapshots the file
// name is prefixed with its hash.
func targetURL(base, name string, ti targetInfo, consistent bool) (string, error) {
	p := name
	if consistent {
		_, hexHash, _ := strings.Cut(ti.Hash, ":")
		dir, file := path.Split(name)
		p = dir + hexHash + "." + file
	}
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return url.JoinPath(base, "targets", strings.Join(parts, "/"))
}

// staged is a verified download: a file in a directory of its own, made
// for this download by mkdir (so nobody can have prepared it), mode 0700,
// under a staging directory that only root can write; and a read-only
// descriptor of the very inode that was hashed. Nobody else can rename,
// replace or write it, so its path names what was verified until Close.
type staged struct {
	dir  string
	path string
	// f is the verified inode; nil on Windows, which cannot rename a file
	// that is open (the root's ACL guards staging there).
	f *os.File
}

// Close removes the download and its directory (a no-op for the file once
// it was moved into bin/).
func (s *staged) Close() {
	if s.f != nil {
		s.f.Close()
	}
	os.RemoveAll(s.dir)
}

// same checks that p is still the inode that was verified.
func (s *staged) same(p string) error {
	if s.f == nil {
		return nil
	}
	want, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("stat verified download: %w", err)
	}
	got, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("check verified download %s: %w", p, err)
	}
	if !os.SameFile(want, got) {
		return fmt.Errorf("%s is no longer the file that was verified: %w", p, errOpenDir)
	}
	return nil
}

// stagingPrefix names the per-download directories in staging.
const stagingPrefix = "dl-"

// download streams a target into a new file in a private directory under
// staging, reading at most the signed length + 1 bytes, then checks the
// signed length and hashes on the descriptor of what was written. On any
// error nothing is left behind. The file is mode 0755 and fsynced.
func (u *Updater) download(ctx context.Context, stats *netStats, staging string, ti targetInfo, consistent bool) (_ *staged, err error) {
	verifier, err := newHashVerifier(ti.Hashes)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", ti.Name, err)
	}
	src, err := targetURL(u.cfg.UpdateURL, ti.Name, ti, consistent)
	if err != nil {
		return nil, fmt.Errorf("build URL of target %s: %w", ti.Name, err)
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return nil, fmt.Errorf("create staging directory %s: %w (check disk space and permissions)", staging, err)
	}
	if err := u.checkDir(staging); err != nil {
		return nil, fmt.Errorf("refusing to install %s through staging: %w", ti.Name, err)
	}
	dir, err := os.MkdirTemp(staging, stagingPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create a download directory in %s: %w (check disk space and permissions)", staging, err)
	}
	s := &staged{dir: dir, path: filepath.Join(dir, path.Base(ti.Name))}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, u.cfg.DownloadTimeout)
	defer cancel()
	resp, err := get(ctx, u.cfg.HTTPClient, stats, src)
	if err != nil {
		return nil, fmt.Errorf("download target %s: %w", ti.Name, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > ti.Length {
		return nil, fmt.Errorf("download target %s: server announces %d bytes, the signed length is %d", ti.Name, resp.ContentLength, ti.Length)
	}
	w, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return nil, fmt.Errorf("create file in staging %s: %w (check disk space and permissions)", dir, err)
	}
	defer w.Close()
	n, err := io.CopyBuffer(w, io.LimitReader(resp.Body, ti.Length+1), make([]byte, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("download target %s after %d bytes: %w", ti.Name, n, err)
	}
	if n != ti.Length {
		return nil, fmt.Errorf("download target %s: got %d bytes or more, the signed length is %d", ti.Name, n, ti.Length)
	}
	if err := w.Chmod(0o755); err != nil && !isWindows {
		return nil, fmt.Errorf("set mode of %s: %w", s.path, err)
	}
	if err := w.Sync(); err != nil {
		return nil, fmt.Errorf("sync %s: %w (check disk space)", s.path, err)
	}
	// Verify what is on disk, through the descriptor: the bytes that will
	// run, not the bytes that went by.
	if fi, err := w.Stat(); err != nil || fi.Size() != ti.Length {
		return nil, fmt.Errorf("download target %s: the file written is not the signed length %d (%v)", ti.Name, ti.Length, err)
	}
	if _, err := io.CopyBuffer(verifier, io.NewSectionReader(w, 0, ti.Length), make([]byte, 256<<10)); err != nil {
		return nil, fmt.Errorf("read back %s: %w", s.path, err)
	}
	if err := verifier.verify(); err != nil {
		return nil, fmt.Errorf("download target %s: %w: refusing it", ti.Name, err)
	}
	// Exec needs the file closed for writing (else "text file busy"); a
	// read-only descriptor of the same inode keeps what was verified.
	if !isWindows {
		if s.f, err = os.Open(s.path); err != nil {
			return nil, fmt.Errorf("reopen %s: %w", s.path, err)
		}
		wfi, _ := w.Stat()
		rfi, _ := s.f.Stat()
		if !os.SameFile(wfi, rfi) {
			return nil, fmt.Errorf("%s changed while it was verified: %w", s.path, errOpenDir)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("close %s: %w (check disk space)", s.path, err)
	}
	return s, nil
}
