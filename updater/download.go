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

// download streams a target into a new file in dir, reading at most the
// signed length + 1 bytes and checking the signed hashes as it goes. On any
// error the partial file is removed. The returned file is mode 0755 and
// fsynced.
func (u *Updater) download(ctx context.Context, stats *netStats, dir string, ti targetInfo, consistent bool) (string, error) {
	verifier, err := newHashVerifier(ti.Hashes)
	if err != nil {
		return "", fmt.Errorf("target %s: %w", ti.Name, err)
	}
	src, err := targetURL(u.cfg.UpdateURL, ti.Name, ti, consistent)
	if err != nil {
		return "", fmt.Errorf("build URL of target %s: %w", ti.Name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create staging directory %s: %w (check disk space and permissions)", dir, err)
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.DownloadTimeout)
	defer cancel()
	resp, err := get(ctx, u.cfg.HTTPClient, stats, src)
	if err != nil {
		return "", fmt.Errorf("download target %s: %w", ti.Name, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > ti.Length {
		return "", fmt.Errorf("download target %s: server announces %d bytes, the signed length is %d", ti.Name, resp.ContentLength, ti.Length)
	}
	f, err := os.CreateTemp(dir, "."+path.Base(ti.Name)+".download-*")
	if err != nil {
		return "", fmt.Errorf("create file in staging %s: %w (check disk space and permissions)", dir, err)
	}
	name := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(name)
		}
	}()
	n, err := io.CopyBuffer(io.MultiWriter(f, verifier), io.LimitReader(resp.Body, ti.Length+1), make([]byte, 256<<10))
	if err != nil {
		return "", fmt.Errorf("download target %s after %d bytes: %w", ti.Name, n, err)
	}
	if n != ti.Length {
		return "", fmt.Errorf("download target %s: got %d bytes or more, the signed length is %d", ti.Name, n, ti.Length)
	}
	if err := verifier.verify(); err != nil {
		return "", fmt.Errorf("download target %s: %w: refusing it", ti.Name, err)
	}
	if err := f.Chmod(0o755); err != nil && !isWindows {
		return "", fmt.Errorf("set mode of %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w (check disk space)", name, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close %s: %w (check disk space)", name, err)
	}
	ok = true
	return filepath.Clean(name), nil
}
