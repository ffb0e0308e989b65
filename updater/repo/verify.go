package repo

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ErrVerifyFailed is returned (wrapped) by Verify when the repository would
// not be accepted by a client; the Report says why.
var ErrVerifyFailed = errors.New("repository verification failed")

// Report is the result of Verify.
type Report struct {
	OK                 bool          `json:"ok"`
	ConsistentSnapshot bool          `json:"consistent_snapshot"`
	Roles              []RoleCheck   `json:"roles"`
	Targets            []TargetCheck `json:"targets"`
	Problems           []string      `json:"problems,omitempty"`
}

// RoleCheck is the verdict on one metadata file.
type RoleCheck struct {
	Role       string    `json:"role"`
	Version    int64     `json:"version"`
	Expires    time.Time `json:"expires"`
	Expired    bool      `json:"expired"`
	Signatures int       `json:"valid_signatures"`
	Threshold  int       `json:"threshold"`
	OK         bool      `json:"ok"`
}

// TargetCheck is the verdict on one target file.
type TargetCheck struct {
	Target  string `json:"target"`
	Length  int64  `json:"length"`
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
}

// Verify checks the repository in repoDir (an orbitctl directory or its
// published repository/ folder) as a client holding trustedRoot would at
// time now: the root chain from trustedRoot, signatures and thresholds of
// every role, versions, lengths and hashes between roles, expiry, and the
// length and every hash of every target file (each hash-prefixed copy with
// consistent snapshots). The Report is filled in even on failure; err wraps
// ErrVerifyFailed when the repository is not acceptable.
func Verify(repoDir string, trustedRoot []byte, now time.Time) (Report, error) {
	var rep Report
	dir := repoDir
	if _, err := os.Stat(filepath.Join(repoDir, MarkerFile)); err == nil {
		dir = filepath.Join(repoDir, RepositoryDir)
	}
	if _, err := os.Stat(filepath.Join(dir, "root.json")); err != nil {
		return rep, fmt.Errorf("%w: no root.json in %s: point --path at an orbitctl repository", ErrNotRepository, dir)
	}
	problem := func(format string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...)) }

	root, err := new(metadata.Metadata[metadata.RootType]).FromBytes(trustedRoot)
	if err != nil {
		return rep, fmt.Errorf("parse trusted root: %w (pass the root.json your clients ship with)", err)
	}
	// Walk N.root.json forward from the trusted version.
	for {
		next := root.Signed.Version + 1
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%d.root.json", next)))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return rep, fmt.Errorf("read %d.root.json: %w", next, err)
		}
		nr, err := new(metadata.Metadata[metadata.RootType]).FromBytes(b)
		if err != nil {
			problem("%d.root.json: %v", next, err)
			break
		}
		oldOK := checkSigs(&rep, RoleRoot, root, nr, nr.Signed.Version, nr.Signed.Expires, now, false)
		newOK := checkSigs(&rep, RoleRoot, nr, nr, nr.Signed.Version, nr.Signed.Expires, now, false)
		if !oldOK || !newOK {
			problem("%d.root.json is not signed by a threshold of both the previous and its own root keys", next)
			break
		}
		if nr.Signed.Version != next {
			problem("%d.root.json has version %d", next, nr.Signed.Version)
			break
		}
		root = nr
	}
	rep.Roles = nil // the walk's intermediate checks are not reported
	rep.ConsistentSnapshot = root.Signed.ConsistentSnapshot
	if b, err := os.ReadFile(filepath.Join(dir, "root.json")); err != nil {
		problem("root.json: %v", err)
	} else if cur, err := new(metadata.Metadata[metadata.RootType]).FromBytes(b); err != nil {
		problem("root.json: %v", err)
	} else if cur.Signed.Version != root.Signed.Version {
		problem("root.json is version %d but the newest N.root.json is %d", cur.Signed.Version, root.Signed.Version)
	}
	checkSigs(&rep, RoleRoot, root, root, root.Signed.Version, root.Signed.Expires, now, true)

	ts, _, err := readMeta[metadata.TimestampType](dir, "timestamp.json")
	if err != nil {
		problem("%v", err)
		return finish(rep)
	}
	checkSigs(&rep, RoleTimestamp, root, ts, ts.Signed.Version, ts.Signed.Expires, now, true)

	snapMeta := ts.Signed.Meta["snapshot.json"]
	if snapMeta == nil {
		problem("timestamp.json does not list snapshot.json")
		return finish(rep)
	}
	snap, ok := readListed[metadata.SnapshotType](&rep, dir, "snapshot", snapMeta, root.Signed.ConsistentSnapshot)
	if !ok {
		return finish(rep)
	}
	checkSigs(&rep, RoleSnapshot, root, snap, snap.Signed.Version, snap.Signed.Expires, now, true)

	tMeta := snap.Signed.Meta["targets.json"]
	if tMeta == nil {
		problem("snapshot.json does not list targets.json")
		return finish(rep)
	}
	targets, ok := readListed[metadata.TargetsType](&rep, dir, "targets", tMeta, root.Signed.ConsistentSnapshot)
	if !ok {
		return finish(rep)
	}
	checkSigs(&rep, RoleTargets, root, targets, targets.Signed.Version, targets.Signed.Expires, now, true)

	for _, name := range sortedKeys(targets.Signed.Targets) {
		tf := targets.Signed.Targets[name]
		tc := TargetCheck{Target: name, Length: tf.Length, OK: true}
		var files []string
		if root.Signed.ConsistentSnapshot {
			d, base := path.Split(name)
			for _, alg := range sortedKeys(tf.Hashes) {
				files = append(files, d+hex.EncodeToString(tf.Hashes[alg])+"."+base)
			}
		} else {
			files = []string{name}
		}
		for _, f := range files {
			if err := checkTargetFile(filepath.Join(dir, TargetsDir, filepath.FromSlash(f)), tf); err != nil {
				tc.OK = false
				tc.Problem = fmt.Sprintf("%s: %v", f, err)
				problem("target %s", tc.Problem)
				break
			}
		}
		rep.Targets = append(rep.Targets, tc)
	}
	return finish(rep)
}

func finish(rep Report) (Report, error) {
	rep.OK = len(rep.Problems) == 0
	if !rep.OK {
		return rep, fmt.Errorf("%w: %d problem(s), first: %s", ErrVerifyFailed, len(rep.Problems), rep.Problems[0])
	}
	return rep, nil
}

func readMeta[T metadata.Roles](dir, name string) (*metadata.Metadata[T], []byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	m, err := new(metadata.Metadata[T]).FromBytes(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, b, nil
}

// readListed reads role's file as a client would (N.role.json with
// consistent snapshots) and checks it against the listing one level up.
func readListed[T metadata.Roles](rep *Report, dir, role string, listed *metadata.MetaFiles, consistent bool) (*metadata.Metadata[T], bool) {
	name := role + ".json"
	if consistent {
		name = fmt.Sprintf("%d.%s.json", listed.Version, role)
	}
	m, b, err := readMeta[T](dir, name)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
		return nil, false
	}
	if err := listed.VerifyLengthHashes(b); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s does not match the length/hashes listed for it: %v", name, err))
		return nil, false
	}
	if !consistent {
		// Unversioned files must still be the version listed.
		var v int64
		switch x := any(m).(type) {
		case *metadata.Metadata[metadata.SnapshotType]:
			v = x.Signed.Version
		case *metadata.Metadata[metadata.TargetsType]:
			v = x.Signed.Version
		}
		if v != listed.Version {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s is version %d but version %d is listed", name, v, listed.Version))
			return nil, false
		}
	}
	return m, true
}

// checkSigs counts valid signatures on m by role's keys in root and records
// a RoleCheck (when record) and any problem.
func checkSigs[T metadata.Roles](rep *Report, role string, root *metadata.Metadata[metadata.RootType], m *metadata.Metadata[T], version int64, expires, now time.Time, record bool) bool {
	rr := root.Signed.Roles[role]
	rc := RoleCheck{Role: role, Version: version, Expires: expires, Expired: !now.Before(expires)}
	if rr != nil {
		rc.Threshold = rr.Threshold
		payload, err := cjson.EncodeCanonical(m.Signed)
		if err == nil {
			seen := map[string]bool{}
			for _, s := range m.Signatures {
				if seen[s.KeyID] || !slices.Contains(rr.KeyIDs, s.KeyID) {
					continue
				}
				k := root.Signed.Keys[s.KeyID]
				if k == nil || k.Type != metadata.KeyTypeEd25519 {
					continue
				}
				pub, err := hex.DecodeString(k.Value.PublicKey)
				if err != nil || len(pub) != ed25519.PublicKeySize {
					continue
				}
				if ed25519.Verify(pub, payload, s.Signature) {
					seen[s.KeyID] = true
					rc.Signatures++
				}
			}
		}
	}
	sigOK := rr != nil && rc.Signatures >= rr.Threshold && rr.Threshold > 0
	// Cross-check with the library the clients use.
	if sigOK && root.VerifyDelegate(role, m) != nil {
		sigOK = false
	}
	rc.OK = sigOK && !rc.Expired
	if record {
		rep.Roles = append(rep.Roles, rc)
		if !sigOK {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %d valid signature(s), threshold %d", role, rc.Signatures, rc.Threshold))
		}
		if rc.Expired {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s expired on %s", role, expires.Format(time.RFC3339)))
		}
	}
	return sigOK
}

func checkTargetFile(p string, tf *metadata.TargetFiles) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	hs := map[string]hash.Hash{}
	var ws []io.Writer
	for alg := range tf.Hashes {
		switch alg {
		case "sha256":
			hs[alg] = sha256.New()
		case "sha512":
			hs[alg] = sha512.New()
		default:
			return fmt.Errorf("unsupported hash algorithm %q", alg)
		}
		ws = append(ws, hs[alg])
	}
	n, err := io.Copy(io.MultiWriter(ws...), f)
	if err != nil {
		return err
	}
	if n != tf.Length {
		return fmt.Errorf("length %d, want %d", n, tf.Length)
	}
	for alg, h := range hs {
		if !bytes.Equal(h.Sum(nil), tf.Hashes[alg]) {
			return fmt.Errorf("%s hash mismatch", alg)
		}
	}
	return nil
}
