package repo

import (
	"sort"
	"strings"
	"time"
)

// ExpiryWarning is how close to expiry a role is flagged in Status.
const ExpiryWarning = 7 * 24 * time.Hour

// Status describes a repository for `orbitctl updates status`.
type Status struct {
	Dir                string         `json:"dir"`
	ConsistentSnapshot bool           `json:"consistent_snapshot"`
	Roles              []RoleStatus   `json:"roles"`
	Targets            []TargetStatus `json:"targets"`
}

// RoleStatus is one role's version and expiry.
type RoleStatus struct {
	Role        string    `json:"role"`
	Version     int64     `json:"version"`
	Expires     time.Time `json:"expires"`
	Expired     bool      `json:"expired"`
	ExpiresSoon bool      `json:"expires_soon"` // within ExpiryWarning
	Keys        int       `json:"keys"`
	Threshold   int       `json:"threshold"`
}

// TargetStatus is one published target name.
type TargetStatus struct {
	Target    string `json:"target"`
	Component string `json:"component"`
	Platform  string `json:"platform"`
	Channel   string `json:"channel"`
	File      string `json:"file"`
	Version   string `json:"version"`
	Length    int64  `json:"length"`
	SHA256    string `json:"sha256"`
	SHA512    string `json:"sha512"`
}

// SplitTargetPath splits <component>/<platform>/<channel>/<file>; the
// component may itself contain '/' (extensions/<name>).
func SplitTargetPath(p string) (component, platform, channel, file string, ok bool) {
	parts := strings.Split(p, "/")
	if len(parts) < 4 {
		return "", "", "", "", false
	}
	n := len(parts)
	return strings.Join(parts[:n-3], "/"), parts[n-3], parts[n-2], parts[n-1], true
}

// Status reports roles and targets.
func (r *Repo) Status() (Status, error) {
	st, err := r.load()
	if err != nil {
		return Status{}, err
	}
	now := r.opts.Clock.Now()
	s := Status{Dir: r.dir, ConsistentSnapshot: r.consistent}
	add := func(role string, version int64, expires time.Time) {
		rr := rootRole(st.root, role)
		s.Roles = append(s.Roles, RoleStatus{
			Role: role, Version: version, Expires: expires,
			Expired:     !now.Before(expires),
			ExpiresSoon: expires.Sub(now) < ExpiryWarning,
			Keys:        len(rr.KeyIDs), Threshold: rr.Threshold,
		})
	}
	add(RoleRoot, st.root.Signed.Version, st.root.Signed.Expires)
	add(RoleTargets, st.targets.Signed.Version, st.targets.Signed.Expires)
	add(RoleSnapshot, st.snapshot.Signed.Version, st.snapshot.Signed.Expires)
	add(RoleTimestamp, st.timestamp.Signed.Version, st.timestamp.Signed.Expires)
	for _, name := range sortedKeys(st.targets.Signed.Targets) {
		tf := st.targets.Signed.Targets[name]
		ts := TargetStatus{Target: name, Length: tf.Length,
			SHA256: tf.Hashes["sha256"].String(), SHA512: tf.Hashes["sha512"].String()}
		ts.Component, ts.Platform, ts.Channel, ts.File, _ = SplitTargetPath(name)
		if c, err := customOf(tf.Custom); err == nil {
			ts.Version = c.Version
		}
		s.Targets = append(s.Targets, ts)
	}
	sort.SliceStable(s.Targets, func(i, j int) bool {
		a, b := s.Targets[i], s.Targets[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		if a.Platform != b.Platform {
			return a.Platform < b.Platform
		}
		return a.Channel < b.Channel
	})
	return s, nil
}
