package repo

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore records uploads in order.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	cache   map[string]string
	order   []string
	failAt  int // fail the failAt-th Put (1-based); 0 never
	puts    int
}

func (m *memStore) Put(ctx context.Context, key string, body io.ReadSeeker, size int64, ct, cc string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	if m.failAt > 0 && m.puts == m.failAt {
		return errors.New("injected upload failure")
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if int64(len(b)) != size {
		return errors.New("size mismatch")
	}
	if m.objects == nil {
		m.objects, m.cache = map[string][]byte{}, map[string]string{}
	}
	m.objects[key] = b
	m.cache[key] = cc
	m.order = append(m.order, key)
	return nil
}

func (m *memStore) Stat(ctx context.Context, key string) (int64, string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return 0, "", false, nil
	}
	s := md5.Sum(b)
	return int64(len(b)), hex.EncodeToString(s[:]), true, nil
}

func TestPublishOrderAndSkip(t *testing.T) {
	t.Parallel()
	for _, consistent := range []bool{false, true} {
		f := newFixture(t, consistent)
		r := f.open(t)
		bin, _ := randomFile(t, t.TempDir(), "orbit", 3000)
		if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.0.0", Tags: []string{"stable", "1"}}); err != nil {
			t.Fatal(err)
		}
		if err := r.Rotate(RoleRoot); err != nil {
			t.Fatal(err)
		}
		var st memStore
		res, err := r.Publish(context.Background(), &st, PublishOptions{SkipUnchanged: true})
		if err != nil {
			t.Fatal(err)
		}
		rank := func(k string) int {
			switch {
			case strings.HasPrefix(k, "targets/"):
				return 0
			case versionedMetaRe.MatchString(k):
				return 1
			case k == "root.json":
				return 2
			case k == "targets.json":
				return 3
			case k == "snapshot.json":
				return 4
			case k == "timestamp.json":
				return 6
			}
			t.Fatalf("unexpected object %s", k)
			return -1
		}
		for i := 1; i < len(st.order); i++ {
			if rank(st.order[i-1]) > rank(st.order[i]) {
				t.Fatalf("consistent=%v: %s uploaded before %s: %v", consistent, st.order[i-1], st.order[i], st.order)
			}
		}
		if st.order[len(st.order)-1] != "timestamp.json" || res.Uploaded != len(st.order) {
			t.Fatalf("order %v, result %+v", st.order, res)
		}
		for k, cc := range st.cache {
			want := CacheShort
			switch {
			case strings.HasPrefix(k, "targets/") && consistent:
				want = CacheImmutable
			case strings.HasPrefix(k, "targets/"):
				want = CacheNoCache
			case versionedMetaRe.MatchString(k):
				want = CacheImmutable
			}
			if cc != want {
				t.Errorf("%s: Cache-Control %q, want %q", k, cc, want)
			}
		}
		// Nothing changed: everything is skipped.
		res, err = r.Publish(context.Background(), &st, PublishOptions{SkipUnchanged: true})
		if err != nil || res.Uploaded != 0 || res.Skipped != len(st.objects) {
			t.Fatalf("republish: %+v %v", res, err)
		}
		// A failure stops the upload and says so.
		if err := r.Timestamp(); err != nil {
			t.Fatal(err)
		}
		st.failAt = st.puts + 1
		if _, err := r.Publish(context.Background(), &st, PublishOptions{SkipUnchanged: true}); err == nil || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("publish with failing store: %v", err)
		}
	}
}

// A repository clients would refuse (here an expired timestamp) is never
// uploaded; after `timestamp` it is.
func TestPublishRefusesWhatClientsWouldRefuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	r := f.open(t)
	f.clk.Advance(15 * 24 * time.Hour) // past the 14-day timestamp
	var st memStore
	_, err := r.Publish(context.Background(), &st, PublishOptions{})
	if !errors.Is(err, ErrVerifyFailed) || !strings.Contains(err.Error(), "orbitctl updates timestamp") {
		t.Fatalf("Publish of an expired timestamp = %v, want a refusal naming the fix", err)
	}
	if len(st.order) != 0 {
		t.Fatalf("uploaded %v before refusing", st.order)
	}
	if err := r.Timestamp(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(context.Background(), &st, PublishOptions{}); err != nil {
		t.Fatalf("Publish after timestamp: %v", err)
	}
	if st.order[len(st.order)-1] != "timestamp.json" {
		t.Fatalf("timestamp.json not last: %v", st.order)
	}
}
