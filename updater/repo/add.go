package repo

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/orbitagent/orbit/internal/safefile"
)

// Platforms are the platform names Fleet's agents ask for.
var Platforms = []string{"linux", "linux-arm64", "macos", "macos-app", "windows", "windows-arm64"}

// AddTarget describes a file to publish as
// <Name>/<Platform>/<tag>/<FileName> under every tag.
type AddTarget struct {
	File     string   // local file to add
	Name     string   // component: orbit, osqueryd, desktop, extensions/<name>
	Platform string   // one of Platforms
	Version  string   // semantic version X.Y.Z, stored as custom {"version": ...}
	Tags     []string // channels: stable, edge, X.Y, X, ...
	FileName string   // published file name; default: base name of File
}

// TargetCustom is the custom metadata stored with each target.
type TargetCustom struct {
	Version string `json:"version"`
}

var (
	semverRe  = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	segmentRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
)

func validSegments(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s: pass one", what)
	}
	for _, seg := range strings.Split(s, "/") {
		if !segmentRe.MatchString(seg) || seg == "." || seg == ".." {
			return fmt.Errorf("invalid %s %q: use letters, digits, '.', '_', '-', '+' (and '/' between parts of a name)", what, s)
		}
	}
	return nil
}

func (t *AddTarget) validate() error {
	if t.File == "" {
		return errors.New("no target file given: pass --target FILE")
	}
	if err := validSegments("name", t.Name); err != nil {
		return err
	}
	if !slices.Contains(Platforms, t.Platform) {
		return fmt.Errorf("unknown platform %q: use one of %s", t.Platform, strings.Join(Platforms, ", "))
	}
	if !semverRe.MatchString(t.Version) {
		return fmt.Errorf("version %q is not a semantic version: use X.Y.Z, e.g. 1.38.0", t.Version)
	}
	if len(t.Tags) == 0 {
		return errors.New("no channel tags given: pass at least one -t TAG (e.g. -t stable -t 1.38 -t 1)")
	}
	for _, tag := range t.Tags {
		if strings.Contains(tag, "/") {
			return fmt.Errorf("invalid tag %q: a tag is one path part", tag)
		}
		if err := validSegments("tag", tag); err != nil {
			return err
		}
	}
	if t.FileName == "" {
		t.FileName = filepath.Base(t.File)
	}
	if strings.Contains(t.FileName, "/") || strings.Contains(t.FileName, `\`) {
		return fmt.Errorf("invalid file name %q: a file name has no directory part", t.FileName)
	}
	if err := validSegments("file name", t.FileName); err != nil {
		return err
	}
	return nil
}

// TargetPaths returns the target names t will be published under.
func (t AddTarget) TargetPaths() []string {
	fn := t.FileName
	if fn == "" {
		fn = filepath.Base(t.File)
	}
	var ps []string
	for _, tag := range t.Tags {
		ps = append(ps, path.Join(t.Name, t.Platform, tag, fn))
	}
	return ps
}

// AddTarget copies the file into the repository under every tag and
// re-signs targets, snapshot and timestamp (which also renews expired
// snapshot and timestamp metadata). It refuses when root has expired.
func (r *Repo) AddTarget(ctx context.Context, t AddTarget) error {
	if err := t.validate(); err != nil {
		return err
	}
	// A FIFO or a device would block open() or never end, holding the
	// repository lock: refused before and after a non-blocking open.
	src, info, err := safefile.OpenRegular(t.File)
	if err != nil {
		return fmt.Errorf("open target file: %w", err)
	}
	defer src.Close()

	st, err := r.load()
	if err != nil {
		return err
	}
	now := r.opts.Clock.Now()
	if err := r.checkRootValid(st, now); err != nil {
		return err
	}
	tx, err := newTxn(r.dir)
	if err != nil {
		return err
	}
	defer tx.abort()

	// Decrypt keys while the file is copied and hashed; a wrong passphrase
	// stops the copy at once.
	copyCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var keys map[string][]*roleKey
	unlocked := make(chan error, 1)
	go func() {
		var err error
		keys, err = r.unlock(st.root, RoleTargets, RoleSnapshot, RoleTimestamp)
		if err != nil {
			cancel()
		}
		unlocked <- err
	}()

	paths := t.TargetPaths()
	first := len(tx.ops)
	dst, err := tx.create(filepath.Join(RepositoryDir, TargetsDir, filepath.FromSlash(paths[0])), 0o644)
	if err != nil {
		cancel()
		<-unlocked
		return err
	}
	h256, h512 := sha256.New(), sha512.New()
	pr := newProgress(r.opts.Progress, "hashing "+t.FileName, info.Size())
	dsts := []io.Writer{dst, h256, h512}
	if pr != nil {
		dsts = append(dsts, pr)
	}
	n, err := fanout(copyCtx, src, dsts...)
	pr.finish()
	if uerr := <-unlocked; uerr != nil {
		dst.Close()
		return uerr
	}
	if err != nil {
		dst.Close()
		return fmt.Errorf("copy target file: %w", err)
	}
	// Flushed with the other staged files at commit.
	if err := dst.Close(); err != nil {
		return fmt.Errorf("write staged target: %w", err)
	}
	custom, _ := json.Marshal(TargetCustom{Version: t.Version})
	raw := json.RawMessage(custom)
	hashes := metadata.Hashes{"sha256": h256.Sum(nil), "sha512": h512.Sum(nil)}

	// Lay out every published copy: the plain name, or with consistent
	// snapshots one hash-prefixed copy per hash (clients pick any).
	var dests []string
	for _, p := range paths {
		if r.consistent {
			dir, base := path.Split(p)
			for _, alg := range sortedKeys(hashes) {
				dests = append(dests, dir+hex.EncodeToString(hashes[alg])+"."+base)
			}
		} else {
			dests = append(dests, p)
		}
	}
	tx.ops[first].To = path.Join(RepositoryDir, TargetsDir, dests[0])
	for _, d := range dests[1:] {
		if err := tx.copyStaged(first, path.Join(RepositoryDir, TargetsDir, d)); err != nil {
			return err
		}
	}
	for _, p := range paths {
		c := raw
		st.targets.Signed.Targets[p] = &metadata.TargetFiles{Length: n, Hashes: hashes, Custom: &c, Path: p}
	}
	if err := resign(tx, st, RoleTargets, keys, now, r.opts.Expiries, r.consistent); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("add target: %w", err)
	}
	return tx.commit()
}

func customOf(raw *json.RawMessage) (TargetCustom, error) {
	var c TargetCustom
	if raw == nil {
		return c, errors.New("no custom metadata")
	}
	err := json.Unmarshal(*raw, &c)
	return c, err
}
