package repo

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ObjectStore is where Publish uploads (S3 and compatible stores in
// package s3store; a fake in tests).
type ObjectStore interface {
	// Put uploads body (size bytes) as key.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64, contentType, cacheControl string) error
	// Stat returns the size and MD5 (hex) of key if the store can tell
	// cheaply; found is false when key does not exist.
	Stat(ctx context.Context, key string) (size int64, md5hex string, found bool, err error)
}

// PublishItem is one file in upload order.
type PublishItem struct {
	Key          string // path relative to repository/, '/'-separated
	Path         string // local file
	Size         int64
	CacheControl string
	ContentType  string
}

// PublishOptions configures Publish.
type PublishOptions struct {
	// SkipUnchanged compares size and MD5 with the store and skips equal
	// objects.
	SkipUnchanged bool
	// Progress shows large uploads (a bar on a terminal, lines
	// otherwise); nil is silent.
	Progress io.Writer
}

// PublishResult counts what Publish did.
type PublishResult struct {
	Uploaded int `json:"uploaded"`
	Skipped  int `json:"skipped"`
}

// PublishPlan lists the files of the published folder in an order that
// never shows clients a half-published repository: target files first,
// then versioned metadata (N.root.json, N.targets.json, N.snapshot.json),
// then root.json, targets.json, snapshot.json, and timestamp.json last.
func PublishPlan(dir string) ([]PublishItem, error) {
	root := RepositoryPath(dir)
	var items []PublishItem
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		ct := "application/octet-stream"
		if !strings.HasPrefix(rel, TargetsDir+"/") && strings.HasSuffix(rel, ".json") {
			ct = "application/json"
		}
		items = append(items, PublishItem{Key: rel, Path: p, Size: info.Size(), CacheControl: CacheControl(rel), ContentType: ct})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: nothing to publish in %s", ErrNotRepository, root)
	}
	sort.SliceStable(items, func(i, j int) bool {
		ri, rj := publishRank(items[i].Key), publishRank(items[j].Key)
		if ri != rj {
			return ri < rj
		}
		return items[i].Key < items[j].Key
	})
	return items, nil
}

func publishRank(key string) int {
	switch {
	case strings.HasPrefix(key, TargetsDir+"/"):
		return 0
	case versionedMetaRe.MatchString(key):
		return 1
	case key == "root.json":
		return 2
	case key == "targets.json":
		return 3
	case key == "snapshot.json":
		return 4
	case key == "timestamp.json":
		return 6
	default:
		return 5
	}
}

// Publish uploads the repository's published folder to store in
// PublishPlan order, holding the repository lock so no command changes it
// meanwhile. A failure stops at once; what was uploaded before only adds
// files the old metadata does not reference (with consistent snapshots),
// so clients keep seeing the previous repository.
func (r *Repo) Publish(ctx context.Context, store ObjectStore, opts PublishOptions) (PublishResult, error) {
	var res PublishResult
	// Never upload what clients would refuse: check the repository as a
	// client holding the current root would (signatures, hashes, expiry).
	root, err := r.RootJSON()
	if err != nil {
		return res, err
	}
	if rep, err := Verify(r.dir, root, r.opts.Clock.Now()); err != nil {
		if len(rep.Problems) > 0 {
			return res, fmt.Errorf("not publishing: %w: %s (an expired timestamp is renewed by `orbitctl updates timestamp`)", err, strings.Join(rep.Problems, "; "))
		}
		return res, fmt.Errorf("not publishing: %w", err)
	}
	items, err := PublishPlan(r.dir)
	if err != nil {
		return res, err
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("publish interrupted before %s: %w", it.Key, err)
		}
		skipped, err := publishOne(ctx, store, it, opts)
		if err != nil {
			return res, fmt.Errorf("upload %s: %w (run publish again; clients still see the previous repository)", it.Key, err)
		}
		if skipped {
			res.Skipped++
		} else {
			res.Uploaded++
		}
	}
	return res, nil
}

func publishOne(ctx context.Context, store ObjectStore, it PublishItem, opts PublishOptions) (bool, error) {
	f, err := os.Open(it.Path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if opts.SkipUnchanged {
		size, sum, found, err := store.Stat(ctx, it.Key)
		if err == nil && found && size == it.Size && sum != "" {
			h := md5.New()
			if _, err := io.Copy(h, f); err != nil {
				return false, err
			}
			if hex.EncodeToString(h.Sum(nil)) == sum {
				return true, nil
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return false, err
			}
		}
	}
	var body io.ReadSeeker = f
	if pr := newProgress(opts.Progress, "uploading "+it.Key, it.Size); pr != nil {
		body = &progressSeeker{ReadSeeker: f, p: pr}
		defer pr.finish()
	}
	return false, store.Put(ctx, it.Key, body, it.Size, it.ContentType, it.CacheControl)
}

// progressSeeker reports reads; a rewind (SDK retry or signing pass) starts
// the count over.
type progressSeeker struct {
	io.ReadSeeker
	p *progress
}

func (s *progressSeeker) Read(b []byte) (int, error) {
	n, err := s.ReadSeeker.Read(b)
	s.p.Write(b[:n])
	return n, err
}

func (s *progressSeeker) Seek(off int64, whence int) (int64, error) {
	n, err := s.ReadSeeker.Seek(off, whence)
	if err == nil {
		s.p.done = n
	}
	return n, err
}

// Consistent reports whether the repository uses consistent snapshots, the
// layout in which a publish never overwrites a file a client may be reading.
func (r *Repo) Consistent() bool { return r.consistent }
