package repo

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/orbitagent/orbit/clock"
	"github.com/orbitagent/orbit/internal/safefile"
)

// Role names.
const (
	RoleRoot      = metadata.ROOT
	RoleTargets   = metadata.TARGETS
	RoleSnapshot  = metadata.SNAPSHOT
	RoleTimestamp = metadata.TIMESTAMP
)

// Roles lists the top-level roles in signing order.
var Roles = []string{RoleRoot, RoleTargets, RoleSnapshot, RoleTimestamp}

// Layout of a repository directory.
const (
	MarkerFile    = "orbitctl.json" // written by Init; Open refuses a DIR without it
	KeysDir       = "keys"          // encrypted private keys, never published
	RevokedDir    = "keys/revoked"  // keys replaced by Rotate
	RepositoryDir = "repository"    // the only part that is published
	TargetsDir    = "targets"       // under RepositoryDir
)

const markerFormat = "orbitctl-tuf-repository"

// ErrNotRepository is returned (wrapped) for a directory that orbitctl did
// not create.
var ErrNotRepository = errors.New("not an orbitctl update repository")

// ErrExpired is returned (wrapped) when the root role has expired and the
// operation cannot fix it.
var ErrExpired = errors.New("metadata expired")

type marker struct {
	Format             string `json:"format"`
	Version            int    `json:"version"`
	ConsistentSnapshot bool   `json:"consistent_snapshot"`
	// Lifetimes chosen at init (Go durations); later commands use them
	// unless their own flags override.
	Expiries map[string]string `json:"expiries,omitempty"`
}

func (m *marker) expiries() Expiries {
	var e Expiries
	for role, s := range m.Expiries {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			continue
		}
		switch role {
		case RoleRoot:
			e.Root = d
		case RoleTargets:
			e.Targets = d
		case RoleSnapshot:
			e.Snapshot = d
		case RoleTimestamp:
			e.Timestamp = d
		}
	}
	return e
}

// or fills e's zero fields from o.
func (e Expiries) or(o Expiries) Expiries {
	if e.Root <= 0 {
		e.Root = o.Root
	}
	if e.Targets <= 0 {
		e.Targets = o.Targets
	}
	if e.Snapshot <= 0 {
		e.Snapshot = o.Snapshot
	}
	if e.Timestamp <= 0 {
		e.Timestamp = o.Timestamp
	}
	return e
}

// Expiries is how long newly signed metadata of each role stays valid; zero
// fields take the defaults (root 10 y, targets and snapshot 3 y, timestamp
// 14 d, as in Fleet's repositories).
type Expiries struct {
	Root, Targets, Snapshot, Timestamp time.Duration
}

// DefaultExpiries returns the defaults.
func DefaultExpiries() Expiries {
	const day = 24 * time.Hour
	return Expiries{Root: 3650 * day, Targets: 3 * 365 * day, Snapshot: 3 * 365 * day, Timestamp: 14 * day}
}

func (e Expiries) withDefaults() Expiries { return e.or(DefaultExpiries()) }

func (e Expiries) of(role string) time.Duration {
	switch role {
	case RoleRoot:
		return e.Root
	case RoleTargets:
		return e.Targets
	case RoleSnapshot:
		return e.Snapshot
	default:
		return e.Timestamp
	}
}

// InitOptions configures Init.
type InitOptions struct {
	RootKeys           int // number of root keys; default 1
	RootThreshold      int // signatures needed on root; default 1
	ConsistentSnapshot bool
	Expiries           Expiries
	Passphrases        Passphrases
	// ScryptLogN is log2 of scrypt's N for the key files; 0 means
	// DefaultScryptLogN. Tests use ~10 to run fast.
	ScryptLogN int
	// Clock sets the signing time (nil: the real clock).
	Clock clock.Clock
}

// OpenOptions configures Open.
type OpenOptions struct {
	Passphrases Passphrases // asked lazily, only for roles an operation signs
	// Expiries: zero fields take the lifetimes given at Init, else the
	// defaults.
	Expiries Expiries
	// Clock sets the signing time (nil: the real clock).
	Clock clock.Clock
	// Progress receives progress of hashing and uploading large files: a
	// bar when it is a terminal, plain lines otherwise. Nil means silent.
	Progress   io.Writer
	ScryptLogN int // for keys created by Rotate; 0 means DefaultScryptLogN
}

// Repo is an open, locked repository. Methods are not safe for concurrent
// use.
type Repo struct {
	dir        string
	consistent bool
	opts       OpenOptions
	lock       *safefile.Lock
	keys       map[string][]*roleKey // decrypted, per role
	passphrase map[string][]byte     // reused to encrypt rotated keys
}

// state is the metadata as read from disk at the start of an operation.
type state struct {
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
}

func clockOrReal(c clock.Clock) clock.Clock {
	if c != nil {
		return c
	}
	return clock.Real()
}

// expiry rounds to the second so metadata stays readable and stable.
func expiry(now time.Time, d time.Duration) time.Time {
	return now.Add(d).UTC().Truncate(time.Second)
}

// Init creates a new repository in dir, which must be missing or empty.
func Init(dir string, opts InitOptions) (err error) {
	if opts.RootKeys <= 0 {
		opts.RootKeys = 1
	}
	if opts.RootThreshold <= 0 {
		opts.RootThreshold = 1
	}
	if opts.RootThreshold > opts.RootKeys {
		return fmt.Errorf("root threshold %d is larger than the number of root keys %d: lower --root-threshold", opts.RootThreshold, opts.RootKeys)
	}
	if err := checkEmptyDir(dir); err != nil {
		return err
	}
	exp := opts.Expiries.withDefaults()
	now := clockOrReal(opts.Clock).Now()

	// Ask for every passphrase before creating anything, so a typo leaves
	// no half-made repository.
	pass := map[string][]byte{}
	for _, role := range Roles {
		p, err := getPassphrase(opts.Passphrases, role, true)
		if err != nil {
			return err
		}
		pass[role] = p
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create repository directory: %w", err)
	}
	lock, err := acquireLock(dir)
	if err != nil {
		return err
	}
	defer lock.Release()
	// Another process may have initialised dir while we asked for passphrases.
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err == nil {
		return fmt.Errorf("%s is already an orbitctl repository: use another --path", dir)
	}

	root := metadata.Root(expiry(now, exp.Root))
	root.Signed.ConsistentSnapshot = opts.ConsistentSnapshot
	keys := map[string][]*roleKey{}
	for _, role := range Roles {
		n := 1
		if role == RoleRoot {
			n = opts.RootKeys
		}
		for i := 0; i < n; i++ {
			k, err := newRoleKey(role)
			if err != nil {
				return err
			}
			if err := root.Signed.AddKey(k.public, role); err != nil {
				return fmt.Errorf("add %s key to root: %w", role, err)
			}
			keys[role] = append(keys[role], k)
		}
	}
	root.Signed.Roles[RoleRoot].Threshold = opts.RootThreshold

	tx, err := newTxn(dir)
	if err != nil {
		return err
	}
	defer tx.abort()
	for _, role := range Roles {
		for _, k := range keys[role] {
			b, err := encryptKey(k, pass[role], opts.ScryptLogN)
			if err != nil {
				return err
			}
			if err := tx.writeFile(filepath.Join(KeysDir, k.file), b, 0o600); err != nil {
				return err
			}
		}
	}
	st := &state{
		root:      root,
		targets:   metadata.Targets(expiry(now, exp.Targets)),
		snapshot:  metadata.Snapshot(expiry(now, exp.Snapshot)),
		timestamp: metadata.Timestamp(expiry(now, exp.Timestamp)),
	}
	if err := signRoot(root, keys[RoleRoot]); err != nil {
		return err
	}
	if err := stageRoot(tx, root); err != nil {
		return err
	}
	// The chain starts at version 1, so undo the bump resign applies.
	st.targets.Signed.Version, st.snapshot.Signed.Version, st.timestamp.Signed.Version = 0, 0, 0
	if err := resign(tx, st, RoleTargets, keys, now, exp, opts.ConsistentSnapshot); err != nil {
		return err
	}
	mk := marker{Format: markerFormat, Version: 1, ConsistentSnapshot: opts.ConsistentSnapshot}
	for _, role := range Roles {
		if d := opts.Expiries.of(role); d > 0 {
			if mk.Expiries == nil {
				mk.Expiries = map[string]string{}
			}
			mk.Expiries[role] = d.String()
		}
	}
	mb, _ := json.MarshalIndent(mk, "", "  ")
	// The marker goes last: a DIR without it was never a usable repository.
	if err := tx.writeFile(MarkerFile, append(mb, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, KeysDir), 0o700); err != nil {
		return fmt.Errorf("create keys directory: %w", err)
	}
	if err := tx.commit(); err != nil {
		return err
	}
	// An empty targets/ lets file-based clients open the repository at once.
	if err := os.MkdirAll(filepath.Join(dir, RepositoryDir, TargetsDir), 0o755); err != nil {
		return fmt.Errorf("create targets directory: %w", err)
	}
	return nil
}

func checkEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerFile)); err == nil {
		return fmt.Errorf("%s is already an orbitctl repository: use another --path", dir)
	}
	for _, e := range entries {
		if e.Name() != lockName {
			return fmt.Errorf("%w: %s is not empty; init needs a new or empty directory", ErrNotRepository, dir)
		}
	}
	return nil
}

// Open locks and opens the repository in dir. Close releases the lock.
func Open(dir string, opts OpenOptions) (*Repo, error) {
	m, err := readMarker(dir)
	if err != nil {
		return nil, err
	}
	lock, err := acquireLock(dir)
	if err != nil {
		return nil, err
	}
	if err := recoverTxn(dir); err != nil {
		lock.Release()
		return nil, err
	}
	opts.Expiries = opts.Expiries.or(m.expiries()).withDefaults()
	opts.Clock = clockOrReal(opts.Clock)
	r := &Repo{dir: dir, consistent: m.ConsistentSnapshot, opts: opts, lock: lock,
		keys: map[string][]*roleKey{}, passphrase: map[string][]byte{}}
	if _, err := r.load(); err != nil {
		lock.Release()
		return nil, err
	}
	return r, nil
}

// OpenReadOnly opens the repository for reading (Status, RootJSON) without
// the editor lock, so `status` and `roots` work while another orbitctl
// edits or publishes. Every file is replaced by rename, so each read sees a
// whole file. It must not be used to edit.
func OpenReadOnly(dir string, opts OpenOptions) (*Repo, error) {
	m, err := readMarker(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(txnDir(dir), txnManifest)); err == nil {
		return nil, fmt.Errorf("an edit of %s is being applied or was interrupted: try again, or run an editing command (such as `orbitctl updates timestamp`) to finish it", dir)
	}
	opts.Expiries = opts.Expiries.or(m.expiries()).withDefaults()
	opts.Clock = clockOrReal(opts.Clock)
	r := &Repo{dir: dir, consistent: m.ConsistentSnapshot, opts: opts,
		keys: map[string][]*roleKey{}, passphrase: map[string][]byte{}}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func readMarker(dir string) (*marker, error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no readable %s; run `orbitctl updates init --path %s` to create one", ErrNotRepository, dir, MarkerFile, dir)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil || m.Format != markerFormat {
		return nil, fmt.Errorf("%w: %s in %s was not written by orbitctl", ErrNotRepository, MarkerFile, dir)
	}
	for _, sub := range []string{KeysDir, RepositoryDir} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: %s has no %s/ directory; restore it from your backup", ErrNotRepository, dir, sub)
		}
	}
	return &m, nil
}

// Close releases the repository lock and forgets decrypted keys.
func (r *Repo) Close() error {
	r.keys = nil
	for k, p := range r.passphrase {
		clear(p)
		delete(r.passphrase, k)
	}
	return r.lock.Release()
}

// Dir returns the repository directory.
func (r *Repo) Dir() string { return r.dir }

func (r *Repo) path(rel ...string) string {
	return filepath.Join(append([]string{r.dir, RepositoryDir}, rel...)...)
}

func (r *Repo) load() (*state, error) {
	var st state
	var err error
	if st.root, err = new(metadata.Metadata[metadata.RootType]).FromFile(r.path("root.json")); err != nil {
		return nil, fmt.Errorf("read root.json: %w (restore repository/ from your backup)", err)
	}
	if st.targets, err = new(metadata.Metadata[metadata.TargetsType]).FromFile(r.path("targets.json")); err != nil {
		return nil, fmt.Errorf("read targets.json: %w (restore repository/ from your backup)", err)
	}
	if st.snapshot, err = new(metadata.Metadata[metadata.SnapshotType]).FromFile(r.path("snapshot.json")); err != nil {
		return nil, fmt.Errorf("read snapshot.json: %w (restore repository/ from your backup)", err)
	}
	if st.timestamp, err = new(metadata.Metadata[metadata.TimestampType]).FromFile(r.path("timestamp.json")); err != nil {
		return nil, fmt.Errorf("read timestamp.json: %w (restore repository/ from your backup)", err)
	}
	return &st, nil
}

// roleKeys decrypts (once) the keys root lists for role.
func (r *Repo) roleKeys(root *metadata.Metadata[metadata.RootType], role string) ([]*roleKey, error) {
	m, err := r.unlock(root, role)
	if err != nil {
		return nil, err
	}
	return m[role], nil
}

// unlock decrypts the keys of roles not yet cached. Passphrases are asked
// one after another (a terminal prompt is serial); the scrypt work then
// runs in parallel.
func (r *Repo) unlock(root *metadata.Metadata[metadata.RootType], roles ...string) (map[string][]*roleKey, error) {
	out := map[string][]*roleKey{}
	var todo []string
	for _, role := range roles {
		if ks, ok := r.keys[role]; ok {
			out[role] = ks
		} else if !slices.Contains(todo, role) {
			todo = append(todo, role)
		}
	}
	pass := map[string][]byte{}
	for _, role := range todo {
		p, err := getPassphrase(r.opts.Passphrases, role, false)
		if err != nil {
			return nil, err
		}
		pass[role] = p
	}
	keys := make([][]*roleKey, len(todo))
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, role := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = loadRoleKeys(filepath.Join(r.dir, KeysDir), role, root.Signed.Roles[role].KeyIDs, pass[role])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, role := range todo {
		r.keys[role] = keys[i]
		r.passphrase[role] = pass[role]
		out[role] = keys[i]
	}
	return out, nil
}

func (r *Repo) checkRootValid(st *state, now time.Time) error {
	if st.root.Signed.IsExpired(now) {
		return fmt.Errorf("%w: root.json expired on %s; run `orbitctl updates rotate root` to sign a new root first",
			ErrExpired, st.root.Signed.Expires.Format(time.RFC3339))
	}
	return nil
}

// RootJSON returns the current root.json, as packages embed it.
func (r *Repo) RootJSON() ([]byte, error) {
	b, err := os.ReadFile(r.path("root.json"))
	if err != nil {
		return nil, fmt.Errorf("read root.json: %w", err)
	}
	return b, nil
}

// Timestamp re-signs only timestamp.json with a fresh expiry (for a cron job).
func (r *Repo) Timestamp() error {
	st, err := r.load()
	if err != nil {
		return err
	}
	now := r.opts.Clock.Now()
	if err := r.checkRootValid(st, now); err != nil {
		return err
	}
	ks, err := r.roleKeys(st.root, RoleTimestamp)
	if err != nil {
		return err
	}
	tx, err := newTxn(r.dir)
	if err != nil {
		return err
	}
	defer tx.abort()
	if err := resign(tx, st, RoleTimestamp, map[string][]*roleKey{RoleTimestamp: ks}, now, r.opts.Expiries, r.consistent); err != nil {
		return err
	}
	return tx.commit()
}

func sign[T metadata.Roles](m *metadata.Metadata[T], keys []*roleKey) error {
	m.ClearSignatures()
	for _, k := range keys {
		s, err := k.signer()
		if err != nil {
			return fmt.Errorf("load %s signer: %w", k.role, err)
		}
		if _, err := m.Sign(s); err != nil {
			return fmt.Errorf("sign %s metadata: %w", k.role, err)
		}
	}
	return nil
}

func signRoot(root *metadata.Metadata[metadata.RootType], keys ...[]*roleKey) error {
	var all []*roleKey
	seen := map[string]bool{}
	for _, ks := range keys {
		for _, k := range ks {
			if !seen[k.id] {
				seen[k.id] = true
				all = append(all, k)
			}
		}
	}
	return sign(root, all)
}

func stageRoot(tx *txn, root *metadata.Metadata[metadata.RootType]) error {
	b, err := root.ToBytes(true)
	if err != nil {
		return fmt.Errorf("encode root.json: %w", err)
	}
	// Versioned roots are how clients walk a rotation, so they are written
	// whether or not consistent snapshots are on.
	if err := tx.writeFile(filepath.Join(RepositoryDir, fmt.Sprintf("%d.root.json", root.Signed.Version)), b, 0o644); err != nil {
		return err
	}
	return tx.writeFile(filepath.Join(RepositoryDir, "root.json"), b, 0o644)
}

// resign bumps, re-signs and stages `from` and every role below it in the
// chain targets -> snapshot -> timestamp, updating the meta each one lists.
func resign(tx *txn, st *state, from string, keys map[string][]*roleKey, now time.Time, exp Expiries, consistent bool) error {
	stage := func(name string, version int64, b []byte) error {
		if consistent && name != "timestamp" {
			if err := tx.writeFile(filepath.Join(RepositoryDir, fmt.Sprintf("%d.%s.json", version, name)), b, 0o644); err != nil {
				return err
			}
		}
		return tx.writeFile(filepath.Join(RepositoryDir, name+".json"), b, 0o644)
	}
	chain := []string{RoleTargets, RoleSnapshot, RoleTimestamp}
	started := false
	for _, role := range chain {
		if role == from {
			started = true
		}
		if !started {
			continue
		}
		var (
			b   []byte
			ver int64
			err error
		)
		switch role {
		case RoleTargets:
			m := st.targets
			m.Signed.Version++
			m.Signed.Expires = expiry(now, exp.Targets)
			if err = sign(m, keys[role]); err == nil {
				b, err = m.ToBytes(true)
			}
			ver = m.Signed.Version
			st.snapshot.Signed.Meta["targets.json"] = metaFile(ver, b)
		case RoleSnapshot:
			m := st.snapshot
			m.Signed.Version++
			m.Signed.Expires = expiry(now, exp.Snapshot)
			if err = sign(m, keys[role]); err == nil {
				b, err = m.ToBytes(true)
			}
			ver = m.Signed.Version
			st.timestamp.Signed.Meta["snapshot.json"] = metaFile(ver, b)
		case RoleTimestamp:
			m := st.timestamp
			m.Signed.Version++
			m.Signed.Expires = expiry(now, exp.Timestamp)
			if err = sign(m, keys[role]); err == nil {
				b, err = m.ToBytes(true)
			}
			ver = m.Signed.Version
		}
		if err != nil {
			return fmt.Errorf("sign %s.json: %w", role, err)
		}
		if err := stage(role, ver, b); err != nil {
			return err
		}
	}
	return nil
}

// metaFile describes a metadata file with length and hashes, which both
// go-tuf v2 and Fleet's go-tuf v0.x clients check before parsing it.
func metaFile(version int64, b []byte) *metadata.MetaFiles {
	s256 := sha256.Sum256(b)
	s512 := sha512.Sum512(b)
	return &metadata.MetaFiles{
		Version: version,
		Length:  int64(len(b)),
		Hashes:  metadata.Hashes{"sha256": s256[:], "sha512": s512[:]},
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
