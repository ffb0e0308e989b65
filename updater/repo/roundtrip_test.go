package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestRoundTripV2ClientFollowsRotations(t *testing.T) {
	t.Parallel()
	for _, consistent := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "consistent"}[consistent], func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, consistent)
			srv := serve(t, f.dir)
			trusted := f.rootJSON(t)
			r := f.open(t)
			ctx := context.Background()

			bin, want := randomFile(t, t.TempDir(), "orbit-build", 64<<10)
			if err := r.AddTarget(ctx, AddTarget{File: bin, Name: "orbit", Platform: "linux", Version: "1.2.3", Tags: []string{"stable", "1.2", "1"}, FileName: "orbit"}); err != nil {
				t.Fatalf("AddTarget: %v", err)
			}
			client := newV2Client(t, srv.URL, trusted)
			for _, name := range []string{"orbit/linux/stable/orbit", "orbit/linux/1.2/orbit", "orbit/linux/1/orbit"} {
				got, info := client.download(t, name)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: downloaded bytes differ", name)
				}
				var c TargetCustom
				if err := json.Unmarshal(*info.Custom, &c); err != nil || c.Version != "1.2.3" {
					t.Fatalf("%s: custom = %s, %v", name, *info.Custom, err)
				}
				if len(info.Hashes["sha512"]) != 64 || len(info.Hashes["sha256"]) != 32 {
					t.Fatalf("%s: hashes = %v", name, info.Hashes)
				}
			}

			// A second client that only ever saw the first root, and the
			// first client with its cache, both follow every rotation.
			stale := newV2Client(t, srv.URL, trusted)
			for i, role := range []string{RoleRoot, RoleTargets, RoleSnapshot, RoleTimestamp} {
				before := f.rootJSON(t)
				if err := r.Rotate(role); err != nil {
					t.Fatalf("Rotate(%s): %v", role, err)
				}
				if bytes.Equal(before, f.rootJSON(t)) {
					t.Fatalf("Rotate(%s) did not change root.json", role)
				}
				bin2, want2 := randomFile(t, t.TempDir(), "orbit", 1000+i)
				if err := r.AddTarget(ctx, AddTarget{File: bin2, Name: "orbit", Platform: "linux", Version: "1.3." + string(rune('0'+i)), Tags: []string{"edge"}}); err != nil {
					t.Fatalf("AddTarget after rotating %s: %v", role, err)
				}
				for _, c := range []*v2Client{client, stale} {
					got, _ := c.download(t, "orbit/linux/edge/orbit")
					if !bytes.Equal(got, want2) {
						t.Fatalf("after rotating %s: edge bytes differ", role)
					}
					got, _ = c.download(t, "orbit/linux/stable/orbit")
					if !bytes.Equal(got, want) {
						t.Fatalf("after rotating %s: stable bytes differ", role)
					}
				}
				if _, err := Verify(f.dir, trusted, f.clk.Now()); err != nil {
					t.Fatalf("Verify after rotating %s: %v", role, err)
				}
			}
		})
	}
}

func TestTimestampKeepsClientsWorkingPastOldExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	srv := serve(t, f.dir)
	r := f.open(t)
	bin, _ := randomFile(t, t.TempDir(), "osqueryd", 4096)
	if err := r.AddTarget(context.Background(), AddTarget{File: bin, Name: "osqueryd", Platform: "macos-app", Version: "5.12.1", Tags: []string{"stable"}, FileName: "osqueryd.app.tar.gz"}); err != nil {
		t.Fatal(err)
	}
	client := newV2Client(t, srv.URL, f.rootJSON(t))
	if _, err := client.refresh(t, time.Time{}); err != nil {
		t.Fatalf("refresh now: %v", err)
	}
	later := f.clk.Now().Add(20 * 24 * time.Hour) // past the 14-day timestamp
	if _, err := client.refresh(t, later); err == nil {
		t.Fatal("refresh 20 days later succeeded with the old timestamp; want expiry error")
	}
	before := treeBytes(t, f.dir)
	f.clk.Advance(19 * 24 * time.Hour)
	if err := r.Timestamp(); err != nil {
		t.Fatalf("Timestamp: %v", err)
	}
	after := treeBytes(t, f.dir)
	for k := range after {
		if k != "repository/timestamp.json" && !bytes.Equal(before[k], after[k]) {
			t.Errorf("Timestamp changed %s", k)
		}
	}
	if _, err := client.refresh(t, later); err != nil {
		t.Fatalf("refresh 20 days later after Timestamp: %v", err)
	}
}
